package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// The authentication methods securepg names (securepg.auth.method).
const (
	AuthSCRAMPlus = "scram-sha-256-plus" // SCRAM with tls-server-end-point channel binding
	AuthSCRAM     = "scram-sha-256"
	AuthMD5       = "md5"
	AuthPassword  = "password" // the password in cleartext
	AuthTrust     = "trust"    // accepted with no exchange, no client certificate configured
	AuthCert      = "cert"     // accepted with no exchange, a client certificate configured
	AuthGSS       = "gss"
	AuthSSPI      = "sspi"
	AuthOAuth     = "oauth"
	AuthOther     = "other"
)

// authWatch follows the authentication exchange of one connection on the
// bytes the driver reads (and, for the SASL mechanism, writes) until the
// server accepts or refuses, recording the method and whether SCRAM was
// bound to the TLS channel. With protect set, it ends the connection
// before the driver can answer a request for anything but SCRAM with
// channel binding, or a login without any exchange: the password never
// leaves for a server whose identity is not verified.
type authWatch struct {
	authState         // the login as seen so far; protect, grade and credential are set by the caller
	policy     Policy // the gate's policy
	canBind    bool   // the driver binds SCRAM to TLS when the server offers it (pgx)
	clientCert bool
	refuse     func(*Violation) // records a refusal (may be nil)
	// session, when set, judges the session at ReadyForQuery from the
	// reported is_superuser; a refusal fails that read (lib/pq's
	// listeners, which securepg cannot judge after the startup).
	session  func(superuser string) *Violation
	audit    func(*Violation) // audit mode: reports, once, what protect would refuse (may be nil)
	rejected func()           // the server rejected credentials it asked for and got (may be nil)
	// driverError builds the driver's own error value from a hostile
	// ErrorResponse's fields (lib/pq's *pq.Error); nil: pgx's.
	driverError func(fields map[byte]string) error
	answered    bool // the client answered a request for its credentials
	// after, when set, keeps the watch on the server's messages after
	// ReadyForQuery under its rules (sessionwatch.go); nil: the watch
	// ends there.
	after *sessionRules

	done atomic.Bool // nothing more to watch: pass through

	mu          sync.Mutex
	in          frameReader
	out         frameReader // the client's side, after a SASL offer
	offered     bool        // the server offered SASL; the client's next message names its choice
	bound       bool        // the client chose SCRAM-SHA-256-PLUS
	err         error
	keyPID      uint32 // the process ID in the peer's BackendKeyData
	keyed       bool   // the peer sent BackendKeyData
	isSuperuser string // the is_superuser ParameterStatus, or ""
	inSession   bool   // ReadyForQuery came: after's rules apply
}

// NewAuthWatch watches the authentication of one connection to host.
func NewAuthWatch(p Policy, host string, clientCert bool) *authWatch {
	return &authWatch{authState: authState{host: host}, policy: p, clientCert: clientCert, in: frameReader{limit: MaxAuthMessage, budget: MaxStartupBytes}}
}

var errAuthOver = errors.New("authentication over") // stops the parse

