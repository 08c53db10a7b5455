package core

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql/driver"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgpassfile"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/securepg/securepg/internal/dsn"
)

// PgxConfig is a pgx configuration hardened by a policy. pgx keeps its own
// loop over hosts, addresses and fallbacks; securepg follows it attempt by
// attempt (BeforeConnect installs the hooks), verifies every handshake,
// judges every attempt before the startup message, and gives each host its
// own credentials.
type PgxConfig struct {
	Conn    *pgx.ConnConfig
	entries []pgxEntry // parallel to [primary] + Conn.Fallbacks
	policy  Policy

	// passfile is where pgx found the password, if it did: pgx uses the
	// first host's entry for every host; securepg, as libpq, each host's.
	passfile *pgpassfile.Passfile

	weakAuth string   // the setting that weakens authentication below the protection, or ""
	files    keyFiles // the key material securepg follows on disk

	// ResetSession, set before the first Connect, is the database/sql
	// connector's reset of a conn before reuse.
	ResetSession func(context.Context, *pgx.Conn) error

	once      sync.Once
	connector driver.Connector
}

// Connect opens one pgx connection through pgx's database/sql connector,
// which hands database/sql pgx's own *stdlib.Conn.
func (c *PgxConfig) Connect(ctx context.Context, creds CredsFunc, rec *Recorder) (driver.Conn, Facts, []*Violation, error) {
	c.once.Do(func() {
		opts := []stdlib.OptionOpenDB{stdlib.OptionBeforeConnect(c.BeforeConnect)}
		if c.ResetSession != nil {
			opts = append(opts, stdlib.OptionResetSession(c.ResetSession))
		}
		c.connector = stdlib.GetConnector(*c.Conn, opts...)
	})
	fr := &finishResult{}
	ctx = WithConnectState(ctx, &ConnectState{Rec: rec, Creds: creds, finish: fr})
	dc, err := c.connector.Connect(ctx)
	if err != nil {
		if fr.done && fr.err != nil {
			return nil, fr.facts, nil, fr.err // the refusal, judged in AfterConnect
		}
		return nil, Facts{}, nil, pgxError(err)
	}
	sc := dc.(*stdlib.Conn)
	facts, audited, err := fr.facts, fr.audited, fr.err
	if !fr.done {
		facts, audited, err = c.FinishPgConn(ctx, sc.Conn().PgConn(), rec)
	}
	if err != nil {
		sc.Close()
		return nil, facts, nil, err
	}
	return sc, facts, audited, nil
}

// connectError replaces pgx's *pgconn.ConnectError, whose public Config
// field holds the password: reflective loggers and encoders walk it. The
// text and the causes (errors.As finds *pgconn.PgError) are kept.
type connectError struct {
	msg string
	err error
}

func (e *connectError) Error() string { return e.msg }
func (e *connectError) Unwrap() error { return e.err }

func pgxError(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return &connectError{msg: err.Error(), err: ce.Unwrap()}
	}
	return err
}

// pgxEntry is one pgx fallback: one attempt at one host.
type pgxEntry struct {
	target Target
	index  int      // of target in the plan
	auth   *TLSAuth // nil: a plaintext attempt
}

// PreparePgx parses dsn with pgx's own parser (PG* variables, service
// files, defaults and fallbacks exactly as pgx uses them), hardens the
// result for p, and returns it with the plan to evaluate.
func PreparePgx(dsn string, p Policy) (*PgxConfig, Plan, error) {
	if err := CheckDSN(DriverPgx, dsn); err != nil {
		return nil, Plan{}, err
	}
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, Plan{}, ParseError(DriverPgx, dsn, err)
	}
	return preparePgx(cc, dsn, p, false)
}

// PreparePgxConfig hardens a pgx configuration that code built or changed,
// as PreparePgx does one parsed from a DSN. cc is not changed; the result
// holds a copy.
func PreparePgxConfig(cc *pgx.ConnConfig, p Policy) (*PgxConfig, Plan, error) {
	if cc == nil {
		return nil, Plan{}, errors.New("securepg: a nil *pgx.ConnConfig")
	}
	return preparePgx(cc.Copy(), cc.ConnString(), p, true)
}

