package pqconn

import (
	"context"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/securepg/securepg/internal/core"

	"github.com/lib/pq"
)

// ListenerDialer is a pq.Dialer for lib/pq's Listener and ListenerConn:
// each dial connects to the planned host at the address lib/pq asks for,
// with TLS negotiated, verified and judged as for the connector's
// connections. Name is the DSN to give lib/pq with it: the planned hosts,
// sslmode=disable (the dialer does TLS) and the configuration's own
// password (lib/pq reconnects with Name alone: no provider is asked).
type ListenerDialer struct {
	c        *PQConfig
	Name     string
	reported func(ctx context.Context, rec *core.Recorder, f core.Facts, err error) // nil: nobody hears
}

// Listener returns the dialer for lib/pq's Listener on this configuration;
// report, if not nil, hears what each dial did (in lib/pq's goroutine, or
// later for a refusal during the authentication). Name holds a password
// only where the configuration wrote one: lib/pq reads PGPASSWORD and the
// passfile itself at each connect, and a *pq.Listener prints its DSN.
func (c *PQConfig) Listener(ctx context.Context, report func(ctx context.Context, rec *core.Recorder, f core.Facts, err error)) (*ListenerDialer, error) {
	cfg := c.base.Clone()
	cfg.Passfile = c.passfile
	// The password protection: a password lib/pq would send now refuses
	// the listener (audit mode reports it at each dial, which judges again
	// what lib/pq reads for it).
	pw := cfg.Password
	if pw == "" {
		var err error
		if pw, err = pqPassfile(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if pw != "" {
		for _, t := range c.targets {
			if t.TLS == nil {
				continue
			}
			if refusal, _ := core.Pass(c.Policy, core.Check{Stage: core.StageCredential, Credential: core.CredentialUnbound, Target: t.Target}); refusal != nil {
				return nil, refusal
			}
		}
	}
	if cfg.Password != "" { // else lib/pq reads the passfile (checked at sql.Open to be a regular file)
		cfg.Passfile = noPassfile
		if !c.dsnPassword && os.Getenv("PGPASSWORD") == cfg.Password {
			cfg.Password = "" // lib/pq reads PGPASSWORD itself
		}
	}
	return &ListenerDialer{c: c, Name: c.listenerName(cfg), reported: report}, nil
}

// listenerName renders the keyword/value DSN lib/pq reconnects with,
// beside the environment as it is then. An empty service keeps a service
// file from overriding the hosts and sslmode=disable; sslnegotiation and
// sslrootcert are set because PGSSLNEGOTIATION=direct or
// PGSSLROOTCERT=system would make lib/pq refuse sslmode=disable.
func (c *PQConfig) listenerName(cfg pq.Config) string {
	var hosts, addrs, ports []string
	for _, t := range c.targets {
		hosts = append(hosts, t.PQHost)
		addrs = append(addrs, t.PQHostaddr)
		ports = append(ports, strconv.Itoa(int(t.Port)))
	}
	kv := [][2]string{
		{"host", strings.Join(hosts, ",")}, {"port", strings.Join(ports, ",")},
		{"user", cfg.User}, {"password", cfg.Password}, {"dbname", cfg.Database},
		{"sslmode", "disable"}, {"passfile", cfg.Passfile},
		{"application_name", cfg.ApplicationName},
		{"target_session_attrs", string(c.tsa)},
		{"service", ""}, {"sslnegotiation", "postgres"}, {"sslrootcert", ""},
	}
	if strings.Join(addrs, "") != "" {
		kv = append(kv, [2]string{"hostaddr", strings.Join(addrs, ",")})
	}
	if cfg.ConnectTimeout > 0 {
		kv = append(kv, [2]string{"connect_timeout", strconv.Itoa(int((cfg.ConnectTimeout + time.Second - 1) / time.Second))})
	}
	for k, v := range cfg.Runtime {
		kv = append(kv, [2]string{k, v})
	}
	var parts []string
	for _, p := range kv {
		if p[1] != "" || p[0] == "service" || p[0] == "sslrootcert" {
			parts = append(parts, p[0]+"='"+kvEscaper.Replace(p[1])+"'")
		}
	}
	return strings.Join(parts, " ")
}

var kvEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)

// Dial is DialContext without a context.
func (d *ListenerDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialTimeout is DialContext with a timeout.
func (d *ListenerDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

// DialContext connects to the planned host at address, validated.
func (d *ListenerDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	rec := core.NewRecorder()
	i := slices.IndexFunc(d.c.targets, func(t core.PQTarget) bool { return t.DialNet == network && t.DialAddr == address })
	if i < 0 {
		d.report(ctx, rec, core.Facts{}, core.ErrUnexpectedAddress)
		return nil, core.ErrUnexpectedAddress
	}
	t := &d.c.targets[i]
	rec.Attempt(t.Target)
	password, err := d.credential(ctx, t)
	if err != nil {
		d.report(ctx, rec, core.Facts{}, err)
		return nil, err
	}
	useTLS := t.TLS != nil && !t.Allow
	if password && useTLS {
		if err := d.c.passwordCheck(t, rec); err != nil {
			d.report(ctx, rec, core.Facts{}, err)
			return nil, err
		}
	}
	pd := &core.PQDialer{Net: &d.c.PQNet, Host: t, UseTLS: useTLS, Rec: rec, Outer: ctx, Listener: true, Password: password}
	pd.Late = func(f core.Facts, v *core.Violation) { // refused after this dial returned
		r := core.NewRecorder()
		r.Attempt(t.Target)
		r.Reject(v)
		d.report(context.WithoutCancel(ctx), r, f, v)
	}
	conn, err := pd.DialContext(ctx, network, address)
	var f core.Facts
	for _, s := range rec.Since(0) {
		s.Stop() // lib/pq bounds the rest of its connect itself
		f = s.Facts
	}
	d.report(ctx, rec, f, err)
	return conn, err
}

// credential reports whether lib/pq sends a password at this connect to
// t (it read it before dialing): Name's or PGPASSWORD's, else the
// passfile's entry for t, read now.
func (d *ListenerDialer) credential(ctx context.Context, t *core.PQTarget) (bool, error) {
	cfg, err := pq.NewConfig(d.Name)
	if err != nil {
		return false, err
	}
	if cfg.Password != "" {
		return true, nil
	}
	cfg.Host, cfg.Port = t.PQHost, t.Port
	pw, err := pqPassfile(ctx, cfg)
	return pw != "", err
}

func (d *ListenerDialer) report(ctx context.Context, rec *core.Recorder, f core.Facts, err error) {
	if d.reported != nil {
		d.reported(ctx, rec, f, err)
	}
}
