package securepg_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/securepg/securepg"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
	pglab "github.com/securepg/securepg/lab"
)

// outcome is what one backend must do with a case.
type outcome struct {
	open   string            // "" connects; a reason code: refused by sql.Open; "parse": the DSN is rejected
	conn   string            // "" connects; a reason code: refused when connecting
	tls    uint16            // negotiated TLS version, 0 for plaintext
	verify core.Verification // verification achieved
	unix   bool              // connected through a unix socket
	// terminated: a peer in between ends TLS and talks plaintext to the
	// server, like a pooler, so pg_stat_ssl describes only its leg.
	terminated bool
}

func refused(reason string) outcome { return outcome{open: reason} }
func failed(reason string) outcome  { return outcome{conn: reason} }
func parseErr() outcome             { return outcome{open: "parse"} }
func terminated(o outcome) outcome  { o.terminated = true; return o }
func okPlain() outcome              { return outcome{} }
func okTLS(v uint16, verify core.Verification) outcome {
	return outcome{tls: v, verify: verify}
}

const (
	tls12 = tls.VersionTLS12
	tls13 = tls.VersionTLS13
)

type labCase struct {
	name    string
	dsn     func(l *lab) string
	env     func(t *testing.T, l *lab)
	pgx, pq outcome
}

func both(name string, dsn func(*lab) string, env func(*testing.T, *lab), o outcome) labCase {
	return labCase{name: name, dsn: dsn, env: env, pgx: o, pq: o}
}

func setenv(kv ...string) func(*testing.T, *lab) {
	return func(t *testing.T, _ *lab) {
		for i := 0; i+1 < len(kv); i += 2 {
			t.Setenv(kv[i], kv[i+1])
		}
	}
}

