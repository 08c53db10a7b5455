package main

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/securepg/securepg"
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/internal/core"
)

// The probe's connection through the policy, and what it reads of the
// session's role.

// roleReport is what the session's role may do beyond its own objects:
// each attribute a service rarely needs, and a warning for each it has.
// Findings are what SECUREPG_FORBID_SUPERUSER refuses (whether or not it
// is set), each named by its reason code.
type roleReport struct {
	Name           string        `json:"name"`
	Superuser      bool          `json:"superuser"`
	CreateRole     bool          `json:"createrole"`
	CreateDB       bool          `json:"createdb"`
	BypassRLS      bool          `json:"bypassrls"`
	Replication    bool          `json:"replication"`
	MemberOfSU     bool          `json:"member_of_superuser"` // can SET ROLE to a superuser
	ExecuteProgram bool          `json:"pg_execute_server_program"`
	ReadFiles      bool          `json:"pg_read_server_files"`
	WriteFiles     bool          `json:"pg_write_server_files"`
	Findings       []roleFinding `json:"least_privilege"`
	Warnings       []string      `json:"warnings"`
}

// roleFinding is one thing SECUREPG_FORBID_SUPERUSER refuses in the role.
type roleFinding struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// roleAttributes reads the session role's attributes and, with the
// query the policy itself asks (core.RoleFactsSQL), judges them as
// SECUREPG_FORBID_SUPERUSER would: two queries on the probe's own
// connection.
func roleAttributes(ctx context.Context, conn *sql.Conn) *roleReport {
	r := &roleReport{Warnings: []string{}, Findings: []roleFinding{}}
	err := conn.QueryRowContext(ctx, "SELECT rolname, rolcreatedb, rolbypassrls, rolreplication "+
		"FROM pg_catalog.pg_roles WHERE rolname = session_user").Scan(&r.Name, &r.CreateDB, &r.BypassRLS, &r.Replication)
	if err != nil {
		return nil
	}
	var rf core.RoleFacts
	if err := conn.QueryRowContext(ctx, core.RoleFactsSQL).Scan(&rf.Superuser, &rf.CreateRole, &rf.ExecuteServerProgram,
		&rf.ReadServerFiles, &rf.WriteServerFiles, &rf.SuperuserMember, &rf.ServerVersion, &rf.FileFunctions, &rf.AlterSystem, &rf.Replication); err != nil {
		return nil
	}
	r.Name = safe(r.Name)
	r.Superuser, r.CreateRole, r.MemberOfSU = rf.Superuser, rf.CreateRole, rf.SuperuserMember && !rf.Superuser
	r.ExecuteProgram, r.ReadFiles, r.WriteFiles = rf.ExecuteServerProgram, rf.ReadServerFiles, rf.WriteServerFiles
	p := core.DefaultPolicy()
	p.ForbidSuperuser = true
	for _, v := range core.JudgeSession(p, core.Facts{Superuser: "off", Role: &rf}) {
		r.Findings = append(r.Findings, roleFinding{Reason: v.Reason, Detail: v.Detail})
		r.Warnings = append(r.Warnings, v.Reason+": "+v.Detail)
	}
	for _, a := range []struct {
		has  bool
		warn string
	}{
		{r.CreateRole, "CREATEROLE: can create roles and grant itself their membership"},
		{r.CreateDB, "CREATEDB: can create databases"},
		{r.BypassRLS, "BYPASSRLS: row-level security does not apply to it"},
		{r.Replication, "REPLICATION: can stream every table's changes"},
	} {
		if a.has {
			r.Warnings = append(r.Warnings, a.warn)
		}
	}
	return r
}

// policyConnect opens one connection through securepg, as an application
// would, and reads the server's own view of it.
func (e *env) policyConnect(ctx context.Context, dsn string, extra ...securepg.Option) (policyResult, *serverView, *roleReport) {
	var info hooks.ConnInfo
	var audited []string
	c, err := securepg.NewConnector(dsn, append(extra, e.backendOption(), securepg.WithLogger(slog.New(slog.DiscardHandler)), securepg.WithHooks(hooks.Hooks{
		AfterConnect: func(_ context.Context, ci hooks.ConnInfo) error { info = ci; return nil },
		OnViolation: func(_ context.Context, v *hooks.Violation) {
			if v.Outcome == "audited" {
				audited = append(audited, v.Reason)
			}
		},
	}))...)
	if res, refused := policyError(err); refused {
		return res, nil, nil
	}
	if err != nil {
		return policyResult{Outcome: "error", Error: errorText(ctx, err)}, nil, nil
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if res, refused := policyError(err); refused {
		return res, nil, nil
	}
	if err != nil {
		return policyResult{Outcome: "error", Error: errorText(ctx, err)}, nil, nil
	}
	defer conn.Close()
	res := policyResult{Outcome: "allowed", SSLMode: info.SSLMode, Verification: info.Verification,
		AuthMethod: info.AuthMethod, Bound: info.ChannelBinding, LoopbackPlaintext: info.LoopbackPlaintext}
	if len(audited) > 0 {
		res.Outcome, res.Reason = "audited", audited[0]
	}
	if info.TLS {
		res.Version, res.Cipher = core.TLSVersionName(info.Version), tls.CipherSuiteName(info.CipherSuite)
		res.Group, res.HybridPQ = core.GroupName(info.CurveID), info.HybridPQ
	}
	v := &serverView{ViaPooler: info.ServerViaPooler}
	var version, cipher sql.NullString
	var bits, pid sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT ssl, version, cipher, bits, pg_backend_pid() FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&v.SSL, &version, &cipher, &bits, &pid); err == nil {
		v.Version, v.Cipher, v.Bits = safe(version.String), safe(cipher.String), int(bits.Int64)
		// pgx: the process ID the peer sent at startup. lib/pq's
		// connection was compared by securepg itself (info.ServerViaPooler).
		conn.Raw(func(dc any) error {
			if sc, ok := dc.(*stdlib.Conn); ok {
				v.ViaPooler = int64(sc.Conn().PgConn().PID()) != pid.Int64
			}
			return nil
		})
	}
	conn.QueryRowContext(ctx, "SHOW server_version").Scan(&v.ServerVersion)
	v.ServerVersion = safe(v.ServerVersion)
	return res, v, roleAttributes(ctx, conn)
}

// protection says whether the password protection (rule) holds against
// the authentication the server asked for.
func protection(rule string, a *authReport) string {
	switch {
	case a.Skipped != "" || rule != "SCRAM-SHA-256-PLUS only":
		return rule
	case a.ChannelBinding:
		return "holds: the server offers SCRAM-SHA-256-PLUS, and a password goes only through it"
	}
	return "refuses the login: the server asks for " + a.Method + ", not SCRAM-SHA-256-PLUS; the password is not sent"
}

func policyError(err error) (policyResult, bool) {
	var pe *securepg.PolicyError
	if errors.As(err, &pe) {
		return policyResult{Outcome: "refused", Reason: pe.Reason, Error: safe(pe.Error())}, true
	}
	return policyResult{}, false
}

// outsideAllowList is the refusal of a plan that names a host outside
// SECUREPG_ALLOWED_HOSTS, when the policy refuses it: probe dials none of
// its hosts.
func outsideAllowList(plan core.Plan, p core.Policy) *core.Violation {
	refusal, _, all := core.JudgePlan(plan, p)
	if refusal == nil {
		return nil // audit mode: sql.Open would connect
	}
	for _, v := range all {
		if v.Reason == core.ReasonHostNotAllowed {
			return v
		}
	}
	return nil
}
