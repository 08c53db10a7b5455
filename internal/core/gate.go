package core

import (
	"net/netip"
	"strings"
)

// The gate. Every way to a PostgreSQL session passes the same stages, each
// decided through pass, the one place where violations become a refusal
// or an audit record:
//
//	StagePlan        the configuration, before any dial      Evaluate
//	StageAddress     the exact address about to be dialed   JudgeAddress
//	StageHandshake   the TLS facts (or their absence)       Judge
//	StageCredential  a credential against the peer's proof  credentialRisk
//	StageAuth        what the server asks for, at login     authState.risk
//	StageSession     the role the session runs as           JudgeSession
//
// Judging is pure: facts in, violations out. The callers gather the facts
// and act on the verdict; none applies the mode itself.

// Stage is a point of a connect at which the gate judges.
type Stage uint8

// The stages, in the order of a connect (the table above).
const (
	StagePlan Stage = iota
	StageAddress
	StageHandshake
	StageCredential
	StageAuth
	StageSession
)

// Check is what one stage judges. Each stage reads only its own fields.
type Check struct {
	Stage  Stage
	Plan   Plan   // StagePlan; StageCredential with CredentialSupplied
	Target Target // StageAddress and StageCredential
	// Addr and AddrText: StageAddress, the address about to be dialed
	// (Addr zero when it is not an IP address) and as the dialer names it.
	Addr     netip.Addr
	AddrText string
	// Facts: StageHandshake and StageSession; StageCredential, the
	// handshake made (Facts.TLS), if any.
	Facts      Facts
	Credential CredentialCheck // StageCredential: which question it asks
	// Setting: CredentialWeakSetting, the setting that weakens
	// authentication (pgx's channel_binding=disable, ...).
	Setting string
	Auth    authState // StageAuth: the login as the watch saw it
}

// CredentialCheck names the question StageCredential asks of a credential.
type CredentialCheck uint8

const (
	// CredentialSupplied: a password a provider supplies at this
	// connect (the configuration's was judged at StagePlan).
	CredentialSupplied CredentialCheck = iota
	// CredentialWeakSetting: the configuration weakens authentication
	// (Check.Setting) toward a server whose identity is not verified.
	CredentialWeakSetting
	// CredentialUnbound: a driver that cannot bind SCRAM to the channel
	// (lib/pq) would send a password: before the dial (Facts.TLS unset),
	// or after a handshake whose certificate proves less than the
	// configuration promised.
	CredentialUnbound
)

// Pass judges c against p and applies the policy's mode (see pass).
func Pass(p Policy, c Check) (refusal *Violation, audited []*Violation) {
	return p.pass(c.judge(p))
}

// pass applies the policy's mode to what a stage judged: the refusal (the
// first hard violation, or in enforce mode the first), and those audit
// mode lets through. Each fix that names a setting a program set with an
// option says so: changing the variable would change nothing.
func (p *Policy) pass(vs []*Violation) (refusal *Violation, audited []*Violation) {
	for _, v := range vs {
		for _, st := range Settings {
			if opt, ok := strings.CutPrefix(p.Sources[st.Env], "option "); ok && hasName(v.Fix, st.Env) {
				v.Fix += " (this program sets " + st.Env + " with " + opt + ")"
			}
		}
	}
	for _, v := range vs {
		if v.Hard || !p.Audit {
			return v, nil
		}
	}
	return nil, vs
}

// hasName says whether env is in s as a whole name (not the start of a
// longer one: SECUREPG_PIN_SHA256 in SECUREPG_PIN_SHA256_FILE).
func hasName(s, env string) bool {
	for {
		i := strings.Index(s, env)
		if i < 0 {
			return false
		}
		end := i + len(env)
		if end == len(s) || !(s[end] == '_' || 'A' <= s[end] && s[end] <= 'Z' || '0' <= s[end] && s[end] <= '9') {
			return true
		}
		s = s[end:]
	}
}

// judge is the stage's pure judging.
func (c Check) judge(p Policy) []*Violation {
	switch c.Stage {
	case StagePlan:
		return Evaluate(c.Plan, p)
	case StageAddress:
		return JudgeAddress(p, c.Target, c.Addr, c.AddrText)
	case StageHandshake:
		return Judge(p, c.Facts)
	case StageCredential:
		if v := credentialRisk(p, c); v != nil {
			return []*Violation{v}
		}
	case StageAuth:
		if v := c.Auth.risk(); v != nil {
			return []*Violation{v}
		}
	case StageSession:
		return JudgeSession(p, c.Facts)
	}
	return nil
}

// credentialRisk is StageCredential's judging.
func credentialRisk(p Policy, c Check) *Violation {
	t := c.Target
	switch c.Credential {
	case CredentialSupplied:
		c.Plan.Password = true
		return passwordRisk(c.Plan, t, p)
	case CredentialWeakSetting:
		return weakAuth(c.Facts.Addr(), t, c.Setting)
	case CredentialUnbound:
		if p.UnverifiedPassword != PasswordBound {
			return nil
		}
		if c.Facts.TLS && PasswordProtectedConn(p, t, c.Facts) || !c.Facts.TLS && PasswordProtected(p, t) {
			return pqCannotBind(t.Addr(), t)
		}
	}
	return nil
}