func labCases() []labCase {
	ca := func(l *lab) string { return "sslrootcert=" + l.Certs.CAFile }
	at := func(extra ...string) func(*lab) string {
		return func(l *lab) string { return l.at(l.relay, extra...) }
	}
	atCA := func(extra ...string) func(*lab) string {
		return func(l *lab) string { return l.at(l.relay, append([]string{ca(l)}, extra...)...) }
	}
	via := func(p func(*lab) *pglab.Proxy, extra ...string) func(*lab) string {
		return func(l *lab) string { return l.at(p(l), append([]string{ca(l)}, extra...)...) }
	}
	min := func(m string) func(*testing.T, *lab) { return setenv("SECUREPG_MIN_SSLMODE", m) }
	full13 := okTLS(tls13, core.VerifyFull)

	return []labCase{
		// Every sslmode below and at the default minimum (verify-full).
		both("disable", at("sslmode=disable"), nil, refused(securepg.ReasonTLSDisabled)),
		both("allow", at("sslmode=allow"), nil, refused(securepg.ReasonPlaintextFallback)),
		both("prefer", at("sslmode=prefer"), nil, refused(securepg.ReasonPlaintextFallback)),
		both("require", at("sslmode=require"), nil, refused(securepg.ReasonUnverifiedCertificate)),
		both("verify-ca", atCA("sslmode=verify-ca"), nil, refused(securepg.ReasonUnverifiedHostname)),
		both("verify-full", atCA("sslmode=verify-full"), nil, full13),
		both("verify-full by IP", func(l *lab) string {
			return "host=127.0.0.1 port=" + l.relay.PortString() + " " + l.auth() + " sslmode=verify-full " + ca(l)
		}, nil, full13),
		// No sslmode: pgx means prefer, lib/pq means require; with roots
		// named, securepg applies the policy's minimum instead.
		{name: "no sslmode", dsn: at(), pgx: refused(securepg.ReasonPlaintextFallback), pq: refused(securepg.ReasonUnverifiedCertificate)},
		both("no sslmode with sslrootcert", atCA(), nil, okTLS(tls13, core.VerifyFull)),

		// Each mode at a minimum that allows it.
		both("min disable: disable", at("sslmode=disable"), min("disable"), okPlain()),
		both("min allow: allow", at("sslmode=allow"), min("allow"), okPlain()),
		both("min prefer: prefer", at("sslmode=prefer"), min("prefer"), okTLS(tls13, core.VerifyNone)),
		// Under require, the password goes only through SCRAM with channel
		// binding: pgx binds, lib/pq cannot and is refused.
		{name: "min require: require", dsn: at("sslmode=require"), env: min("require"),
			pgx: okTLS(tls13, core.VerifyNone), pq: refused(securepg.ReasonPasswordUnverifiedServer)},
		both("min require: require, password protection off", at("sslmode=require"),
			setenv("SECUREPG_MIN_SSLMODE", "require", "SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true"), okTLS(tls13, core.VerifyNone)),
		both("min verify-ca: verify-ca", atCA("sslmode=verify-ca"), min("verify-ca"), okTLS(tls13, core.VerifyCA)),
		both("min require: prefer", at("sslmode=prefer"), min("require"), refused(securepg.ReasonPlaintextFallback)),
		both("min verify-ca: require", at("sslmode=require"), min("verify-ca"), refused(securepg.ReasonUnverifiedCertificate)),
		both("require + sslrootcert is verify-ca", atCA("sslmode=require"), min("verify-ca"), okTLS(tls13, core.VerifyCA)),
		both("require + sslrootcert under the default", atCA("sslmode=require"), nil, refused(securepg.ReasonUnverifiedHostname)),

		// PGSSLMODE and friends, weaker and stronger than the DSN.
		both("PGSSLMODE=prefer, no sslmode", atCA(), setenv("PGSSLMODE", "prefer"), refused(securepg.ReasonPlaintextFallback)),
		both("PGSSLMODE=verify-full + PGSSLROOTCERT", at(), func(t *testing.T, l *lab) {
			t.Setenv("PGSSLMODE", "verify-full")
			t.Setenv("PGSSLROOTCERT", l.Certs.CAFile)
		}, full13),
		both("PGSSLMODE=disable under a verify-full DSN", atCA("sslmode=verify-full"), setenv("PGSSLMODE", "disable"), full13),
		both("PGSSLMODE=verify-full under a prefer DSN", atCA("sslmode=prefer"), setenv("PGSSLMODE", "verify-full"), refused(securepg.ReasonPlaintextFallback)),
		both("PGHOST and PGPORT", func(l *lab) string { return l.auth() + " sslmode=verify-full " + ca(l) }, func(t *testing.T, l *lab) {
			t.Setenv("PGHOST", "localhost")
			t.Setenv("PGPORT", l.relay.PortString())
		}, full13),

		// Duplicate keys: both take the last in keyword/value form; in URLs
		// pgx takes the last and lib/pq the first.
		both("duplicate sslmode, weak last", atCA("sslmode=verify-full", "sslmode=disable"), nil, refused(securepg.ReasonTLSDisabled)),
		both("duplicate sslmode, weak first", atCA("sslmode=disable", "sslmode=verify-full"), nil, full13),
		{name: "URL duplicate sslmode, weak last",
			dsn: func(l *lab) string {
				return l.url(l.relay, "sslrootcert="+l.Certs.CAFile+"&sslmode=verify-full&sslmode=disable")
			},
			pgx: refused(securepg.ReasonTLSDisabled), pq: full13},
		{name: "URL duplicate sslmode, weak first",
			dsn: func(l *lab) string {
				return l.url(l.relay, "sslrootcert="+l.Certs.CAFile+"&sslmode=disable&sslmode=verify-full")
			},
			pgx: full13, pq: refused(securepg.ReasonTLSDisabled)},
		both("URL-encoded key", func(l *lab) string {
			return l.url(l.relay, "sslrootcert="+l.Certs.CAFile+"&ssl%6Dode=disable")
		}, nil, refused(securepg.ReasonTLSDisabled)),
		{name: "URL-encoded duplicate key",
			dsn: func(l *lab) string {
				return l.url(l.relay, "sslrootcert="+l.Certs.CAFile+"&sslmode=verify-full&ssl%6Dode=disable")
			},
			pgx: refused(securepg.ReasonTLSDisabled), pq: full13},
		both("URL-encoded value", func(l *lab) string {
			return l.url(l.relay, "sslrootcert="+l.Certs.CAFile+"&sslmode=verify%2Dfull")
		}, nil, full13),
		both("postgresql:// scheme", func(l *lab) string {
			return "postgresql://" + l.User + ":" + l.Password + "@localhost:" + l.relay.PortString() + "/" + l.Database + "?sslmode=verify-full&sslrootcert=" + l.Certs.CAFile
		}, nil, full13),
		both("quoted values", func(l *lab) string {
			return l.at(l.relay, "sslmode='verify-full'", "sslrootcert='"+l.Certs.CAFile+"'")
		}, nil, full13),
		both("quoted weak value with spaces around =", atCA("sslmode = 'disable'"), nil, refused(securepg.ReasonTLSDisabled)),

		// Service files.
		both("service= names a weak service", func(l *lab) string { return "service=weak " + l.auth() }, func(t *testing.T, l *lab) {
			writeService(t, "[weak]\nhost=localhost\nport="+l.relay.PortString()+"\nsslmode=disable\n")
		}, refused(securepg.ReasonTLSDisabled)),
		both("PGSERVICE names a weak service", func(l *lab) string { return l.auth() }, func(t *testing.T, l *lab) {
			writeService(t, "[weak]\nhost=localhost\nport="+l.relay.PortString()+"\nsslmode=prefer\n")
			t.Setenv("PGSERVICE", "weak")
		}, refused(securepg.ReasonPlaintextFallback)),
		both("service with verify-full", func(l *lab) string { return "service=good " + l.auth() }, func(t *testing.T, l *lab) {
			writeService(t, "[good]\nhost=localhost\nport="+l.relay.PortString()+"\nsslmode=verify-full\nsslrootcert="+l.Certs.CAFile+"\n")
		}, full13),
		// libpq and pgx: the DSN beats the service file. lib/pq: the service file wins.
		{name: "service file tries to override the DSN",
			dsn: func(l *lab) string { return "service=sneaky " + l.at(l.relay, "sslmode=verify-full", ca(l)) },
			env: func(t *testing.T, l *lab) { writeService(t, "[sneaky]\nsslmode=disable\n") },
			pgx: full13, pq: refused(securepg.ReasonTLSDisabled)},

		// Unix sockets.
		both("unix socket first in a multi-host list", func(l *lab) string {
			return "host=" + l.SocketDir + ",localhost port=" + itoa(l.Port) + "," + l.relay.PortString() + " " + l.auth() + " sslmode=verify-full " + ca(l)
		}, nil, refused(securepg.ReasonUnixSocket)),
		// Allowed, the socket is used. (lib/pq alone would turn TLS off for
		// the TCP host too; securepg does TLS itself and does not.)
		both("unix socket first, sockets allowed", func(l *lab) string {
			return "host=" + l.SocketDir + ",localhost port=" + itoa(l.Port) + "," + l.relay.PortString() + " " + l.auth() + " sslmode=verify-full " + ca(l)
		}, setenv("SECUREPG_ALLOW_UNIX_SOCKET", "true"), outcome{unix: true}),
		both("unix socket only, not allowed", func(l *lab) string { return "host=" + l.SocketDir + " port=" + itoa(l.Port) + " " + l.auth() }, nil, refused(securepg.ReasonUnixSocket)),
		// No host anywhere: pgx dials a unix socket, lib/pq localhost.
		{name: "no host at all",
			dsn: func(l *lab) string { return l.auth() + " sslmode=verify-full " + ca(l) },
			env: func(t *testing.T, l *lab) { t.Setenv("PGPORT", l.relay.PortString()) },
			pgx: refused(securepg.ReasonUnixSocket), pq: full13},

		// sslnegotiation=direct: pgx turns prefer into require and keeps
		// disable plaintext; lib/pq rejects weak modes outright.
		{name: "sslnegotiation=direct with prefer", dsn: at("sslmode=prefer", "sslnegotiation=direct"),
			pgx: refused(securepg.ReasonUnverifiedCertificate), pq: parseErr()},
		{name: "sslnegotiation=direct with disable", dsn: at("sslmode=disable", "sslnegotiation=direct"),
			pgx: refused(securepg.ReasonTLSDisabled), pq: parseErr()},

		// sslrootcert=system: verify-full against the system roots, which do
		// not know the test CA. pgx even overrides sslmode=disable.
		both("sslrootcert=system", at("sslrootcert=system"), nil, failed(securepg.ReasonCertificateUntrusted)),
		{name: "sslrootcert=system over sslmode=disable", dsn: at("sslmode=disable", "sslrootcert=system"),
			pgx: failed(securepg.ReasonCertificateUntrusted), pq: parseErr()},

		// Org-wide settings.
		both("org root CA", at("sslmode=verify-full"), func(t *testing.T, l *lab) {
			t.Setenv("SECUREPG_SSLROOTCERT", l.Certs.CAFile)
		}, full13),
		both("org root CA turns require into verify-ca", at("sslmode=require"), func(t *testing.T, l *lab) {
			t.Setenv("SECUREPG_SSLROOTCERT", l.Certs.CAFile)
			t.Setenv("SECUREPG_MIN_SSLMODE", "verify-ca")
		}, okTLS(tls13, core.VerifyCA)),
		both("DSN sslrootcert beats the org root", func(l *lab) string {
			return l.at(l.relay, "sslmode=verify-full", "sslrootcert="+l.Certs.OtherCAFile)
		}, func(t *testing.T, l *lab) { t.Setenv("SECUREPG_SSLROOTCERT", l.Certs.CAFile) }, failed(securepg.ReasonCertificateUntrusted)),
		both("org client certificate", func(l *lab) string {
			return "host=localhost port=" + l.relay.PortString() + " user=" + pglab.ClientCN + " dbname=" + l.Database + " sslmode=verify-full " + ca(l)
		}, func(t *testing.T, l *lab) {
			t.Setenv("SECUREPG_SSLCERT", l.Certs.Client.CertFile)
			t.Setenv("SECUREPG_SSLKEY", l.Certs.Client.KeyFile)
		}, full13),
		both("TLS 1.3 minimum", atCA("sslmode=verify-full"), setenv("SECUREPG_MIN_TLS_VERSION", "1.3"), full13),
		both("ssl_max_protocol_version below the minimum", atCA("sslmode=verify-full", "ssl_max_protocol_version=TLSv1.2"),
			setenv("SECUREPG_MIN_TLS_VERSION", "1.3"), refused(securepg.ReasonTLSVersionTooLow)),

		// Adversaries on loopback.
		both("TLS 1.2-only peer under a TLS 1.3 minimum", via(func(l *lab) *pglab.Proxy { return l.tls12 }, "sslmode=verify-full"),
			setenv("SECUREPG_MIN_TLS_VERSION", "1.3"), failed(securepg.ReasonTLSVersionTooLow)),
		both("TLS 1.2-only peer under a TLS 1.2 minimum", via(func(l *lab) *pglab.Proxy { return l.tls12 }, "sslmode=verify-full"),
			nil, terminated(okTLS(tls12, core.VerifyFull))),
		both("DSN ssl_min_protocol_version=TLSv1.3 against a TLS 1.2-only peer", via(func(l *lab) *pglab.Proxy { return l.tls12 }, "sslmode=verify-full", "ssl_min_protocol_version=TLSv1.3"),
			nil, failed(securepg.ReasonTLSVersionTooLow)),
		both("stripping proxy", via(func(l *lab) *pglab.Proxy { return l.strip }, "sslmode=verify-full"), nil, failed(securepg.ReasonTLSNotEstablished)),
		both("stripping proxy under require", func(l *lab) string { return l.at(l.strip, "sslmode=require") },
			setenv("SECUREPG_MIN_SSLMODE", "require", "SECUREPG_ALLOW_UNVERIFIED_PASSWORD", "true"), failed(securepg.ReasonTLSNotEstablished)),
		both("self-signed impostor", via(func(l *lab) *pglab.Proxy { return l.selfSigned }, "sslmode=verify-full"), nil, failed(securepg.ReasonCertificateUntrusted)),
		both("self-signed impostor under verify-ca", via(func(l *lab) *pglab.Proxy { return l.selfSigned }, "sslmode=verify-ca"), min("verify-ca"), failed(securepg.ReasonCertificateUntrusted)),
		both("wrong-host impostor", via(func(l *lab) *pglab.Proxy { return l.wrongHost }, "sslmode=verify-full"), nil, failed(securepg.ReasonHostnameMismatch)),
		// verify-ca does not check the host name: that is what it means.
		both("wrong-host impostor under verify-ca", via(func(l *lab) *pglab.Proxy { return l.wrongHost }, "sslmode=verify-ca"), min("verify-ca"), terminated(okTLS(tls13, core.VerifyCA))),
		both("expired impostor", via(func(l *lab) *pglab.Proxy { return l.expired }, "sslmode=verify-full"), nil, failed(securepg.ReasonCertificateExpired)),

		// Audit mode connects anyway.
		both("audit: prefer", at("sslmode=prefer"), setenv("SECUREPG_MODE", "audit"), okTLS(tls13, core.VerifyNone)),
		both("audit: disable", at("sslmode=disable"), setenv("SECUREPG_MODE", "audit"), okPlain()),
	}
}

