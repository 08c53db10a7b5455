// Package parity is the table of adversarial cases that every way to a
// PostgreSQL session must judge alike (issue 21, point 8): the peer, where
// the credential comes from, the policy, and the verdict. The tests of the
// root package (TestParity: database/sql on both backends, NewConnector,
// ConfigurePgx, ConfigurePool, OpenDB, the lib/pq
// listeners, sqlmocktest) and of cmd/securepg (TestParityCLI: check and
// probe on both backends) run the same rows.
//
// It is imported by tests only, and links no package testing: what a
// test would do with a testing.T (set a variable, make a temporary
// folder) it is handed as a function or a path.
package parity

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/securepg/securepg/lab"
)

// Way is a way in to a PostgreSQL session.
type Way string

// The ways in.
const (
	SQLOpenPgx     Way = "sql.Open(securepg)"
	SQLOpenPQ      Way = "sql.Open(securepg-pq)"
	ConnectorPgx   Way = "NewConnector(pgx)"
	ConnectorPQ    Way = "NewConnector(pq)"
	ConfigurePgx   Way = "ConfigurePgx"
	ConfigurePool  Way = "ConfigurePool"
	OpenDB         Way = "OpenDB"
	Listener       Way = "NewListener"
	ListenerDialer Way = "NewListenerDialer"
	SQLMock        Way = "sqlmocktest"
	CheckPgx       Way = "check(pgx)"
	CheckPQ        Way = "check(pq)"
	ProbePgx       Way = "probe(pgx)"
	ProbePQ        Way = "probe(pq)"
)

// LibraryWays are the ways TestParity runs; CLIWays TestParityCLI's.
var (
	LibraryWays = []Way{SQLOpenPgx, SQLOpenPQ, ConnectorPgx, ConnectorPQ, ConfigurePgx, ConfigurePool, OpenDB,
		Listener, ListenerDialer, SQLMock}
	CLIWays = []Way{CheckPgx, CheckPQ, ProbePgx, ProbePQ}
)

// Peer is what answers the client.
type Peer int

// The peers. Impostors hold a self-signed certificate (sslmode=require
// accepts it) and play a lab.AuthTrap.
const (
	Real            Peer = iota // the lab's server, verified (verify-full against the lab's CA)
	AskCleartext                // impostor: AuthenticationCleartextPassword
	AskMD5                      // impostor: an MD5 response to its salt
	RelaySCRAM                  // impostor: relays the login to the real server, which offers SCRAM without PLUS
	AskOAuth                    // impostor: offers only OAUTHBEARER
	SkipAuth                    // impostor: AuthenticationOk at once
	PlaintextServer             // no TLS at all ('N' to the SSLRequest), asks for the password in cleartext
	HostileError                // a verified peer (the lab CA's certificate) that answers with an ErrorResponse full of escape sequences
)

// Source is where the credential comes from.
type Source int

// The sources.
const (
	DSNPassword Source = iota // password= in the DSN
	PGPASSWORD                // the environment
	PassfileKey               // passfile= in the DSN
	PGPASSFILE                // the environment names the passfile
	HomePgpass                // ~/.pgpass (HOME)
	ServiceFile               // password= in the service file the DSN names (service=)
	Provider                  // a securepg credential provider (WithCredentials)
	OAuthToken                // pgx's ConnConfig.OAuthTokenProvider, no password
	NoPassword                // none: the peer refuses before any credential matters
)

func (s Source) String() string {
	return [...]string{"DSN password=", "PGPASSWORD", "passfile=", "PGPASSFILE", "HOME .pgpass", "service file password=",
		"credential provider", "OAuthTokenProvider", "no password"}[s]
}

// Verdicts beside a reason code.
const (
	Allowed = "allowed"
	// Escaped: the connect fails, not by the policy (the peer refused),
	// and the error text holds no control character.
	Escaped = "error without control bytes"
)

// Case is one row: the peer, the credential's source, the role, the
// policy (SECUREPG_* variables) and the verdict every applicable way must
// reach: a reason code, Allowed or Escaped.
type Case struct {
	Name   string
	Peer   Peer
	Source Source
	Role   string // the login role; "" is the lab's password role
	Env    map[string]string
	Want   string
	// Plan: the verdict is reached before anything is dialed, on both
	// backends (what check, offline, and sqlmocktest can judge).
	Plan bool
	// Superuser: sqlmocktest can simulate the row (WithSuperuser).
	Superuser bool
	// Harvest: a control with the protection off; the peer must get the
	// credential, which proves the trap of the rows it mirrors.
	Harvest bool
}

