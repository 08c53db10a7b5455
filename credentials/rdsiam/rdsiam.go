// Package rdsiam supplies RDS IAM authentication tokens: a fresh 15-minute
// token, signed with AWS credentials, for every new connection.
//
// The token is sent to the server as a cleartext password, so the provider
// refuses to run for a connection weaker than sslmode=verify-full: anyone
// who could read it could log in for 15 minutes.
//
//	connector, err := securepg.NewConnector(
//		"host=db.abc.eu-west-1.rds.amazonaws.com user=app dbname=app sslmode=verify-full sslrootcert=rds-ca.pem",
//		securepg.WithCredentials(rdsiam.New("eu-west-1", cfg.Credentials)))
//
// A token is checked only when a connection is made: connections outlive
// it, and are not recycled because of it.
package rdsiam

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"

	"github.com/securepg/securepg/hooks"
)

// TokenLifetime is how long an RDS IAM token is valid.
const TokenLifetime = 15 * time.Minute

// Provider is a hooks.CredentialProvider of RDS IAM tokens.
type Provider struct {
	region string
	creds  aws.CredentialsProvider
}

var _ hooks.CredentialProvider = (*Provider)(nil)

// New returns a provider that signs tokens for region with creds.
func New(region string, creds aws.CredentialsProvider) *Provider {
	return &Provider{region: region, creds: creds}
}

// Credentials builds a token for the attempt's host, port and user.
func (p *Provider) Credentials(ctx context.Context, a hooks.Attempt) (hooks.Credentials, error) {
	if a.SSLMode != "verify-full" {
		return hooks.Credentials{}, fmt.Errorf("rdsiam: refusing to send an IAM token over sslmode=%s: it is a cleartext password; use sslmode=verify-full", a.SSLMode)
	}
	if a.Host == "" || a.User == "" {
		return hooks.Credentials{}, fmt.Errorf("rdsiam: the DSN needs a host and a user")
	}
	port := a.Port
	if port == 0 {
		port = 5432
	}
	token, err := auth.BuildAuthToken(ctx, net.JoinHostPort(a.Host, strconv.Itoa(port)), p.region, a.User, p.creds)
	if err != nil {
		return hooks.Credentials{}, fmt.Errorf("rdsiam: %w", err)
	}
	return hooks.Credentials{Password: token}, nil
}
