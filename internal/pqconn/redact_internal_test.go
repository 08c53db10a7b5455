package pqconn

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"unicode"

	"github.com/securepg/securepg/internal/core"

	"github.com/securepg/securepg/lab/labtest"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lib/pq"
)

const marker = "Zq7Secret"

// redactSeeds are DSNs with the marker where a driver reads a secret (or
// would, but for a parse error).
var redactSeeds = []string{
	"password=" + marker + " sslmode=nonsense",
	"password='" + marker + " port=abc",
	"password=" + marker + " port=notaport",
	"host=h password=" + marker + "\\ x port=99999999",
	"postgres://u:" + marker + "@h:badport/db",
	"postgres://u:" + marker + ":x@h/db",
	"postgres://u:sec:" + marker + "@h",
	"postgresql://u:" + marker + "@h/db?sslmode=bogus",
	"postgres://u:" + marker + "@h/db?target_session_attrs=" + marker,
	"postgres://u:" + marker + "@[::1/db",
	"postgres://u:" + marker + "@h/db?port=" + marker,
	"password=" + marker + " target_session_attrs=" + marker,
	"password = '" + marker + "' channel_binding=" + marker,
	"user=u password=" + marker + " connect_timeout=" + marker,
	"sslpassword=" + marker + " sslmode=what",
	"postgres://u:%5A" + marker[1:] + "@h:x/db",
	// An empty value swallows the next setting.
	"host= password=" + marker + " sslmode=disable",
	"user= password=" + marker,
	"dbname= password=" + marker,
	"target_session_attrs= password=" + marker,
	"min_protocol_version= password=" + marker,
	// lib/pq splits on any Unicode space, pgx on ASCII ones.
	"host=db password=" + marker + "\u00a0sslmode=disable",
	"host=db password=" + marker + "\u2003port=x",
	// pgx keeps a non-ASCII space in a value, where lib/pq splits: the
	// password is folded into pgx's user name, database or host.
	"user=app\u00a0password\u00a0=\u00a0" + marker,
	"user=app\u2003password=" + marker + " host=db",
	"dbname=app\u3000password=" + marker,
	"host=db\u0085password=" + marker,
	"user=app\u00a0sslpassword=" + marker,
	"user=app \u00a0password=" + marker,
	"password\u00a0=" + marker,
	"password=\u00a0" + marker,
	// URL query keys, escaped.
	"postgres://db/app?pass%77ord=" + marker + "&port=x",
	"postgres://db/app?password%20=" + marker + "&port=x",
	// A '/' in a URL's password.
	"postgres://u:12/" + marker + "@db/app",
	"postgres://u:ab/" + marker + "@db/app",
	// Key material.
	"host=db sslinline=true sslkey='-----BEGIN PRIVATE KEY-----\n" + marker + "\n-----END PRIVATE KEY-----' sslcert=x",
	"host=db sslkey='-----BEGIN PRIVATE KEY-----\n" + marker + "\n-----END PRIVATE KEY-----' sslcert=/nonexistent",
	"host=db sslrootcert='-----BEGIN CERTIFICATE-----\n" + marker + "\n-----END CERTIFICATE-----' sslmode=verify-full",
	// A password the parser did not finish reading.
	"password=sec " + marker + " x=1",
	"password=" + marker + "\\",
}

func prepare(drv, dsn string) (core.Plan, error) {
	if drv == core.DriverPgx {
		_, plan, err := core.PreparePgx(dsn, core.DefaultPolicy())
		return plan, err
	}
	_, plan, err := PreparePQ(dsn, core.DefaultPolicy())
	return plan, err
}

// shows reports where the marker appears in what securepg makes of dsn:
// its error (every rendering), its redacted DSN, and the plan's host,
// user and database names.
func shows(dsn string) string {
	for _, drv := range []string{core.DriverPgx, core.DriverPQ} {
		if r := core.RedactDSN(drv, dsn, parser(drv)); strings.Contains(r, marker) || strings.Contains(r, marker[1:]) {
			return drv + " RedactDSN: " + r
		}
		plan, err := prepare(drv, dsn)
		if err != nil {
			for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
				if strings.Contains(s, marker) || strings.Contains(s, marker[1:]) {
					return drv + " error: " + s
				}
			}
			continue
		}
		if drv == core.DriverPgx {
			if where := pgxConnectErrorShows(dsn); where != "" {
				return where
			}
		}
		fields := []string{plan.User, plan.Database}
		for _, t := range plan.Targets {
			fields = append(fields, t.Host, t.Hostaddr, t.RootCA, t.ClientCert, t.Addr())
		}
		for _, f := range fields {
			if strings.Contains(f, marker) || strings.Contains(f, marker[1:]) {
				return drv + " plan: " + f
			}
		}
	}
	return ""
}

// pgxConnectErrorShows reports the marker in pgx's connect error for dsn
// (which prints the user and database it parsed) as securepg returns it:
// escaped and redacted with the DSN's secrets.
func pgxConnectErrorShows(dsn string) string {
	cc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	raw := errors.New("failed to connect to `user=" + cc.User + " database=" + cc.Database + "`: " + cc.Host + ": dial error")
	if s := core.EscapeError(raw, core.ErrorSecrets(dsn, "")).Error(); strings.Contains(s, marker) || strings.Contains(s, marker[1:]) {
		return "pgx connect error: " + s
	}
	return ""
}