// read inspects bytes the driver read from the server.
func (w *authWatch) read(p []byte) error {
	if w.done.Load() {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	err := w.in.feed(p, w.serverMessage)
	if err == errAuthOver {
		w.done.Store(true)
		return nil
	}
	if err != nil {
		// Sticky: every later read fails too.
		w.err = err
		if v, ok := err.(*Violation); ok && w.refuse != nil {
			w.refuse(v)
		}
		w.finish()
	}
	return err
}

// serverMessage follows the startup until ReadyForQuery or an error: pgx
// keeps answering authentication requests even after AuthenticationOk.
func (w *authWatch) serverMessage(typ byte, body []byte) error {
	if w.inSession {
		return w.sessionMessage(typ, body)
	}
	if w.driverError != nil && pqMalformed(typ, body) {
		// lib/pq panics on it, and a listener connects in lib/pq's own
		// goroutine, where nothing recovers: fail the read instead.
		return errMalformedForPQ
	}
	switch {
	case typ == 'E' || typ == 'Z':
		return w.startupEnded(typ, body)
	case typ == 'S':
		// ParameterStatus: the session role's is_superuser.
		if name, value, ok := bytes.Cut(body, []byte{0}); ok && string(name) == "is_superuser" {
			w.isSuperuser = string(bytes.TrimRight(value, "\x00"))
		}
	case typ == 'K' && len(body) >= 4:
		// BackendKeyData: the process ID the peer says serves this
		// session (a pooler sends its own).
		w.keyPID, w.keyed = binary.BigEndian.Uint32(body), true
	case typ == 'R' && len(body) >= 4:
		return w.authRequest(body)
	}
	return nil
}

// startupEnded handles an ErrorResponse or ReadyForQuery: errAuthOver, or
// the server's hostile error text escaped, or the session's refusal.
func (w *authWatch) startupEnded(typ byte, body []byte) error {
	if typ == 'E' && w.answered && w.rejected != nil {
		if c := sqlState(body); c == "28P01" || c == "28000" {
			w.rejected()
		}
	}
	w.finish()
	if typ == 'E' {
		if err := hostileServerError(w.driverError, body); err != nil {
			return err
		}
	}
	if typ == 'Z' && w.session != nil {
		if v := w.session(w.isSuperuser); v != nil {
			return v
		}
	}
	if typ == 'Z' && w.after != nil {
		w.startSession()
		return nil
	}
	return errAuthOver
}

// authRequest records an Authentication message (body: its code and
// data) and, under the protection, refuses a request it does not allow.
func (w *authWatch) authRequest(body []byte) error {
	code := binary.BigEndian.Uint32(body)
	switch code {
	case 0: // AuthenticationOk
		if w.method == "" {
			w.method = AuthTrust
			if w.clientCert {
				w.method = AuthCert
			}
		}
	case 3:
		w.method, w.answered = AuthPassword, !w.protect // the protection refuses it below
	case 5:
		w.method, w.answered = AuthMD5, !w.protect
	case 7, 8:
		w.method = AuthGSS
	case 9:
		w.method = AuthSSPI
	case 10: // AuthenticationSASL: a list of mechanism names
		w.saslOffer(body[4:])
		if w.plus && w.canBind {
			return nil // the client's choice decides; pgx, required to, binds
		}
	case 11: // SASLContinue: the client answers with its SCRAM proof
		w.answered = true
		return scramIterations(body[4:])
	case 12: // SASLFinal: the server's proof, which the driver verifies
		w.final = w.method == AuthSCRAMPlus || w.method == AuthSCRAM
		return nil
	default:
		w.method = AuthOther
	}
	if !w.protect || w.allowed(code) {
		return nil
	}
	if refusal, _ := Pass(w.policy, Check{Stage: StageAuth, Auth: w.authState}); refusal != nil {
		return refusal
	}
	return nil
}

// saslOffer records an AuthenticationSASL's list of mechanism names.
func (w *authWatch) saslOffer(list []byte) {
	w.method, w.offered = AuthOAuth, true
	for _, m := range bytes.Split(bytes.TrimRight(list, "\x00"), []byte{0}) {
		switch string(m) {
		case "SCRAM-SHA-256-PLUS":
			w.plus = true
			w.method = AuthSCRAM
		case "SCRAM-SHA-256":
			w.method = AuthSCRAM
		}
	}
}

// allowed reports whether the protection lets the login go on after the
// server's request with code: SCRAM with channel binding, SCRAM alone
// under PasswordSCRAM, no exchange when there is no credential to lose.
func (w *authWatch) allowed(code uint32) bool {
	switch w.method {
	case AuthSCRAMPlus:
		return w.final || code != 0
	case AuthSCRAM:
		return w.grade == PasswordSCRAM && (w.final || code != 0)
	case AuthTrust, AuthCert:
		return !w.credential
	}
	return false
}

// finish ends the authentication's watch: audit mode reports what
// protect would have refused, with the last method the server asked for.
func (w *authWatch) finish() {
	if w.audit != nil {
		if _, audited := Pass(w.policy, Check{Stage: StageAuth, Auth: w.authState}); len(audited) > 0 {
			w.audit(audited[0])
		}
		w.audit = nil
	}
}

// end is called when the connection fails during authentication.
func (w *authWatch) end() {
	if w.done.Load() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finish()
	w.done.Store(true)
}

// sqlState is the SQLSTATE field of an ErrorResponse body.
func sqlState(body []byte) string {
	for len(body) > 1 {
		i := bytes.IndexByte(body, 0)
		if i < 0 {
			return ""
		}
		if body[0] == 'C' {
			return string(body[1:i])
		}
		body = body[i+1:]
	}
	return ""
}

// authState is the login as the watch saw it: StageAuth's facts.
type authState struct {
	host       string
	method     string
	grade      PasswordGrade // what protect accepts: PasswordBound or PasswordSCRAM
	protect    bool          // the watch stops the login before the driver answers
	final      bool          // the server sent its SCRAM final message
	plus       bool          // the server offered SCRAM-SHA-256-PLUS
	credential bool          // the driver would send a credential
}

// risk is the violation of the password protection by the method used
// (or asked for), or nil when it was SCRAM with channel binding.
func (s authState) risk() *Violation {
	var detail, fix string
	switch s.method {
	case "":
		return nil // nothing was asked, nothing sent
	case AuthSCRAMPlus:
		if s.final {
			return nil
		}
		detail = "the server ended the SCRAM login without its final message, which proves it knows the password"
	case AuthPassword:
		detail = "the server asked for the password in cleartext"
		fix = "if this is the real server, set its pg_hba.conf method to scram-sha-256"
	case AuthMD5:
		detail = "the server asked for an MD5 response to a salt it chose, which a man in the middle can replay or crack"
		fix = "if this is the real server, its role still has an MD5 password: set password_encryption = scram-sha-256 on the server, set the role's password again (ALTER ROLE ... PASSWORD) and use scram-sha-256 in pg_hba.conf"
	case AuthSCRAM:
		if s.grade == PasswordSCRAM && s.final {
			return nil
		}
		detail = "the server does not offer SCRAM with channel binding (SCRAM-SHA-256-PLUS), so a man in the middle could relay the login"
		fix = "if this is the real server, make sure it runs PostgreSQL 11 or newer with ssl = on, and nothing between terminates TLS (a pooler such as PgBouncer cannot bind: " + EnvAllowUnverPass + "=scram accepts SCRAM without binding)"
		if s.plus {
			detail = "the driver cannot bind SCRAM to the TLS channel (lib/pq), so a man in the middle could relay the login"
			fix = "use the pgx backend (the driver name \"securepg\")"
		}
	case AuthTrust, AuthCert:
		if !s.credential {
			return nil
		}
		detail = "the server accepted the login without asking for the password, which a man in the middle can do to have the client talk to it"
		fix = "if this is the real server, make it ask with scram-sha-256 in pg_hba.conf (or configure no password, for certificate authentication)"
	default:
		detail = "the server asked for an authentication method (" + s.method + ") that is not bound to this TLS channel"
	}
	if !s.protect {
		detail = "the password went to a server whose identity is not verified: " + detail
	} else {
		detail += "; securepg did not send the password"
	}
	v := passwordUnverified(s.host, detail)
	if fix != "" {
		v.Fix = fix + "; or " + verifyOrCert
	}
	return v
}

// write inspects bytes the driver writes: after a SASL offer, the
// mechanism the client chose.
func (w *authWatch) write(p []byte) {
	if w.done.Load() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.offered || w.inSession {
		return
	}
	w.out.feed(p, func(typ byte, body []byte) error {
		if !w.offered || typ != 'p' {
			return nil
		}
		w.offered = false
		if i := bytes.IndexByte(body, 0); i >= 0 {
			switch string(body[:i]) {
			case "SCRAM-SHA-256-PLUS":
				w.method, w.bound = AuthSCRAMPlus, true
			case "SCRAM-SHA-256":
				w.method = AuthSCRAM
			case "OAUTHBEARER":
				w.method = AuthOAuth
			}
		}
		return nil
	})
}

// result is the method used and whether it was bound to the channel;
// meaningful once the connection is made.
func (w *authWatch) result() (method string, bound bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.method, w.bound && w.final
}

// superuser is the is_superuser the server reported during the startup,
// or ""; meaningful once the connection is made.
func (w *authWatch) superuser() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.isSuperuser
}