// TestPolicyAgainstRealServer runs every case of labCases on both
// backends against each server: pg15/pgx/<case>, pg18/pq/<case>, ...
func TestPolicyAgainstRealServer(t *testing.T) {
	cases := labCases()
	if n := len(cases); n < 40 {
		t.Fatalf("only %d cases; the table must keep at least 40", n)
	}
	eachServer(t, func(t *testing.T, l *lab) {
		for _, drv := range []string{"pgx", "pq"} {
			for _, tc := range cases {
				want := tc.pgx
				if drv == "pq" {
					want = tc.pq
				}
				t.Run(drv+"/"+tc.name, func(t *testing.T) {
					isolateEnv(t)
					if tc.env != nil {
						tc.env(t, l)
					}
					runCase(t, l, drv, tc.dsn(l), want)
				})
			}
		}
	})
}

func runCase(t *testing.T, l *lab, drv, dsn string, want outcome) {
	t.Helper()
	before := make([]int64, len(l.proxies))
	for i, p := range l.proxies {
		before[i] = p.Accepted()
	}
	db, err := sql.Open(driverName(drv), dsn)
	if want.open != "" {
		if err == nil {
			db.Close()
			t.Fatalf("sql.Open succeeded, want refusal %q", want.open)
		}
		if want.open == "parse" {
			var de *core.DSNError
			if !errors.As(err, &de) || errors.Is(err, securepg.ErrPolicyViolation) {
				t.Fatalf("err = %v, want a DSN parse error", err)
			}
		} else {
			requireReason(t, err, want.open)
		}
		for i, p := range l.proxies {
			n, err := p.DialsBefore()
			if err != nil {
				t.Fatal(err)
			}
			if n != before[i] {
				t.Fatalf("refused at open, but %d connection(s) reached proxy %d", n-before[i], i)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	db.Close()
	// The same DSN and environment again, with a hook that hears what
	// securepg validated.
	var info hooks.ConnInfo
	c, err := connectorFor(drv, dsn, securepg.WithHooks(hooks.Hooks{AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error {
		info = ci
		return nil
	}}))
	if err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	db = sql.OpenDB(c)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if want.conn != "" {
		if err == nil {
			conn.Close()
			t.Fatalf("connected, want refusal %q", want.conn)
		}
		requireReason(t, err, want.conn)
		return
	}
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close()
	var one int
	if err := conn.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	err = conn.Raw(func(dc any) error {
		f := info
		if want.unix {
			if f.Network != "unix" {
				t.Fatalf("network = %q, want unix", f.Network)
			}
			return nil
		}
		if f.Network != "tcp" {
			t.Fatalf("network = %q, want tcp", f.Network)
		}
		if (want.tls != 0) != f.TLS || f.Version != want.tls && want.tls != 0 || want.tls != 0 && f.Verification != want.verify.String() {
			t.Fatalf("facts: tls=%v version=%s verify=%s; want version %s verify %s",
				f.TLS, core.TLSVersionName(f.Version), f.Verification, core.TLSVersionName(want.tls), want.verify)
		}
		if sc, ok := dc.(*stdlib.Conn); ok {
			// The real TLS state of pgx's socket, not securepg's bookkeeping.
			tc, isTLS := sc.Conn().PgConn().Conn().(*tls.Conn)
			if isTLS != (want.tls != 0) {
				t.Fatalf("pgx socket is %T, want TLS=%v", sc.Conn().PgConn().Conn(), want.tls != 0)
			}
			if isTLS && tc.ConnectionState().Version != want.tls {
				t.Fatalf("pgx negotiated %s", core.TLSVersionName(tc.ConnectionState().Version))
			}
		} else if f.ServerSSL == nil {
			t.Fatal("lib/pq connection without the server's pg_stat_ssl view")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The server's own view, where no TLS-terminating peer is in between.
	if want.terminated {
		return
	}
	var ssl bool
	var version sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &version); err != nil {
		t.Fatal(err)
	}
	if want.tls == tls13 && (!ssl || version.String != "TLSv1.3") {
		t.Fatalf("pg_stat_ssl: ssl=%v version=%q, want TLSv1.3", ssl, version.String)
	}
	if want.tls == 0 && ssl {
		t.Fatal("pg_stat_ssl says TLS, want plaintext")
	}
}

func requireReason(t *testing.T, err error, reason string) {
	t.Helper()
	if !errors.Is(err, securepg.ErrPolicyViolation) {
		t.Fatalf("err = %v, want a policy violation %q", err, reason)
	}
	var pe *securepg.PolicyError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %T %v, not a *PolicyError", err, err)
	}
	if pe.Reason != reason {
		t.Fatalf("reason = %q, want %q (err: %v)", pe.Reason, reason, err)
	}
}
