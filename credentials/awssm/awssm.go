// Package awssm supplies database credentials from AWS Secrets Manager, in
// the shape RDS and its rotation functions use:
//
//	{"username": "app", "password": "...", "host": "db.example.com", "port": 5432, "dbname": "app", "engine": "postgres"}
//
// The secret is cached for a TTL and fetched again at once when the server
// rejects it (after a rotation), so a rotated secret never needs a restart:
//
//	client := secretsmanager.NewFromConfig(cfg)
//	connector, err := securepg.NewConnector(dsnWithoutPassword,
//		securepg.WithCredentials(awssm.New(client, "prod/app/db")))
package awssm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/securepg/securepg/hooks"
)

// API is the part of *secretsmanager.Client the provider uses.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Secret is the usual RDS secret. Port may be a number or a string.
type Secret struct {
	Username string    `json:"username"`
	Password string    `json:"password"`
	Host     string    `json:"host"`
	Port     jsonPort  `json:"port"`
	DBName   string    `json:"dbname"`
	Engine   string    `json:"engine"`
	Fetched  time.Time `json:"-"`
}

// Format never shows the password.
func (s Secret) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "awssm.Secret{Username:%q, Host:%q, Port:%d, DBName:%q, Password:xxxxx}", s.Username, s.Host, s.Port, s.DBName)
}

type jsonPort int

func (p *jsonPort) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("port is not a number")
	}
	*p = jsonPort(n)
	return nil
}

// Provider is a hooks.CredentialProvider backed by one secret.
type Provider struct {
	api      API
	secretID string
	ttl      time.Duration
	now      func() time.Time

	mu     sync.Mutex
	cached *Secret
}

var (
	_ hooks.CredentialProvider = (*Provider)(nil)
	_ hooks.AuthFailureHandler = (*Provider)(nil)
)

// Option configures a Provider.
type Option func(*Provider)

// WithTTL sets how long a fetched secret is used (default 5 minutes).
func WithTTL(d time.Duration) Option { return func(p *Provider) { p.ttl = d } }

// WithClock sets the provider's clock, for tests.
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

// New returns a provider for the secret secretID (a name or an ARN).
func New(api API, secretID string, opts ...Option) *Provider {
	p := &Provider{api: api, secretID: secretID, ttl: 5 * time.Minute, now: time.Now}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Credentials returns the secret's username and password. A secret that
// names a host other than the one being connected to is refused: its
// password must not be sent elsewhere.
func (p *Provider) Credentials(ctx context.Context, a hooks.Attempt) (hooks.Credentials, error) {
	s, err := p.Secret(ctx)
	if err != nil {
		return hooks.Credentials{}, err
	}
	if s.Host != "" && a.Host != "" && !strings.EqualFold(s.Host, a.Host) {
		return hooks.Credentials{}, fmt.Errorf("awssm: secret %s is for host %s, not %s", p.secretID, s.Host, a.Host)
	}
	return hooks.Credentials{User: s.Username, Password: s.Password}, nil
}

// Secret returns the secret, from the cache while it is fresh.
func (p *Provider) Secret(ctx context.Context) (Secret, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cached != nil && p.now().Sub(p.cached.Fetched) < p.ttl {
		return *p.cached, nil
	}
	out, err := p.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.secretID)})
	if err != nil {
		return Secret{}, fmt.Errorf("awssm: get secret %s: %w", p.secretID, err)
	}
	var raw string
	switch {
	case out.SecretString != nil:
		raw = *out.SecretString
	case out.SecretBinary != nil:
		raw = string(out.SecretBinary)
	}
	var s Secret
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		// The JSON error would quote the secret's text.
		return Secret{}, fmt.Errorf("awssm: secret %s is not the JSON of an RDS secret", p.secretID)
	}
	if s.Password == "" {
		return Secret{}, fmt.Errorf("awssm: secret %s has no password", p.secretID)
	}
	s.Fetched = p.now()
	p.cached = &s
	return s, nil
}

// AuthFailed drops the cached secret: the server rejected it, so it was
// probably rotated.
func (p *Provider) AuthFailed(context.Context, hooks.Attempt) {
	p.mu.Lock()
	p.cached = nil
	p.mu.Unlock()
}
