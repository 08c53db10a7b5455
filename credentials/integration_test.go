// Package credentials_test runs the providers against the test lab's real
// PostgreSQL: SCRAM authentication with the credentials they supply.
package credentials_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/hashicorp/vault/api"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/credentials/awssm"
	"github.com/securepg/securepg/credentials/rdsiam"
	"github.com/securepg/securepg/credentials/vault"
	"github.com/securepg/securepg/hooks"
	"github.com/securepg/securepg/lab"
	"github.com/securepg/securepg/lab/labtest"
	"github.com/securepg/securepg/libpq"
)

func TestMain(m *testing.M) { os.Exit(labtest.RunMain(m)) }

type fakeAPI struct {
	mu     sync.Mutex
	secret string
	calls  int
}

func (f *fakeAPI) set(s string) { f.mu.Lock(); f.secret = s; f.mu.Unlock() }

// GetSecretValue is the Secrets Manager call, answered in memory: the HTTP
// side is covered by awssm's own tests.
func (f *fakeAPI) GetSecretValue(_ context.Context, in *smGetInput, _ ...func(*smOptions)) (*smGetOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	s := f.secret
	return &smGetOutput{SecretString: &s}, nil
}

func quiet() securepg.Option { return securepg.WithLogger(slog.New(slog.DiscardHandler)) }

func dsn(c *lab.Cluster, port int, user string) string {
	return "host=localhost port=" + strconv.Itoa(port) + " user=" + user + " dbname=" + c.Database +
		" sslmode=verify-full sslrootcert=" + c.Certs.CAFile
}

func admin(t *testing.T, c *lab.Cluster, q string) {
	t.Helper()
	a, err := c.Admin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	if _, err := a.Exec(context.Background(), q).ReadAll(); err != nil {
		t.Fatal(err)
	}
}

// TestSecretsManagerRotation: the secret is rotated (server and Secrets
// Manager); the cached old secret is rejected once, the provider hears it,
// and the connection succeeds with the new one: no error reaches the
// application, no restart.
func TestSecretsManagerRotation(t *testing.T) {
	c := labtest.Shared(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			role := "sm_" + drv
			admin(t, c, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'Zq7-sm-old'", role))
			admin(t, c, fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", c.Database, role))
			api := &fakeAPI{}
			api.set(fmt.Sprintf(`{"username":%q,"password":"Zq7-sm-old","host":"localhost","port":%d}`, role, c.Port))
			conn, err := securepg.NewConnector(dsn(c, c.Port, "placeholder"), map[string]securepg.Option{"pgx": nil, "pq": libpq.Backend()}[drv], quiet(),
				securepg.WithCredentials(awssm.New(api, "prod/"+role)))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(conn)
			defer db.Close()
			db.SetMaxIdleConns(0)
			var who string
			if err := db.QueryRow("SELECT current_user").Scan(&who); err != nil || who != role {
				t.Fatalf("%q, %v", who, err)
			}
			admin(t, c, fmt.Sprintf("ALTER ROLE %s PASSWORD 'Zq7-sm-new'", role))
			api.set(fmt.Sprintf(`{"username":%q,"password":"Zq7-sm-new","host":"localhost"}`, role))
			if err := db.QueryRow("SELECT current_user").Scan(&who); err != nil {
				t.Fatalf("after rotation: %v", err)
			}
			if api.calls != 2 {
				t.Fatalf("%d secret fetches, want 2 (first, then after the rejection)", api.calls)
			}
		})
	}
}

// TestRDSIAMNeverSendsTheTokenWeakly: under a policy that allows
// sslmode=require, the RDS IAM provider still refuses, before dialing.
// With lib/pq, securepg's password protection refuses first, at
// sql.Open: a provider's password under require needs channel binding.
func TestRDSIAMNeverSendsTheTokenWeakly(t *testing.T) {
	c := labtest.Shared(t)
	relay, err := lab.NewRelay(c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			p := rdsiam.New("eu-west-1", credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "Zq7-key", ""))
			before := relay.Accepted()
			conn, err := securepg.NewConnector("host=localhost port="+relay.PortString()+" user=app dbname=app sslmode=require",
				map[string]securepg.Option{"pgx": nil, "pq": libpq.Backend()}[drv], securepg.WithMinSSLMode("require"), quiet(), securepg.WithCredentials(p))
			if drv == "pq" {
				var pe *securepg.PolicyError
				if !errors.As(err, &pe) || pe.Reason != securepg.ReasonPasswordUnverifiedServer {
					t.Fatalf("err = %v, want %s", err, securepg.ReasonPasswordUnverifiedServer)
				}
				if n, _ := relay.DialsBefore(); n != before {
					t.Fatal("the server was dialed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(conn)
			defer db.Close()
			err = db.Ping()
			var he *hooks.Error
			if !errors.As(err, &he) || he.Hook != "CredentialProvider" || !strings.Contains(err.Error(), "verify-full") {
				t.Fatalf("err = %v", err)
			}
			if n, _ := relay.DialsBefore(); n != before {
				t.Fatal("the server was dialed")
			}
		})
	}
}

// TestVaultDynamicCredentials: a role issued by the database secrets
// engine (an in-process Vault) logs in to the real server.
func TestVaultDynamicCredentials(t *testing.T) {
	c := labtest.Shared(t)
	for _, drv := range []string{"pgx", "pq"} {
		t.Run(drv, func(t *testing.T) {
			labtest.IsolateEnv(t)
			role := "v_app_" + drv
			admin(t, c, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'Zq7-vault-pw'", role))
			admin(t, c, fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", c.Database, role))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Vault-Token") != "Zq7-token" || r.URL.Path != "/v1/database/creds/app" {
					http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
					return
				}
				fmt.Fprintf(w, `{"lease_id":"database/creds/app/1","lease_duration":3600,"renewable":true,"data":{"username":%q,"password":"Zq7-vault-pw"}}`, role)
			}))
			defer srv.Close()
			cfg := api.DefaultConfig()
			cfg.Address = srv.URL
			client, err := api.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			client.SetToken("Zq7-token")
			conn, err := securepg.NewConnector(dsn(c, c.Port, "placeholder"), map[string]securepg.Option{"pgx": nil, "pq": libpq.Backend()}[drv], quiet(),
				securepg.WithCredentials(vault.NewDynamic(client, "database", "app")))
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(conn)
			defer db.Close()
			var who string
			if err := db.QueryRow("SELECT current_user").Scan(&who); err != nil || who != role {
				t.Fatalf("%q, %v", who, err)
			}
		})
	}
}
