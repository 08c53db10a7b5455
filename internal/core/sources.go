package core

import (
	"bufio"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Source names where a connection setting came from.
type Source struct {
	Origin string // "DSN", "service file", "PGSSLMODE" (the variable), or "default"
	Value  string // the value there ("" for defaults); never a password
}

// sourceKeys are the settings whose origin check reports.
var sourceKeys = map[string]string{
	"host": "PGHOST", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
	"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
	"sslnegotiation": "PGSSLNEGOTIATION", "service": "PGSERVICE",
}

// Sources tells, for each connection setting that decides security, where
// the driver takes it from: the DSN, the service file, a PG* variable or
// the default. It follows each driver's precedence: pgx lets the DSN beat
// the service file, lib/pq the reverse; duplicate keys resolve as each
// driver resolves them. lookup reads the environment (os.LookupEnv).
func Sources(driver, dsn string, lookup func(string) (string, bool)) map[string]Source {
	fromDSN := dsnSettings(driver, dsn)
	fromEnv := map[string]string{}
	for key, env := range sourceKeys {
		if v, ok := lookup(env); ok && (v != "" || driver == DriverPQ) {
			fromEnv[key] = v
		}
	}
	service, serviceOrigin := fromDSN["service"], "DSN"
	if service == "" {
		service, serviceOrigin = fromEnv["service"], "PGSERVICE"
	}
	var fromService map[string]string
	if service != "" {
		fromService = serviceSettings(serviceFile(driver, fromDSN, lookup), service)
	}
	out := map[string]Source{}
	for key, env := range sourceKeys {
		dv, inDSN := fromDSN[key]
		sv, inService := fromService[key]
		ev, inEnv := fromEnv[key]
		switch {
		case driver == DriverPQ && inService:
			out[key] = Source{"service file [" + service + "]", sv}
		case inDSN:
			out[key] = Source{"DSN", dv}
		case inService:
			out[key] = Source{"service file [" + service + "]", sv}
		case inEnv:
			out[key] = Source{env, ev}
		default:
			out[key] = Source{Origin: "default"}
		}
	}
	if service != "" {
		out["service"] = Source{serviceOrigin, service}
	}
	return out
}

// dsnSettings reads the DSN's own keys, resolving duplicates as driver does.
func dsnSettings(driver, dsn string) map[string]string {
	out := map[string]string{}
	if rest, ok := cutScheme(dsn); ok {
		u, err := url.Parse(dsn)
		if err != nil {
			return out
		}
		_ = rest
		if u.Host != "" {
			hosts, ports := []string{}, []string{}
			for _, hp := range strings.Split(u.Host, ",") {
				h, p, err := net.SplitHostPort(hp)
				if err != nil {
					h, p = hp, ""
				}
				hosts, ports = append(hosts, strings.Trim(h, "[]")), append(ports, p)
			}
			out["host"] = strings.Join(hosts, ",")
			if strings.Join(ports, "") != "" {
				out["port"] = strings.Join(ports, ",")
			}
		}
		if u.User != nil && u.User.Username() != "" {
			out["user"] = u.User.Username()
		}
		if p := strings.TrimPrefix(u.Path, "/"); p != "" {
			out["dbname"] = p
		}
		for k, vs := range u.Query() {
			if len(vs) == 0 {
				continue
			}
			if k == "database" {
				k = "dbname"
			}
			if driver == DriverPQ {
				out[k] = vs[0] // lib/pq: the first of a URL's duplicates
			} else {
				out[k] = vs[len(vs)-1]
			}
		}
		return out
	}
	pairs, ok := splitKeywordValue(dsn)
	if !ok {
		return out
	}
	for _, kv := range pairs {
		k := kv[0]
		if k == "database" {
			k = "dbname"
		}
		out[k] = kv[1] // the last of duplicates, in both drivers
	}
	return out
}

func serviceFile(driver string, fromDSN map[string]string, lookup func(string) (string, bool)) string {
	if f := fromDSN["servicefile"]; f != "" && driver == DriverPgx {
		return f
	}
	if f, ok := lookup("PGSERVICEFILE"); ok && f != "" {
		return f
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".pg_service.conf")
}

// serviceSettings reads one section of a pg_service.conf.
func serviceSettings(path, name string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			in = strings.TrimSuffix(strings.TrimPrefix(line, "["), "]") == name
		case in:
			k, v, ok := strings.Cut(line, "=")
			if ok {
				k = strings.TrimSpace(k)
				if k == "database" {
					k = "dbname"
				}
				out[k] = strings.TrimSpace(v)
			}
		}
	}
	return out
}
