package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/securepg/securepg/hooks"
)

const token = "Zq7-vault-token"

// fakeVault speaks the parts of Vault's HTTP API the providers use.
type fakeVault struct {
	mu         sync.Mutex
	kv         map[string]map[string]any // path -> data
	user, pw   string
	lease      int // seconds
	renewable  bool
	renewTo    int // seconds a renewal grants; 0 = renewal fails
	reads      atomic.Int32
	renews     atomic.Int32
	dynamicSeq atomic.Int32
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("X-Vault-Token") != token {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"errors":["permission denied"]}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/secret/data/"):
		f.reads.Add(1)
		data, ok := f.kv[strings.TrimPrefix(r.URL.Path, "/v1/secret/data/")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[]}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"data": data,
			"metadata": map[string]any{"version": 3, "created_time": "2026-11-27T00:00:00Z", "destroyed": false}}})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/database/creds/app":
		f.reads.Add(1)
		n := f.dynamicSeq.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"lease_id": fmt.Sprintf("database/creds/app/lease%d", n),
			"lease_duration": f.lease, "renewable": f.renewable, "data": map[string]any{"username": f.user, "password": f.pw}})
	case r.Method == http.MethodPut && r.URL.Path == "/v1/sys/leases/renew":
		f.renews.Add(1)
		var in struct {
			LeaseID   string `json:"lease_id"`
			Increment int    `json:"increment"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		if f.renewTo == 0 || !strings.HasPrefix(in.LeaseID, "database/creds/app/") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"errors":["lease not found or lease is not renewable"]}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"lease_id": in.LeaseID, "lease_duration": f.renewTo, "renewable": true})
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"errors":[]}`)
	}
}

func newClient(t *testing.T, f *fakeVault, tok string) *api.Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := api.DefaultConfig()
	cfg.Address = srv.URL
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok)
	return c
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestKV(t *testing.T) {
	f := &fakeVault{kv: map[string]map[string]any{
		"app/db":   {"username": "app", "password": "Zq7-kv-1"},
		"app/nopw": {"username": "app"},
	}}
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	kv := NewKV(newClient(t, f, token), "secret", "app/db").WithTTL(time.Minute)
	kv.now = clk.now
	c, err := kv.Credentials(ctx, hooks.Attempt{})
	if err != nil || c.User != "app" || c.Password != "Zq7-kv-1" {
		t.Fatalf("%v, %v", c, err)
	}
	kv.Credentials(ctx, hooks.Attempt{})
	if f.reads.Load() != 1 {
		t.Fatalf("%d reads within the TTL", f.reads.Load())
	}
	f.kv["app/db"]["password"] = "Zq7-kv-2"
	kv.AuthFailed(ctx, hooks.Attempt{})
	if c, _ := kv.Credentials(ctx, hooks.Attempt{}); c.Password != "Zq7-kv-2" {
		t.Fatalf("after AuthFailed: %v", c)
	}
	clk.t = clk.t.Add(2 * time.Minute)
	kv.Credentials(ctx, hooks.Attempt{})
	if f.reads.Load() != 3 {
		t.Fatalf("%d reads after the TTL", f.reads.Load())
	}
	for _, tc := range []struct {
		kv   *KV
		want string
	}{
		{NewKV(newClient(t, f, token), "secret", "app/nopw"), "no password"},
		{NewKV(newClient(t, f, token), "secret", "app/missing"), "secret/app/missing"},
		{NewKV(newClient(t, f, "wrong-token"), "secret", "app/db"), "permission denied"},
	} {
		_, err := tc.kv.Credentials(ctx, hooks.Attempt{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "Zq7") {
			t.Errorf("want an error with %q: %v", tc.want, err)
		}
	}
}

func TestDynamicLease(t *testing.T) {
	f := &fakeVault{user: "v-app-1", pw: "Zq7-dyn", lease: 3600, renewable: true, renewTo: 3600}
	ctx := context.Background()
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	d := NewDynamic(newClient(t, f, token), "database", "app")
	d.now = clk.now

	c, err := d.Credentials(ctx, hooks.Attempt{})
	if err != nil || c.User != "v-app-1" || c.Password != "Zq7-dyn" || !c.Expires.Equal(clk.t.Add(time.Hour)) {
		t.Fatalf("%v, %v", c, err)
	}
	if d.LeaseID() != "database/creds/app/lease1" {
		t.Fatalf("lease %q", d.LeaseID())
	}
	// Within the first half of the lease: the same credentials.
	clk.t = clk.t.Add(20 * time.Minute)
	if c2, _ := d.Credentials(ctx, hooks.Attempt{}); c2.Expires != c.Expires || f.reads.Load() != 1 || f.renews.Load() != 0 {
		t.Fatalf("reads %d renews %d", f.reads.Load(), f.renews.Load())
	}
	// Past half: renewed, and the expiry moves.
	clk.t = clk.t.Add(20 * time.Minute)
	c3, err := d.Credentials(ctx, hooks.Attempt{})
	if err != nil || f.renews.Load() != 1 || f.reads.Load() != 1 || !c3.Expires.Equal(clk.t.Add(time.Hour)) {
		t.Fatalf("after renewal: %v %v reads %d renews %d", c3, err, f.reads.Load(), f.renews.Load())
	}
	// A renewal that fails: new credentials.
	f.renewTo = 0
	f.user = "v-app-2"
	clk.t = clk.t.Add(40 * time.Minute)
	c4, err := d.Credentials(ctx, hooks.Attempt{})
	if err != nil || c4.User != "v-app-2" || d.LeaseID() != "database/creds/app/lease2" {
		t.Fatalf("after a failed renewal: %v, %v", c4, err)
	}
	// Not renewable and about to end: new credentials.
	f.renewable = false
	f.user = "v-app-3"
	d.AuthFailed(ctx, hooks.Attempt{})
	c5, _ := d.Credentials(ctx, hooks.Attempt{})
	clk.t = c5.Expires.Add(-30 * time.Second)
	f.user = "v-app-4"
	if c6, _ := d.Credentials(ctx, hooks.Attempt{}); c6.User != "v-app-4" {
		t.Fatalf("a lease ending within a minute was reused: %v", c6)
	}
	if _, err := NewDynamic(newClient(t, f, "wrong"), "database", "app").Credentials(ctx, hooks.Attempt{}); err == nil ||
		!strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), "Zq7") {
		t.Fatalf("permission error: %v", err)
	}
	if _, err := NewDynamic(newClient(t, f, token), "database", "nope").Credentials(ctx, hooks.Attempt{}); err == nil {
		t.Fatal("unknown role accepted")
	}
}
