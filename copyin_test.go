package securepg_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
)

// TestPQCopyInRealServer: COPY FROM STDIN through securepg-pq against the
// lab's server, with the session framed and the copy's answers checked
// (TestAttack11CopyInCrashesTheProcess): many rows and values over 64 KiB
// go through, and a constraint the server enforces fails the copy with the
// server's error, the connection still usable.
func TestPQCopyInRealServer(t *testing.T) {
	l := getLab(t)
	isolateEnv(t)
	db, err := sql.Open(driverName("pq"), verifiedDSN(l.Cluster))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	copyRows := func(rows []string) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "CREATE TEMP TABLE copy_t (a text CHECK (a <> 'bad')) ON COMMIT DROP"); err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, "COPY copy_t (a) FROM STDIN")
		if err != nil {
			return err
		}
		for _, r := range rows {
			if _, err := st.ExecContext(ctx, r); err != nil {
				st.Close()
				return err
			}
		}
		if _, err := st.ExecContext(ctx); err != nil {
			st.Close()
			return err
		}
		if err := st.Close(); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM copy_t").Scan(&n); err != nil {
			return err
		}
		if n != len(rows) {
			t.Errorf("copied %d rows, want %d", n, len(rows))
		}
		return tx.Commit()
	}
	rows := make([]string, 2000)
	for i := range rows {
		rows[i] = "row"
	}
	rows[7] = strings.Repeat("x", 100<<10)
	if err := copyRows(rows); err != nil {
		t.Fatalf("a copy of %d rows: %v", len(rows), err)
	}
	rows[1500] = "bad"
	if err := copyRows(rows); err == nil || !strings.Contains(err.Error(), "check constraint") {
		t.Fatalf("a copy the server refuses: %v, want its check constraint error", err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("after the refused copy: %v", err)
	}
}
