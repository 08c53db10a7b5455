package awssm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/securepg/securepg/hooks"
)

// fakeSM speaks the Secrets Manager GetSecretValue API on loopback.
type fakeSM struct {
	mu       sync.Mutex
	secrets  map[string]string
	requests atomic.Int32
}

func (f *fakeSM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var in struct{ SecretId string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	f.mu.Lock()
	s, ok := f.secrets[in.SecretId]
	f.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + in.SecretId,
		"Name": in.SecretId, "SecretString": s, "VersionId": "v1", "CreatedDate": 1.7e9})
}

func (f *fakeSM) set(id, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.secrets == nil {
		f.secrets = map[string]string{}
	}
	f.secrets[id] = secret
}

// newClient is a real Secrets Manager client aimed at the fake.
func newClient(t *testing.T, f *fakeSM) *secretsmanager.Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return secretsmanager.New(secretsmanager.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "Zq7-aws-secret-key", ""),
		RetryMaxAttempts: 1,
	})
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestProvider(t *testing.T) {
	f := &fakeSM{}
	f.set("prod/app", `{"username":"app","password":"Zq7-sm-1","host":"db.example.com","port":"5432","dbname":"app","engine":"postgres"}`)
	f.set("prod/numeric", `{"username":"app","password":"Zq7-sm-2","port":5432}`)
	f.set("prod/broken", `{"username":"app","password":"Zq7-sm-3"`)
	f.set("prod/nopw", `{"username":"app"}`)
	client := newClient(t, f)
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	p := New(client, "prod/app", WithTTL(time.Minute), WithClock(clk.now))
	ctx := context.Background()
	a := hooks.Attempt{Host: "db.example.com", Port: 5432, User: "app", SSLMode: "verify-full"}

	c, err := p.Credentials(ctx, a)
	if err != nil || c.User != "app" || c.Password != "Zq7-sm-1" {
		t.Fatalf("%v, %v", c, err)
	}
	s, _ := p.Secret(ctx)
	if s.Host != "db.example.com" || s.Port != 5432 || s.DBName != "app" {
		t.Fatalf("secret %v", s)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", s, s, s), "Zq7") {
		t.Fatal("a Secret renders its password")
	}
	p.Credentials(ctx, a)
	if n := f.requests.Load(); n != 1 {
		t.Fatalf("%d requests within the TTL, want 1", n)
	}
	clk.t = clk.t.Add(2 * time.Minute)
	p.Credentials(ctx, a)
	if n := f.requests.Load(); n != 2 {
		t.Fatalf("%d requests after the TTL, want 2", n)
	}
	// Rotation: the server rejected the cached secret.
	f.set("prod/app", `{"username":"app","password":"Zq7-sm-rotated","host":"db.example.com"}`)
	p.AuthFailed(ctx, a)
	if c, _ := p.Credentials(ctx, a); c.Password != "Zq7-sm-rotated" {
		t.Fatalf("after AuthFailed: %v", c)
	}
	// The secret's password never goes to another host.
	if _, err := p.Credentials(ctx, hooks.Attempt{Host: "evil.example.com"}); err == nil || !strings.Contains(err.Error(), "evil.example.com") {
		t.Fatalf("host mismatch: %v", err)
	}
	if c, err := New(client, "prod/numeric").Credentials(ctx, a); err != nil || c.Password != "Zq7-sm-2" {
		t.Fatalf("numeric port: %v, %v", c, err)
	}
	for id, want := range map[string]string{"prod/missing": "ResourceNotFoundException", "prod/broken": "not the JSON", "prod/nopw": "no password"} {
		_, err := New(client, id).Credentials(ctx, a)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "Zq7") {
			t.Errorf("%s: %v", id, err)
		}
	}
	var nf interface{ ErrorCode() string }
	if _, err := New(client, "prod/missing").Credentials(ctx, a); !errors.As(err, &nf) || nf.ErrorCode() != "ResourceNotFoundException" {
		t.Fatalf("the SDK's error is not kept: %v", err)
	}
}