// preparePgx hardens cc, which pgx parsed from dsn; inCode: code may have
// changed it since.
func preparePgx(cc *pgx.ConnConfig, dsn string, p Policy, inCode bool) (*PgxConfig, Plan, error) {
	src := Sources(DriverPgx, dsn, os.LookupEnv)
	kf := pgxFiles(cc, p, src)
	pc, plan, err := hardenPgx(cc, p, kf, src["sslmode"])
	if err != nil {
		return nil, Plan{}, RedactedError(dsn, err)
	}
	if len(plan.Targets) > 1 {
		pc.passfile = pgxPassfile(dsn, cc)
	}
	if v := src["sslsni"].Value; v != "" && v != "1" {
		dropSNI(cc)
	}
	// The policy's connect timeout and application_name where the
	// configuration sets none. pgx bounds each attempt (dial, TLS,
	// startup) with ConnectTimeout.
	plan.ConnectTimeout, plan.ConnectTimeoutSource = ConnectTimeout(p, src, cc.ConnectTimeout)
	if inCode && cc.ConnectTimeout != 0 {
		plan.ConnectTimeout, plan.ConnectTimeoutSource = cc.ConnectTimeout, "the pgx configuration"
	}
	cc.ConnectTimeout = plan.ConnectTimeout
	plan.AppName, plan.AppNameSource = AppName(p, src, cc.RuntimeParams["application_name"])
	if plan.AppName != "" {
		cc.RuntimeParams["application_name"] = plan.AppName
	}
	plan.User, plan.Database, plan.DSNPassword = cc.User, cc.Database, DSNHasPassword(DriverPgx, dsn)
	plan.Password = HasCredential(&cc.Config)
	pc.weakAuth = weakAuthSetting(cc, src["channel_binding"])
	plan.WeakAuth = pc.weakAuth
	// verify-ca against a root file that holds a public CA proves no
	// identity: the password protection treats it as require.
	filePublic := sync.OnceValue(func() bool {
		path := src["sslrootcert"].Value
		if path == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return true
			}
			path = filepath.Join(home, ".postgresql", "root.crt")
		}
		pem, err := ReadRegularFile(context.Background(), path, MaxKeyFileSize)
		return err != nil || PublicRoots(pem)
	})
	for i := range plan.Targets {
		t := &plan.Targets[i]
		switch {
		case t.Verify() != VerifyCA:
		case t.RootFromPolicy:
			t.PublicRoots = p.RootCert != "system" && p.roots != nil && p.roots.val.Public // system: the plan knows
		case t.RootCA == "sslrootcert" && pc.files.roots != nil:
			t.PublicRoots = pc.files.roots.val.Public
		case t.RootCA == "sslrootcert" && inCode:
			t.PublicRoots = true // roots set in code: assumed public
		case t.RootCA == "sslrootcert":
			// The file pgx read (or its default ~/.postgresql/root.crt);
			// one securepg cannot read counts as public: fail closed.
			t.PublicRoots = filePublic()
		}
	}
	for j := range pc.entries {
		pc.entries[j].target.PublicRoots = plan.Targets[pc.entries[j].index].PublicRoots
	}
	return pc, plan, nil
}

// parsePgxKeyPair reads a certificate and key file as pgx does: the key is
// the key file's first PEM block, unencrypted (securepg refuses
// sslpassword).
func parsePgxKeyPair(data [][]byte) (*tls.Certificate, error) {
	block, _ := pem.Decode(data[1])
	//lint:ignore SA1019 detecting an encrypted key, not decrypting it
	if block == nil || x509.IsEncryptedPEMBlock(block) {
		return nil, errors.New("the key is not an unencrypted PEM key")
	}
	return ParseKeyPair([][]byte{data[0], pem.EncodeToMemory(block)})
}

