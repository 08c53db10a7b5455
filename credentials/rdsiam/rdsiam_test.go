package rdsiam

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/securepg/securepg/hooks"
)

var creds = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "Zq7-rds-secret-key", "")

func TestRefusesWeakerThanVerifyFull(t *testing.T) {
	p := New("eu-west-1", creds)
	for _, mode := range []string{"disable", "prefer", "require", "verify-ca", ""} {
		_, err := p.Credentials(context.Background(), hooks.Attempt{Host: "db", Port: 5432, User: "app", SSLMode: mode})
		if err == nil || !strings.Contains(err.Error(), "verify-full") {
			t.Errorf("sslmode=%q: %v", mode, err)
		}
	}
}

// TestTokenIsTheSDKsPresignedURL checks the token's format and re-signs it
// with the SDK's own v4 presigner at the token's time: the same URL must
// come out.
func TestTokenIsTheSDKsPresignedURL(t *testing.T) {
	p := New("eu-west-1", creds)
	c, err := p.Credentials(context.Background(), hooks.Attempt{Host: "db.abc.eu-west-1.rds.amazonaws.com", Port: 5432, User: "app", SSLMode: "verify-full"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Expires.IsZero() || c.User != "" {
		t.Fatalf("credentials %v", c)
	}
	token := c.Password
	if !strings.HasPrefix(token, "db.abc.eu-west-1.rds.amazonaws.com:5432?") {
		t.Fatalf("token %q does not start with host:port?", token)
	}
	u, err := url.Parse("https://" + token)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{"Action": "connect", "DBUser": "app", "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
		"X-Amz-Expires": "900", "X-Amz-SignedHeaders": "host"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if !regexp.MustCompile(`^AKIDEXAMPLE/\d{8}/eu-west-1/rds-db/aws4_request$`).MatchString(q.Get("X-Amz-Credential")) {
		t.Errorf("credential scope %q", q.Get("X-Amz-Credential"))
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(q.Get("X-Amz-Signature")) {
		t.Errorf("signature %q", q.Get("X-Amz-Signature"))
	}
	if strings.Contains(token, "Zq7") {
		t.Fatal("the secret key is in the token")
	}
	at, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "https://db.abc.eu-west-1.rds.amazonaws.com:5432", nil)
	req.URL.RawQuery = "Action=connect&DBUser=app&X-Amz-Expires=900"
	cr, _ := creds.Retrieve(context.Background())
	resigned, _, err := v4.NewSigner().PresignHTTP(context.Background(), cr, req,
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "rds-db", "eu-west-1", at)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimPrefix(resigned, "https://") != token {
		t.Fatalf("token\n %s\nthe SDK presigns\n %s", token, resigned)
	}
}
