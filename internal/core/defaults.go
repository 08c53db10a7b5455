package core

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ConnectTimeout is the bound on each connect, and who set it: the
// configuration's connect_timeout when it sets one (0 waits forever),
// else the policy's.
func ConnectTimeout(p Policy, src map[string]Source, configured time.Duration) (time.Duration, string) {
	if o := src["connect_timeout"].Origin; o != "" && o != "default" {
		return configured, o
	}
	return p.ConnectTimeout, p.Sources[EnvConnectTimeout]
}

// AppName is the application_name the server sees, and who set it: the
// configuration's, else the policy's, else the executable's base name.
func AppName(p Policy, src map[string]Source, configured string) (string, string) {
	if configured != "" {
		if o := src["application_name"].Origin; o != "" && o != "default" {
			return configured, o
		}
		return configured, "fallback_application_name"
	}
	if p.ApplicationName != "" {
		return serverName63(p.ApplicationName), p.Sources[EnvAppName]
	}
	exe, err := os.Executable()
	if err != nil {
		return "", ""
	}
	return serverName63(filepath.Base(exe)), SourceExecutable
}

// SourceExecutable is the AppNameSource of a plan whose application_name nobody set.
const SourceExecutable = "the executable's name"

// serverName63 is name as the server keeps it: printable ASCII (the
// server turns anything else into '?'), at most 63 bytes.
func serverName63(name string) string {
	var b strings.Builder
	for _, r := range name {
		if b.Len() >= 63 {
			break
		}
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