// Roles that SECUREPG_FORBID_SUPERUSER refuses (CreateRoles makes them).
const (
	RoleChain   = "securepg_parity_chain" // member of a superuser through a role
	RoleProgram = "securepg_parity_program"
	RoleRead    = "securepg_parity_read"
	RoleWrite   = "securepg_parity_write"
)

const (
	reasonPassword  = "password_unverified_server"
	reasonTLS       = "tls_not_established"
	reasonNetwork   = "network_not_allowed"
	reasonHost      = "host_not_allowed"
	reasonSuperuser = "superuser_session"
	reasonPrivilege = "privileged_role"
)

// Cases is the table.
func Cases() []Case {
	require := map[string]string{"SECUREPG_MIN_SSLMODE": "require"}
	forbid := map[string]string{"SECUREPG_FORBID_SUPERUSER": "true"}
	cs := []Case{
		{Name: "verified real server (control)", Peer: Real, Source: DSNPassword, Want: Allowed, Plan: true},
		{Name: "impostor asks cleartext", Peer: AskCleartext, Source: DSNPassword, Env: require, Want: reasonPassword},
		{Name: "impostor asks md5", Peer: AskMD5, Source: DSNPassword, Env: require, Want: reasonPassword},
		{Name: "impostor relays SCRAM without PLUS", Peer: RelaySCRAM, Source: DSNPassword, Env: require, Want: reasonPassword},
		{Name: "impostor offers OAUTHBEARER, password set", Peer: AskOAuth, Source: DSNPassword, Env: require, Want: reasonPassword},
		{Name: "impostor offers OAUTHBEARER, token provider", Peer: AskOAuth, Source: OAuthToken, Env: require, Want: reasonPassword},
		{Name: "impostor skips authentication", Peer: SkipAuth, Source: DSNPassword, Env: require, Want: reasonPassword},
		{Name: "plaintext server asks cleartext", Peer: PlaintextServer, Source: NoPassword, Env: require, Want: reasonTLS},
		{Name: "scram grade: impostor asks cleartext", Peer: AskCleartext, Source: DSNPassword,
			Env: map[string]string{"SECUREPG_MIN_SSLMODE": "require", "SECUREPG_ALLOW_UNVERIFIED_PASSWORD": "scram"}, Want: reasonPassword},
		{Name: "scram grade: SCRAM relay is accepted", Peer: RelaySCRAM, Source: DSNPassword,
			Env: map[string]string{"SECUREPG_MIN_SSLMODE": "require", "SECUREPG_ALLOW_UNVERIFIED_PASSWORD": "scram"}, Want: Allowed},
		{Name: "address outside SECUREPG_ALLOWED_NETWORKS", Peer: Real, Source: DSNPassword,
			Env: map[string]string{"SECUREPG_ALLOWED_NETWORKS": "127.0.0.2/32"}, Want: reasonNetwork},
		{Name: "host outside SECUREPG_ALLOWED_HOSTS", Peer: Real, Source: DSNPassword,
			Env: map[string]string{"SECUREPG_ALLOWED_HOSTS": "db.parity.invalid"}, Want: reasonHost, Plan: true},
		{Name: "networks and hosts that allow (control)", Peer: Real, Source: DSNPassword,
			Env: map[string]string{"SECUREPG_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128", "SECUREPG_ALLOWED_HOSTS": "localhost"}, Want: Allowed},
		{Name: "superuser", Peer: Real, Source: DSNPassword, Role: lab.SuperUser, Env: forbid, Want: reasonSuperuser, Superuser: true},
		{Name: "member of a superuser role", Peer: Real, Source: DSNPassword, Role: RoleChain, Env: forbid, Want: reasonSuperuser},
		{Name: "member of pg_execute_server_program", Peer: Real, Source: DSNPassword, Role: RoleProgram, Env: forbid, Want: reasonPrivilege},
		{Name: "member of pg_read_server_files", Peer: Real, Source: DSNPassword, Role: RoleRead, Env: forbid, Want: reasonPrivilege},
		{Name: "member of pg_write_server_files", Peer: Real, Source: DSNPassword, Role: RoleWrite, Env: forbid, Want: reasonPrivilege},
		{Name: "plain role under SECUREPG_FORBID_SUPERUSER (control)", Peer: Real, Source: DSNPassword, Env: forbid, Want: Allowed, Superuser: true},
		{Name: "protection off: impostor asks cleartext (control)", Peer: AskCleartext, Source: DSNPassword,
			Env: map[string]string{"SECUREPG_MIN_SSLMODE": "require", "SECUREPG_ALLOW_UNVERIFIED_PASSWORD": "true"}, Want: Escaped, Harvest: true},
		{Name: "protection off: impostor offers OAUTHBEARER (control)", Peer: AskOAuth, Source: OAuthToken,
			Env: map[string]string{"SECUREPG_MIN_SSLMODE": "require", "SECUREPG_ALLOW_UNVERIFIED_PASSWORD": "true"}, Want: Escaped, Harvest: true},
		{Name: "hostile ErrorResponse", Peer: HostileError, Source: NoPassword, Want: Escaped},
	}
	// Every source of a password, to an impostor that asks for it in
	// cleartext and to one that asks for MD5.
	for _, s := range []Source{PGPASSWORD, PassfileKey, PGPASSFILE, HomePgpass, ServiceFile, Provider} {
		for _, trap := range []struct {
			name string
			peer Peer
		}{{"cleartext", AskCleartext}, {"md5", AskMD5}} {
			cs = append(cs, Case{Name: "password from " + s.String() + ", impostor asks " + trap.name, Peer: trap.peer, Source: s, Env: require, Want: reasonPassword})
		}
	}
	return cs
}