func hardenPgx(cc *pgx.ConnConfig, p Policy, kf keyFiles, mode Source) (*PgxConfig, Plan, error) {
	implicit := mode.Origin == "default" || mode.Value == ""
	dsnMin, dsnMax, err := pgxTLSVersions(cc)
	if err != nil {
		return nil, Plan{}, err
	}
	if keys := UnsupportedKeys(unsupportedPgx, cc.RuntimeParams); len(keys) > 0 {
		return nil, Plan{}, &DSNError{Driver: DriverPgx, Msg: "pgx does not support " + strings.Join(keys, ", ") +
			": it would send the value to the server as a setting, which fails there; remove it"}
	}
	h := pgxHardening{p: p, kf: kf, minTLS: max(p.MinTLSVersion, dsnMin), maxTLS: dsnMax}

	fbs := append([]*pgconn.FallbackConfig{{Host: cc.Host, Port: cc.Port, TLSConfig: cc.TLSConfig}}, cc.Fallbacks...)
	var from map[*pgconn.FallbackConfig]string
	if implicit {
		fbs, from = liftPgx(fbs, p, cc.SSLNegotiation == "direct")
	}
	entries := make([]pgxEntry, len(fbs))
	plan := Plan{Driver: DriverPgx}

	// Group the attempts per host as pgx lays them out: prefer is [tls,
	// plain], allow is [plain, tls], anything else one attempt.
	for i := 0; i < len(fbs); {
		n := 1
		if i+1 < len(fbs) && sameHost(fbs[i], fbs[i+1]) && (fbs[i].TLSConfig == nil) != (fbs[i+1].TLSConfig == nil) {
			n = 2
		}
		group := fbs[i : i+n]
		network, _ := pgconn.NetworkAddress(group[0].Host, group[0].Port)
		t := Target{Host: group[0].Host, Port: group[0].Port, Network: network, MinTLS: h.minTLS, MaxTLS: dsnMax, ModeSource: mode}
		auths := make([]*TLSAuth, n)
		for j, fb := range group {
			a := Attempt{}
			if fb.TLSConfig != nil {
				auths[j] = h.harden(fb, &t, n == 1, from[fb] == ModeFromPolicy)
				a = Attempt{TLS: true, Verify: auths[j].Level}
			}
			t.Attempts = append(t.Attempts, a)
		}
		t.Mode, t.ModeFrom = ModeFromAttempts(t.Attempts), from[group[0]]
		for j := range group {
			entries[i+j] = pgxEntry{target: t, index: len(plan.Targets), auth: auths[j]}
		}
		plan.Targets = append(plan.Targets, t)
		i += n
	}

	cc.Host, cc.Port, cc.TLSConfig = fbs[0].Host, fbs[0].Port, fbs[0].TLSConfig
	cc.Fallbacks = fbs[1:]
	return &PgxConfig{Conn: cc, entries: entries, policy: p, files: kf}, plan, nil
}

// pgxTLSVersions takes ssl_min/max_protocol_version out of pgx's run-time
// settings, which pgx would send to the server, where they fail; securepg
// honours them on the client, as libpq does.
func pgxTLSVersions(cc *pgx.ConnConfig) (dsnMin, dsnMax uint16, err error) {
	for _, s := range []struct {
		k   string
		ver *uint16
	}{{"ssl_min_protocol_version", &dsnMin}, {"ssl_max_protocol_version", &dsnMax}} {
		v, ok := cc.RuntimeParams[s.k]
		if !ok {
			continue
		}
		if *s.ver, ok = ParseTLSVersionName(v); !ok {
			return 0, 0, errors.New("securepg: invalid " + s.k + ": want TLSv1.2 or TLSv1.3")
		}
		delete(cc.RuntimeParams, s.k)
	}
	return dsnMin, dsnMax, nil
}

// pgxHardening hardens the TLS attempts of one pgx configuration.
type pgxHardening struct {
	p              Policy
	kf             keyFiles
	minTLS, maxTLS uint16
	shared         *Material[*Roots] // the roots pgx parsed, as one host's
}