// backendKey is the process ID the peer sent in BackendKeyData during the
// startup, and whether it sent one; meaningful once the connection is made.
func (w *authWatch) backendKey() (pid uint32, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.keyPID, w.keyed
}

// afterRead inspects what a read of p returned (n bytes, err).
func (w *authWatch) afterRead(p []byte, n int, err error) (int, error) {
	if n > 0 {
		if verr := w.read(p[:n]); verr != nil {
			return 0, verr
		}
	}
	if err != nil {
		w.end()
	}
	return n, err
}

// authRW puts a watch on pgx's frontend.
type authRW struct {
	r  io.Reader
	wr io.Writer
	w  *authWatch
}

func (a authRW) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	return a.w.afterRead(p, n, err)
}

func (a authRW) Write(p []byte) (int, error) {
	a.w.write(p)
	return a.wr.Write(p)
}

// AuthConn puts a watch on the connection lib/pq uses.
type AuthConn struct {
	net.Conn
	w      *authWatch
	closed *atomic.Bool // set when lib/pq (or securepg, after its panic) closes it
}

// Close closes the connection and records that it is closed.
func (c *AuthConn) Close() error {
	if c.closed != nil {
		c.closed.Store(true)
	}
	return c.Conn.Close()
}

func (c *AuthConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return c.w.afterRead(p, n, err)
}

func (c *AuthConn) Write(p []byte) (int, error) {
	c.w.write(p)
	return c.Conn.Write(p)
}
