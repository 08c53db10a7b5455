package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// StartStandby makes a streaming replica of c with pg_basebackup -R (from
// the same binaries as c's pg_ctl) in a new directory, on a new port, with the same TLS
// files, roles and passwords, and starts it. The replica is a Cluster of
// its own: Stop it too. Its Certs are a copy of c's at this moment. The
// primary's pg_hba.conf gains "local replication all trust" (and c
// reloads) if it lacks it.
func (c *Cluster) StartStandby(ctx context.Context) (*Cluster, error) {
	bin, err := c.basebackupBinDir()
	if err != nil {
		return nil, err
	}
	if err := c.allowLocalReplication(ctx); err != nil {
		return nil, err
	}
	cp := *c
	s := &cp
	s.binDir = bin
	s.data = "" // until it has its own: Stop must not stop the primary
	certs := *c.Certs
	s.Certs = &certs
	if s.Dir, err = os.MkdirTemp("", "securepg-pg-standby-"); err != nil {
		return nil, err
	}
	if err := s.startStandby(ctx, c); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// startStandby makes and starts s, a copy of c; StartStandby's Stop
// removes what it made when it fails.
func (s *Cluster) startStandby(ctx context.Context, c *Cluster) error {
	if err := os.Chmod(s.Dir, 0o755); err != nil {
		return err
	}
	s.data = filepath.Join(s.Dir, "data")
	s.SocketDir = filepath.Join(s.Dir, "sock")
	serverTLS := filepath.Join(s.Dir, "server-tls")
	for _, d := range []string{s.data, s.SocketDir, serverTLS} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	own := []string{s.data, s.SocketDir, serverTLS}
	for _, name := range []string{"server.crt", "server.key", "ca.crt"} {
		b, err := os.ReadFile(filepath.Join(c.Dir, "server-tls", name))
		if err != nil {
			return err
		}
		p := filepath.Join(serverTLS, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
		own = append(own, p)
	}
	if err := s.chown(own...); err != nil {
		return err
	}
	var err error
	if s.Port, err = freePort(); err != nil {
		return err
	}
	if err := s.tool(ctx, "pg_basebackup", nil, "pg_basebackup", "-D", s.data, "-h", c.SocketDir, "-p", strconv.Itoa(c.Port),
		"-U", "postgres", "-R", "-c", "fast", "-X", "stream", "--no-sync"); err != nil {
		return err
	}
	// The copied postgresql.conf is the primary's: later lines win.
	conf := fmt.Sprintf(`
# standby
port = %d
unix_socket_directories = '%s'
ssl_cert_file = '%s'
ssl_key_file = '%s'
ssl_ca_file = '%s'
hot_standby = on
`, s.Port, s.SocketDir, filepath.Join(serverTLS, "server.crt"), filepath.Join(serverTLS, "server.key"), filepath.Join(serverTLS, "ca.crt"))
	if err := appendFile(filepath.Join(s.data, "postgresql.conf"), conf); err != nil {
		return err
	}
	if err := os.WriteFile(s.logFile(), nil, 0o644); err != nil {
		return err
	}
	if err := s.chown(s.logFile()); err != nil {
		return err
	}
	return s.tool(ctx, "pg_ctl start (standby)", []string{s.logFile()},
		"pg_ctl", "start", "-w", "-t", "60", "-D", s.data, "-l", s.logFile())
}

// basebackupBinDir is c's bin directory if pg_basebackup is there, else
// the directory pg_ctl links to (a PATH that holds links to initdb,
// pg_ctl and postgres only).
func (c *Cluster) basebackupBinDir() (string, error) {
	if _, err := os.Stat(filepath.Join(c.binDir, "pg_basebackup")); err == nil {
		return c.binDir, nil
	}
	if real, err := filepath.EvalSymlinks(filepath.Join(c.binDir, "pg_ctl")); err == nil {
		dir := filepath.Dir(real)
		if _, err := os.Stat(filepath.Join(dir, "pg_basebackup")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("lab: pg_basebackup not found beside pg_ctl in %s", c.binDir)
}

// allowLocalReplication adds "local replication all trust" to pg_hba.conf
// unless a line already allows it, and reloads.
func (c *Cluster) allowLocalReplication(ctx context.Context) error {
	hba := filepath.Join(c.data, "pg_hba.conf")
	b, err := os.ReadFile(hba)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "local" && f[1] == "replication" {
			return nil
		}
	}
	if err := appendFile(hba, "local replication all trust\n"); err != nil {
		return err
	}
	return c.Reload(ctx)
}

// Promote turns a standby into a primary (pg_ctl promote -w) and returns
// once it accepts writes.
func (c *Cluster) Promote(ctx context.Context) error {
	if out, err := c.run(ctx, "pg_ctl", "promote", "-w", "-t", "60", "-D", c.data); err != nil {
		return fmt.Errorf("lab: pg_ctl promote: %w\n%s", err, out)
	}
	return nil
}