// harden replaces fb's TLS configuration with securepg's template for a
// TLS attempt of t (alone: the host's only attempt; lifted: its sslmode
// is the policy's) and returns how it verifies the server.
func (h *pgxHardening) harden(fb *pgconn.FallbackConfig, t *Target, alone, lifted bool) *TLSAuth {
	p := h.p
	tc := fb.TLSConfig.Clone()
	upgrade := alone && p.Roots() != nil && p.RootCert != "system" && tc.RootCAs == nil
	t.RootCA, t.RootFromPolicy, t.ClientCert, t.CertFromPolicy = describeTLS(tc, p)
	// The roots and the client certificate follow their files where
	// securepg knows them (a rotation needs no restart).
	var roots *Material[*Roots]
	switch {
	case tc.RootCAs != nil && h.kf.roots != nil:
		roots = h.kf.roots
	case tc.RootCAs != nil:
		// pgx made a copy per host: one is kept for them all.
		if h.shared == nil || !h.shared.val.Pool.Equal(tc.RootCAs) {
			h.shared = StaticMaterial("root certificates", &Roots{Pool: tc.RootCAs})
		}
		roots = h.shared
	case p.Roots() != nil:
		roots = p.Roots()
	}
	switch {
	case len(tc.Certificates) == 1 && h.kf.cert != nil:
		tc.Certificates, tc.GetClientCertificate = nil, clientCertificate(h.kf.cert)
	case len(tc.Certificates) == 0 && tc.GetClientCertificate == nil && p.ClientCertificate() != nil:
		tc.GetClientCertificate = clientCertificate(p.ClientCertificate())
	}
	tc.MinVersion = h.minTLS
	if h.maxTLS != 0 {
		tc.MaxVersion = h.maxTLS
	}
	restrictGroups(tc, p.OffersOnlyHybrid())
	// securepg verifies the chain (and the host name) in VerifyConnection,
	// with the hardened roots: pgx's verify-ca callback would use the roots
	// captured at parse time, and crypto/tls's failure names no host.
	auth := &TLSAuth{MinTLS: h.minTLS, Pins: p.PinsFile}
	switch {
	case !tc.InsecureSkipVerify || lifted && p.MinSSLMode >= ModeVerifyFull:
		auth.Level = VerifyFull
		auth.Name = tc.ServerName
		if auth.Name == "" {
			auth.Name = fb.Host
		}
	case tc.VerifyPeerCertificate != nil || upgrade || lifted && p.MinSSLMode == ModeVerifyCA:
		auth.Level = VerifyCA
	}
	auth.Roots = roots
	tc.RootCAs = nil
	// Each connect's clone verifies (bind); the template's handshake fails.
	tc.VerifyConnection = func(tls.ConnectionState) error { return unbound() }
	tc.InsecureSkipVerify = true
	tc.VerifyPeerCertificate = nil
	fb.TLSConfig = tc
	return auth
}

// pgxPassfile returns the passfile pgx took the password from (none in the
// DSN, PGPASSWORD or the service file, and the first host's entry is
// pgx's password), or nil.
func pgxPassfile(s string, cc *pgx.ConnConfig) *pgpassfile.Passfile {
	if cc.Password == "" {
		return nil
	}
	set := dsn.Read(dsn.Pgx, s).Settings
	if set["password"] != "" || os.Getenv("PGPASSWORD") != "" {
		return nil
	}
	home, _ := os.UserHomeDir()
	var svc map[string]string
	if name := cmp.Or(set["service"], os.Getenv("PGSERVICE")); name != "" {
		path := cmp.Or(set["servicefile"], os.Getenv("PGSERVICEFILE"), filepath.Join(home, ".pg_service.conf"))
		svc = serviceSettings(DriverPgx, path, name)
		if svc == nil || svc["password"] != "" {
			return nil
		}
	}
	path := cmp.Or(set["passfile"], svc["passfile"], os.Getenv("PGPASSFILE"), filepath.Join(home, ".pgpass"))
	b, err := ReadRegularFile(context.Background(), path, MaxPasswordFileSize)
	if err != nil {
		return nil
	}
	pf, err := pgpassfile.ParsePassfile(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	host := cc.Host
	if network, _ := pgconn.NetworkAddress(cc.Host, cc.Port); network == "unix" {
		host = "localhost"
	}
	if pf.FindPassword(host, strconv.Itoa(int(cc.Port)), cc.Database, cc.User) != cc.Password {
		return nil
	}
	return pf
}

// weakAuthSetting names the setting that asks pgx for less than the
// password protection: require_auth allowing more than SCRAM,
// channel_binding=disable, or an explicit channel_binding=prefer (pgx's
// default prefer securepg raises to require).
func weakAuthSetting(cc *pgx.ConnConfig, cb Source) string {
	switch {
	case cc.RequireAuth != "" && cc.RequireAuth != "scram-sha-256":
		return "require_auth=" + cc.RequireAuth
	case cc.ChannelBinding == "disable":
		return "channel_binding=disable"
	case cc.ChannelBinding == "prefer" && cb.Origin != "default":
		return "channel_binding=prefer (" + cb.Origin + ")"
	}
	return ""
}

func sameHost(a, b *pgconn.FallbackConfig) bool { return a.Host == b.Host && a.Port == b.Port }
