package core

import (
	"context"
	"path/filepath"

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
// the default, in each driver's precedence (pgx lets the DSN beat the
// service file, lib/pq the reverse). lookup reads the environment.
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
		fromService = serviceSettings(driver, serviceFile(driver, fromDSN, lookup), service)
	}
	out := map[string]Source{}
	for key, env := range sourceKeys {
		dv, inDSN := fromDSN[key]
		sv, inService := fromService[key]
		ev, inEnv := fromEnv[key]
		switch {
		case inService && (driver == DriverPQ || !inDSN):
			out[key] = Source{"service file [" + service + "]", sv}
		case inDSN:
			out[key] = Source{"DSN", dv}
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

// ImplicitSSLMode reports whether the configuration sets no sslmode (or an empty one).
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
	if home := UserHome(driver); home != "" {
		return filepath.Join(home, ".pg_service.conf")
	}
	return ""
}

// serviceSettings reads the section name of the service file at path as
// driver reads it (dbname for database); nil when it cannot.
func serviceSettings(driver, path, name string) map[string]string {
	b, err := ReadRegularFile(context.Background(), path, dsn.MaxServiceFileSize)
	if err != nil {
		return nil
	}
	svc, err := dsn.Service(driver, b, name)
	if err != nil {
		return nil
	}
	out := make(map[string]string, len(svc))
	for k, v := range svc {
		if k == "database" && driver != DriverPQ {
			k = "dbname"
		}
		out[k] = v
	}
	return out
}
