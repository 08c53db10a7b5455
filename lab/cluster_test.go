package lab_test

import (
	"context"
	"os"
	"testing"

	"github.com/securepg/securepg/lab/labtest"
)

func TestMain(m *testing.M) { os.Exit(labtest.RunMain(m)) }

func TestClusterServesTLS(t *testing.T) {
	c := labtest.Shared(t)
	admin, err := c.Admin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	res, err := admin.Exec(context.Background(), "SHOW ssl").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res[0].Rows[0][0]); got != "on" {
		t.Fatalf("ssl = %q, want on", got)
	}
}
