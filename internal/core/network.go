package core

import (
	"errors"
	"net"
	"net/netip"
	"strings"
)

// Networks is an allow-list of IP ranges: the address a connection is
// made to must be in one of them. The zero value allows every address.
type Networks struct {
	prefixes []netip.Prefix
	text     string // as configured, for messages
}

// Named ranges for SECUREPG_ALLOWED_NETWORKS.
var namedNetworks = map[string][]string{
	// RFC 1918, RFC 4193 (unique local), and loopback.
	"private":  {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "127.0.0.0/8", "::1/128"},
	"loopback": {"127.0.0.0/8", "::1/128"},
}

// ParseNetworks reads a comma-separated list of CIDR ranges, single
// addresses, and the names "private" and "loopback".
func ParseNetworks(s string) (Networks, error) {
	n := Networks{text: strings.TrimSpace(s)}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if named, ok := namedNetworks[strings.ToLower(item)]; ok {
			for _, c := range named {
				n.prefixes = append(n.prefixes, netip.MustParsePrefix(c))
			}
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			if p.Addr().Zone() != "" {
				return Networks{}, errors.New("a range with a zone: " + SafeText(item))
			}
			n.prefixes = append(n.prefixes, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" {
			return Networks{}, errors.New("not a CIDR range, an address, \"private\" or \"loopback\": " + SafeText(item))
		}
		n.prefixes = append(n.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	if len(n.prefixes) == 0 {
		return Networks{}, errors.New("no range")
	}
	return n, nil
}

// Set reports whether the list restricts anything.
func (n Networks) Set() bool { return len(n.prefixes) > 0 }

// String is the list as configured.
func (n Networks) String() string { return n.text }

// Allows reports whether addr is in one of the ranges. An IPv4 address
// written as IPv6 (::ffff:10.0.0.1) is the IPv4 address.
func (n Networks) Allows(addr netip.Addr) bool {
	if !n.Set() {
		return true
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range n.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// AllowsConn checks the peer of a connection just made: the address
// actually connected to, not a name resolved again. A unix socket has no
// address and is governed by SECUREPG_ALLOW_UNIX_SOCKET instead.
func (n Networks) AllowsConn(c net.Conn) (netip.Addr, bool) {
	if !n.Set() {
		return netip.Addr{}, true
	}
	switch ra := c.RemoteAddr().(type) {
	case *net.UnixAddr:
		return netip.Addr{}, true
	case *net.TCPAddr:
		a, ok := netip.AddrFromSlice(ra.IP)
		return a, ok && n.Allows(a)
	default:
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		return ap.Addr(), err == nil && n.Allows(ap.Addr())
	}
}

// Hosts is an allow-list of host names: exact names, and patterns
// "*.suffix" that match any name below suffix (one or more labels), never
// suffix itself. Names compare without case and without a final dot. The
// zero value allows every name.
type Hosts struct {
	patterns []string
	text     string
}

// ParseHosts reads a comma-separated list of names and *.patterns.
func ParseHosts(s string) (Hosts, error) {
	h := Hosts{text: strings.TrimSpace(s)}
	for _, item := range strings.Split(s, ",") {
		item = normalHost(strings.TrimSpace(item))
		if item == "" {
			continue
		}
		rest := strings.TrimPrefix(item, "*.")
		if rest == "" || strings.ContainsAny(rest, "*/ \t") || strings.HasPrefix(rest, ".") {
			return Hosts{}, errors.New("not a host name or a *.suffix pattern: " + SafeText(item))
		}
		h.patterns = append(h.patterns, item)
	}
	if len(h.patterns) == 0 {
		return Hosts{}, errors.New("no host name")
	}
	return h, nil
}

// Set reports whether the list restricts anything.
func (h Hosts) Set() bool { return len(h.patterns) > 0 }

// String is the list as configured.
func (h Hosts) String() string { return h.text }

// Allows reports whether host matches a name or a pattern.
func (h Hosts) Allows(host string) bool {
	if !h.Set() {
		return true
	}
	host = normalHost(host)
	for _, p := range h.patterns {
		if suffix, ok := strings.CutPrefix(p, "*"); ok {
			if len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}

// normalHost folds ASCII letters only: DNS names compare without ASCII
// case, and Unicode folding would make a non-ASCII name (the Kelvin sign
// K) equal to an ASCII one that resolves elsewhere.
func normalHost(h string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, strings.TrimSuffix(h, "."))
}

// checkPeer judges the peer of a connection just made, before anything is
// sent on it, against the allowed networks: the refusal, or what audit
// mode lets through.
func checkPeer(p Policy, host string, c net.Conn) (refusal *Violation, audited []*Violation) {
	addr, ok := p.AllowedNetworks.AllowsConn(c)
	if ok {
		return nil, nil
	}
	got := c.RemoteAddr().String()
	if addr.IsValid() {
		got = addr.String()
	}
	return Decide(p, []*Violation{NetworkNotAllowed(host, got, p)})
}