// NotApplicable says why way w cannot express case k, or "" when it can.
func NotApplicable(k Case, w Way) string {
	switch k.Source {
	case OAuthToken:
		switch w {
		case ConfigurePgx, ConfigurePool, OpenDB:
		default:
			return "OAuthTokenProvider is a field of pgx's ConnConfig, which only the pgx-native ways take"
		}
	case Provider:
		switch w {
		case ConnectorPgx, ConnectorPQ, ConfigurePgx, ConfigurePool, OpenDB:
		case Listener, ListenerDialer:
			return "lib/pq's listeners reconnect with the DSN's, PGPASSWORD's or the passfile's password: providers are not asked (documented on NewListener)"
		default:
			return "a credential provider is an Option, which this way does not take"
		}
	}
	switch w {
	case SQLMock:
		if !k.Plan && !k.Superuser {
			return "sqlmocktest has no peer: only plan-stage verdicts and a simulated superuser"
		}
	case CheckPgx, CheckPQ:
		if !k.Plan {
			return "check is offline: the verdict comes from the peer"
		}
	case Listener, ListenerDialer:
		if k.Peer == HostileError {
			return "" // a listener's connect error is lib/pq's: judged below
		}
	}
	return ""
}

// Setup is a case made ready: the DSN to connect with, the peer (nil for
// the real server, reached directly) and the secret the peer must not get.
type Setup struct {
	DSN    string
	Peer   *lab.Proxy
	Secret string
}

// Close closes the peer.
func (s *Setup) Close() {
	if s.Peer != nil {
		s.Peer.Close()
	}
}

// Harvested reports what the peer got: the secret in any message, or a
// session.
func (s *Setup) Harvested() string {
	if s.Peer == nil {
		return ""
	}
	for _, m := range s.Peer.Received() {
		if s.Secret != "" && strings.Contains(string(m), s.Secret) {
			return "the password"
		}
		if len(m) > 0 && m[0] == 'p' && len(m) > 5 {
			return "an answer to its authentication request (" + strconv.Itoa(len(m)) + " bytes)"
		}
	}
	return ""
}