func TestParseErrorsCarryNoPassword(t *testing.T) {
	labtest.ClearPG(t)
	for _, dsn := range redactSeeds {
		if where := shows(dsn); where != "" {
			t.Errorf("%q: %s", dsn, where)
		}
	}
}

// TestNoOverRedaction: a value that holds no secret may be shown.
func TestNoOverRedaction(t *testing.T) {
	labtest.ClearPG(t)
	_, err := prepare(core.DriverPgx, "host=db password=Zq7-pw connect_timeout=ten")
	if err == nil || !strings.Contains(err.Error(), "ten") {
		t.Fatalf("connect_timeout=ten: %v", err)
	}
	_, err = prepare(core.DriverPQ, "host=db password=Zq7-pw sslmode=nonsense")
	if err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Fatalf("sslmode=nonsense: %v", err)
	}
}

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ drv, in, want string }{
		{core.DriverPgx, "host=h user=u password=secret dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{core.DriverPgx, "host=h password='with space' sslmode=verify-full", "host=h password=xxxxx sslmode=verify-full"},
		{core.DriverPgx, "postgres://u:secret@h:5432/d?sslmode=verify-full", "user=u password=xxxxx host=h port=5432 dbname=d sslmode=verify-full"},
		{core.DriverPQ, "postgres://u:secret@h:5432/d?sslmode=verify-full", "dbname=d host=h password=xxxxx port=5432 sslmode=verify-full user=u"},
		{core.DriverPgx, "postgres://u@h/d?password=secret", "user=u host=h dbname=d password=xxxxx"},
		{core.DriverPQ, "host=db password=secret\u00a0sslmode=disable", "host=db password=xxxxx sslmode=disable"},
		{core.DriverPgx, "host=db password=secret\u00a0sslmode=disable", "host=db password=xxxxx"},
		{core.DriverPgx, "host=a\x1b[2J", `host='a\\x1b[2J'`},
		{core.DriverPgx, "password='unterminated", "(a DSN the pgx parser cannot read; not shown)"},
	} {
		if got := core.RedactDSN(tc.drv, tc.in, parser(tc.drv)); got != tc.want {
			t.Errorf("RedactDSN(%s, %q) = %q, want %q", tc.drv, tc.in, got, tc.want)
		}
	}
}

// TestHostileDSNIsCheap: a DSN of many password= pairs used to cost
// quadratic time and memory in redaction. securepg refuses a DSN over
// MaxDSNSize outright, and one just under it costs memory in proportion.
func TestHostileDSNIsCheap(t *testing.T) {
	labtest.ClearPG(t)
	big := strings.Repeat("password=x"+marker+" ", 128<<10/20)
	for _, drv := range []string{core.DriverPgx, core.DriverPQ} {
		if _, err := prepare(drv, big); err == nil || !strings.Contains(err.Error(), "at most") {
			t.Fatalf("%s: a %d-byte DSN: %v", drv, len(big), err)
		}
	}
	// Just under the limit, malformed so that the parser error is redacted.
	under := strings.Repeat("password=x"+marker+" ", (core.MaxDSNSize-100)/20) + "port=bad 'x"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, drv := range []string{core.DriverPgx, core.DriverPQ} {
		if _, err := prepare(drv, under); err == nil || strings.Contains(err.Error(), marker) {
			t.Fatalf("%s: %v", drv, err)
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Fatalf("redacting a %d-byte DSN allocated %d MiB", len(under), n>>20)
	}
}

// FuzzRedaction: whatever surrounds a secret, securepg shows it nowhere:
// not in an error, not in a redacted DSN, not as a host, user or database
// name. The secret is what the drivers' own parsers read as the password,
// so the check follows the drivers, not securepg's reader.
func FuzzRedaction(f *testing.F) {
	for _, s := range redactSeeds {
		f.Add(strings.ReplaceAll(s, marker, ""))
	}
	f.Add(" port=x")
	f.Add("' host=a")
	f.Add("\u00a0sslmode=disable")
	for _, r := range []rune{0x85, 0xa0, 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, '\v', '\f'} {
		f.Add(string(r))
	}
	labtest.ClearPG(f)
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "Zq7") || strings.Contains(s, "q7S") || strings.Contains(s, "ecret") {
			return
		}
		dsns := []string{
			"password=" + marker + s,
			s + " password=" + marker,
			"host=" + s + " password=" + marker,
			"postgres://u:" + marker + s,
			"postgres://u:" + marker + "@" + s,
			"postgres://" + s + "?password=" + marker,
			"password='" + marker + s,
		}
		if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsSpace(r) && r != 0x200b && r != 0xfeff }) {
			// s is blanks: where a parser splits and the other does not.
			dsns = append(dsns, "user=app"+s+"password"+s+"="+s+marker, "host=db user="+s+"password="+marker,
				"user=app "+s+"password="+marker)
		}
		for _, dsn := range dsns {
			// Only where a driver reads the marker as (part of) a secret, or
			// fails: elsewhere the fuzzer moved it into another setting.
			if c, err := pgconn.ParseConfig(dsn); err == nil && !strings.Contains(c.Password, marker) {
				if pc, err := pq.NewConfig(dsn); err == nil && !strings.Contains(pc.Password, marker) {
					continue
				}
			}
			if where := shows(dsn); where != "" {
				t.Fatalf("%q: %s", dsn, where)
			}
		}
	})
}

// parser is drv's own parser, for core.RedactDSN.
func parser(drv string) func(string) error {
	if drv == core.DriverPQ {
		return Parse
	}
	return core.ParsePgx
}
