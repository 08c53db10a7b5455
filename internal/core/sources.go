package core

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/securepg/securepg/internal/dsn"
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
	"sslnegotiation": "PGSSLNEGOTIATION", "service": "PGSERVICE", "channel_binding": "PGCHANNELBINDING",
	"connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME", "sslsni": "PGSSLSNI",
}

// Sources tells, for each connection setting that decides security, where
// the driver takes it from: the DSN, the service file, a PG* variable or
// the default. It follows each driver's precedence: pgx lets the DSN beat
// the service file, lib/pq the reverse; duplicate keys resolve as each
// driver resolves them. lookup reads the environment (os.LookupEnv).
func Sources(driver, s string, lookup func(string) (string, bool)) map[string]Source {
	fromDSN := dsnSettings(driver, s)
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

// ImplicitSSLMode reports whether the effective configuration sets no
// sslmode: not in the DSN, PGSSLMODE or a service file (an empty value
// counts as none). securepg then applies the policy's minimum.
func ImplicitSSLMode(src map[string]Source) bool {
	s := src["sslmode"]
	return s.Origin == "default" || s.Value == ""
}

// dsnSettings reads the DSN's own keys exactly as driver does.
func dsnSettings(driver, s string) map[string]string {
	out := map[string]string{}
	for k, v := range dsn.Read(driver, s).Settings {
		if k == "database" {
			k = "dbname"
		}
		out[k] = v
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
	b, err := ReadRegularFile(context.Background(), path, MaxKeyFileSize)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
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
