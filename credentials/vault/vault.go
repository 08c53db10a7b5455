// Package vault supplies database credentials from HashiCorp Vault: a KV
// version 2 secret, or dynamic credentials from the database secrets
// engine, whose lease is renewed while it can be and whose connections are
// recycled before it ends.
//
//	client, _ := api.NewClient(api.DefaultConfig()) // VAULT_ADDR, VAULT_TOKEN
//	connector, err := securepg.NewConnector(dsnWithoutPassword,
//		securepg.WithCredentials(vault.NewDynamic(client, "database", "app-rw")))
package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/securepg/securepg/hooks"
)

// KV reads username and password from a KV version 2 secret, cached for a
// TTL and read again when the server rejects them.
type KV struct {
	client      *api.Client
	mount, path string
	ttl         time.Duration
	now         func() time.Time

	mu      sync.Mutex
	cached  *hooks.Credentials
	fetched time.Time
}

var (
	_ hooks.CredentialProvider = (*KV)(nil)
	_ hooks.AuthFailureHandler = (*KV)(nil)
	_ hooks.CredentialProvider = (*Dynamic)(nil)
	_ hooks.AuthFailureHandler = (*Dynamic)(nil)
)

// NewKV returns a provider for the secret at path under the KV v2 mount
// (e.g. "secret", "prod/app/db"). Its data needs "username" and
// "password" keys.
func NewKV(client *api.Client, mount, path string) *KV {
	return &KV{client: client, mount: mount, path: path, ttl: 5 * time.Minute, now: time.Now}
}

// WithTTL sets how long a read secret is used (default 5 minutes).
func (k *KV) WithTTL(d time.Duration) *KV { k.ttl = d; return k }

// Credentials implements hooks.CredentialProvider.
func (k *KV) Credentials(ctx context.Context, _ hooks.Attempt) (hooks.Credentials, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cached != nil && k.now().Sub(k.fetched) < k.ttl {
		return *k.cached, nil
	}
	s, err := k.client.KVv2(k.mount).Get(ctx, k.path)
	if err != nil {
		return hooks.Credentials{}, fmt.Errorf("vault: read %s/%s: %w", k.mount, k.path, redact(err))
	}
	c, err := fromData(s.Data, k.mount+"/"+k.path)
	if err != nil {
		return hooks.Credentials{}, err
	}
	k.cached, k.fetched = &c, k.now()
	return c, nil
}

// AuthFailed drops the cached secret.
func (k *KV) AuthFailed(context.Context, hooks.Attempt) {
	k.mu.Lock()
	k.cached = nil
	k.mu.Unlock()
}

// Dynamic obtains credentials from the database secrets engine
// (GET {mount}/creds/{role}). One lease serves every new connection while
// it lasts; past half its duration it is renewed, and when it cannot be
// renewed (or ends within a minute) new credentials are obtained.
// Connections carry the lease's end as their Expires, so securepg stops
// reusing them before the credentials are revoked.
type Dynamic struct {
	client      *api.Client
	mount, role string
	now         func() time.Time

	mu        sync.Mutex
	creds     *hooks.Credentials
	leaseID   string
	renewable bool
	issued    time.Time
	duration  time.Duration
}

// NewDynamic returns a provider for role under the database engine mount.
func NewDynamic(client *api.Client, mount, role string) *Dynamic {
	return &Dynamic{client: client, mount: mount, role: role, now: time.Now}
}

// Credentials implements hooks.CredentialProvider.
func (d *Dynamic) Credentials(ctx context.Context, _ hooks.Attempt) (hooks.Credentials, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if d.creds != nil {
		end := d.issued.Add(d.duration)
		switch {
		case end.Sub(now) > d.duration/2:
			return *d.creds, nil
		case d.renewable && end.Sub(now) > time.Minute:
			if err := d.renew(ctx, now); err == nil {
				return *d.creds, nil
			}
			// A lease that cannot be renewed is replaced below.
		case end.Sub(now) > time.Minute:
			return *d.creds, nil
		}
	}
	s, err := d.client.Logical().ReadWithContext(ctx, d.mount+"/creds/"+d.role)
	if err != nil {
		return hooks.Credentials{}, fmt.Errorf("vault: read %s/creds/%s: %w", d.mount, d.role, redact(err))
	}
	if s == nil {
		return hooks.Credentials{}, fmt.Errorf("vault: %s/creds/%s: no such role", d.mount, d.role)
	}
	c, err := fromData(s.Data, d.mount+"/creds/"+d.role)
	if err != nil {
		return hooks.Credentials{}, err
	}
	d.leaseID, d.renewable, d.issued = s.LeaseID, s.Renewable, now
	d.duration = time.Duration(s.LeaseDuration) * time.Second
	if d.duration > 0 {
		c.Expires = now.Add(d.duration)
	}
	d.creds = &c
	return c, nil
}

func (d *Dynamic) renew(ctx context.Context, now time.Time) error {
	s, err := d.client.Sys().RenewWithContext(ctx, d.leaseID, int(d.duration/time.Second))
	if err != nil {
		return err
	}
	if s.LeaseDuration <= 0 {
		return errors.New("vault: the renewal gave no time")
	}
	d.issued, d.duration, d.renewable = now, time.Duration(s.LeaseDuration)*time.Second, s.Renewable
	c := *d.creds
	c.Expires = now.Add(d.duration)
	d.creds = &c
	return nil
}

// AuthFailed drops the lease's credentials: the next connection gets new
// ones.
func (d *Dynamic) AuthFailed(context.Context, hooks.Attempt) {
	d.mu.Lock()
	d.creds = nil
	d.mu.Unlock()
}

// LeaseID is the current lease, "" before the first connection.
func (d *Dynamic) LeaseID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.leaseID
}

func fromData(data map[string]any, where string) (hooks.Credentials, error) {
	user, _ := data["username"].(string)
	pw, _ := data["password"].(string)
	if pw == "" {
		return hooks.Credentials{}, fmt.Errorf("vault: %s has no password", where)
	}
	return hooks.Credentials{User: user, Password: pw}, nil
}

// redact keeps Vault's error but not a request URL's token, should one
// ever appear in it.
func redact(err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("status %d: %s", re.StatusCode, strings.Join(re.Errors, "; "))
	}
	return err
}
