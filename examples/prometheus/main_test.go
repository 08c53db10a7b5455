package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/securepg/securepg/lab"

	"github.com/securepg/securepg/lab/labtest"
)

func TestScrapeShowsViolationsAndExpiry(t *testing.T) {
	if _, err := lab.FindBinDir(); errors.Is(err, lab.ErrNoPostgres) {
		labtest.Unavailable(t, err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	s := out.String()
	for _, re := range []string{
		`(?m)^securepg_policy_violations_total\{.*securepg_policy_outcome="refused".*securepg_policy_reason="plaintext_fallback".*\} 1$`,
		`(?m)^securepg_tls_server_certificate_time_to_expiry_seconds\{.*server_address="localhost".*\} [0-9.e+]+$`,
		`(?m)^securepg_connection_attempts_total\{.*securepg_policy_outcome="allowed".*\} 1$`,
		`(?m)^db_client_connection_count\{.*db_client_connection_state="idle".*\} 1$`,
		`(?m)^db_client_connection_create_time_seconds_count\{.*\} 1$`,
	} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("scrape lacks %s", re)
		}
	}
	if strings.Contains(s, "password=") {
		t.Error("the output shows a DSN")
	}
	if testing.Verbose() {
		os.Stdout.WriteString(s)
	}
}
