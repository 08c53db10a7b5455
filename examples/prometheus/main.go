// Command prometheus shows securepg's metrics as Prometheus scrapes them.
// It starts a throwaway PostgreSQL with TLS on 127.0.0.1, opens a DSN that
// the policy refuses and one that it accepts, registers the pool metrics,
// and prints the securepg and db_client lines of a /metrics scrape:
// among them the policy violation counter and the certificate expiry
// gauge.
//
//	go run ./examples/prometheus      (from this folder: go run .)
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/securepg/securepg"
	"github.com/securepg/securepg/lab"
	securepgotel "github.com/securepg/securepg/otel"
)

func main() { os.Exit(run(context.Background(), os.Stdout, os.Stderr)) }

func run(ctx context.Context, stdout, stderr io.Writer) int {
	if err := scrape(ctx, stdout); err != nil {
		fmt.Fprintln(stderr, "prometheus example:", err)
		return 1
	}
	return 0
}

func scrape(ctx context.Context, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cluster, err := lab.Start(ctx, func(s string) { fmt.Fprintln(w, "#", s) })
	if err != nil {
		return err
	}
	defer cluster.Stop()

	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.Background())
	opts := []securepg.Option{securepg.WithMeterProvider(mp), securepg.WithMinSSLMode("verify-full")}

	// A DSN the policy refuses: counted, nothing dialed.
	_, err = securepg.NewConnector(cluster.DSN("sslmode=prefer"), opts...)
	if !errors.Is(err, securepg.ErrPolicyViolation) {
		return fmt.Errorf("sslmode=prefer was not refused: %v", err)
	}
	fmt.Fprintln(w, "# refused:", err)

	// One it accepts.
	c, err := securepg.NewConnector(cluster.DSN("sslmode=verify-full", "sslrootcert="+cluster.Certs.CAFile), opts...)
	if err != nil {
		return err
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	registration, err := securepgotel.RegisterDBStats(db, securepgotel.WithMeterProvider(mp))
	if err != nil {
		return err
	}
	defer registration.Unregister()

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintln(w, "# GET /metrics, securepg's lines:")
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if strings.HasPrefix(name, "securepg_") || strings.HasPrefix(name, "db_client_") {
			fmt.Fprintln(w, line)
		}
	}
	return sc.Err()
}
