package securepg

import (
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The DSN builder's checks: what a DSN may hold, validated before it is
// rendered; errors name fields and keys, never values.

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

func dsnError(msg string) error { return errors.New("securepg: DSN." + msg) }

// settings validates d and returns the settings a driver must read from
// its rendering, keyed as securepg's readers key them (database for
// dbname).
func (d DSN) settings() (map[string]string, error) {
	for _, t := range [][2]string{
		{"Host", d.Host}, {"Database", d.Database}, {"User", d.User}, {"Password", d.Password},
		{"SSLMode", d.SSLMode}, {"RootCert", d.RootCert}, {"ClientCert", d.ClientCert}, {"ClientKey", d.ClientKey},
	} {
		if err := checkText(t[0], t[1]); err != nil {
			return nil, err
		}
	}
	if hostKindOf(d.Host) == hostInvalid {
		return nil, dsnError("Host is not a host name (ASCII letters, digits, '.', '-', '_'), an IP address without brackets, or an absolute unix-socket directory without ','")
	}
	if d.Port < 0 || d.Port > 65535 {
		return nil, dsnError("Port is out of range (1-65535, or 0 for the default)")
	}
	if d.SSLMode != "" && !slices.Contains(sslModes, d.SSLMode) {
		return nil, dsnError("SSLMode is not one of " + strings.Join(sslModes, ", ") + " (or empty for verify-full)")
	}
	if d.RootCert == "system" && d.sslMode() != "verify-full" {
		return nil, dsnError(`RootCert "system" requires SSLMode verify-full (pgx would raise the mode, lib/pq refuses the DSN)`)
	}
	if (d.ClientCert == "") != (d.ClientKey == "") {
		return nil, dsnError("ClientCert and ClientKey go together: set both or neither")
	}
	for _, k := range slices.Sorted(maps.Keys(d.Params)) {
		if !paramKey(k) {
			return nil, dsnError("Params has a key that is not made of ASCII letters, digits, '_' and '.' (the key is not shown)")
		}
		if fieldKeys[strings.ToLower(k)] {
			return nil, dsnError("Params[" + strconv.Quote(k) + "] repeats a setting that a field of DSN writes; set the field")
		}
		if why, ok := redirectKeys[strings.ToLower(k)]; ok {
			return nil, dsnError("Params[" + strconv.Quote(k) + "] is refused: it " + why + "; set Host, Port and the other fields instead")
		}
		v := d.Params[k]
		if v == "" {
			return nil, dsnError("Params[" + strconv.Quote(k) + "] is empty; leave the key out (lib/pq drops an empty URL parameter, pgx keeps it)")
		}
		if err := checkText("Params["+strconv.Quote(k)+"]", v); err != nil {
			return nil, err
		}
	}
	want := map[string]string{}
	for _, s := range d.written() {
		k := s.key
		if k == "dbname" {
			k = "database"
		}
		want[k] = s.value
	}
	return want, nil
}

func checkText(field, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return dsnError(field + " holds a NUL byte, which no PostgreSQL connection string can carry")
	}
	if !utf8.ValidString(v) {
		return dsnError(field + " is not valid UTF-8 (lib/pq would read it differently from pgx)")
	}
	return nil
}

// paramKey reports a key the drivers and securepg read alike and that
// cannot end a value early: ASCII letters, digits, '_' and '.', not
// starting with a digit.
func paramKey(k string) bool {
	return plainChars(k, "_.") && (k[0] < '0' || k[0] > '9')
}

type hostKind int

const (
	hostNone hostKind = iota
	hostName
	hostIPv4
	hostIPv6
	hostSocket
	hostInvalid
)

func hostKindOf(h string) hostKind {
	switch {
	case h == "":
		return hostNone
	case h[0] == '/':
		// Both drivers split a host list on ','; the rest is a path.
		if strings.Contains(h, ",") {
			return hostInvalid
		}
		return hostSocket
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Is4() {
			return hostIPv4
		}
		if z := a.Zone(); z != "" && !plainChars(z, ".-_") {
			return hostInvalid
		}
		return hostIPv6
	}
	if len(h) > 253 || !plainChars(h, ".-_") {
		return hostInvalid
	}
	return hostName
}

// plainChars reports a non-empty s of ASCII letters, digits and extra.
func plainChars(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return s != ""
}