// Prepare starts k's peer in front of c, writes what k's source needs
// under dir and sets the variables with setenv (a test's t.Setenv). HOME
// must already be a folder of the test's own (labtest.IsolateEnv).
func Prepare(c *lab.Cluster, k Case, dir string, setenv func(key, value string)) (*Setup, error) {
	for key, v := range k.Env {
		setenv(key, v)
	}
	s := &Setup{Secret: c.Password}
	var err error
	port := strconv.Itoa(c.Port)
	tail := " sslmode=verify-full sslrootcert=" + c.Certs.CAFile
	switch k.Peer {
	case Real:
	case AskCleartext, AskMD5, RelaySCRAM, AskOAuth, SkipAuth:
		trap := map[Peer]lab.AuthTrap{AskCleartext: lab.AskCleartext, AskMD5: lab.AskMD5, RelaySCRAM: lab.RelaySCRAM,
			AskOAuth: lab.AskOAuth, SkipAuth: lab.SkipAuth}[k.Peer]
		s.Peer, err = lab.NewAuthImpostor(trap, c.Addr(), c.Certs.SelfSigned.TLS)
		tail = " sslmode=require"
	case PlaintextServer:
		s.Peer, err = lab.NewCleartextServer()
		tail = " sslmode=require"
	case HostileError:
		s.Peer, err = lab.NewReplyImpostor(c.Certs.Server.TLS, HostileErrorResponse())
	}
	if err != nil {
		return nil, err
	}
	if s.Peer != nil {
		port = s.Peer.PortString()
	}
	user := c.User
	if k.Role != "" {
		user = k.Role
	}
	s.DSN = "host=localhost port=" + port + " user=" + user + " dbname=" + c.Database + tail
	passfile := func() (string, error) {
		p := filepath.Join(dir, "pgpass")
		return p, os.WriteFile(p, []byte("*:*:*:*:"+c.Password+"\n"), 0o600)
	}
	switch k.Source {
	case DSNPassword:
		s.DSN += " password=" + c.Password
	case PGPASSWORD:
		setenv("PGPASSWORD", c.Password)
	case PassfileKey:
		p, err := passfile()
		s.DSN += " passfile=" + p
		return s, err
	case PGPASSFILE:
		p, err := passfile()
		setenv("PGPASSFILE", p)
		return s, err
	case HomePgpass:
		home := os.Getenv("HOME")
		if home == "" || !strings.HasPrefix(home, os.TempDir()) {
			return s, os.ErrPermission // never the machine's own ~/.pgpass
		}
		return s, os.WriteFile(filepath.Join(home, ".pgpass"), []byte("*:*:*:*:"+c.Password+"\n"), 0o600)
	case ServiceFile:
		p := filepath.Join(dir, "pg_service.conf")
		setenv("PGSERVICEFILE", p)
		s.DSN += " service=parity"
		return s, os.WriteFile(p, []byte("[parity]\npassword="+c.Password+"\n"), 0o600)
	case NoPassword:
		s.Secret = ""
	}
	return s, nil
}

// CreateRoles makes, in c, the login roles the superuser rows use (with
// the lab's password), replacing any left by an earlier run.
func CreateRoles(ctx context.Context, c *lab.Cluster) error {
	admin, err := c.Admin(ctx)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	login := func(name string) string { return "CREATE ROLE " + name + " LOGIN PASSWORD '" + c.Password + "'" }
	stmts := []string{
		"DROP ROLE IF EXISTS " + RoleChain, "DROP ROLE IF EXISTS securepg_parity_mid",
		"DROP ROLE IF EXISTS " + RoleProgram, "DROP ROLE IF EXISTS " + RoleRead, "DROP ROLE IF EXISTS " + RoleWrite,
		"CREATE ROLE securepg_parity_mid NOLOGIN", "GRANT " + lab.SuperUser + " TO securepg_parity_mid",
		login(RoleChain), "GRANT securepg_parity_mid TO " + RoleChain,
		login(RoleProgram), "GRANT pg_execute_server_program TO " + RoleProgram,
		login(RoleRead), "GRANT pg_read_server_files TO " + RoleRead,
		login(RoleWrite), "GRANT pg_write_server_files TO " + RoleWrite,
	}
	for _, s := range stmts {
		if _, err := admin.Exec(ctx, s).ReadAll(); err != nil {
			return err
		}
	}
	return nil
}

// Forged draws, on a terminal that reads it raw, a line that erases the
// error and says the opposite.
const Forged = "\x1b[2K\r\x1b[32mOK: connection verified\x1b[0m\x1b]0;owned\x07\u009b2J\u202edeifirev"

// HostileErrorResponse is a FATAL ErrorResponse whose text fields are
// forged.
func HostileErrorResponse() []byte {
	var body []byte
	for _, f := range []struct {
		k byte
		v string
	}{{'S', "FATAL"}, {'V', "FATAL"}, {'C', "28000"}, {'M', "login refused" + Forged}, {'D', "detail" + Forged}, {'H', "hint" + Forged}} {
		body = append(append(append(body, f.k), f.v...), 0)
	}
	body = append(body, 0)
	out := []byte{'E', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(len(body)+4))
	return append(out, body...)
}

// ControlRune is the first rune of s that could control a terminal or
// disguise text, or -1.
func ControlRune(s string) rune {
	for _, r := range s {
		if r == unicode.ReplacementChar || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return r
		}
	}
	return -1
}
