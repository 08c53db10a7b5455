package core

import (
	"cmp"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
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
	return slices.ContainsFunc(n.prefixes, func(p netip.Prefix) bool { return p.Contains(addr) })
}

// Hosts is an allow-list of host names: exact names, and patterns
// "*.suffix" that match any name below suffix, never suffix itself. Names
// compare without case and without a final dot. A unix socket directory
// (an absolute path, or lib/pq's @abstract name) matches only a listed
// one, exactly but for a final slash. The zero value allows every name.
type Hosts struct {
	patterns []string
	text     string
}

// ParseHosts reads a comma-separated list of names, *.patterns and
// socket directories (absolute paths).
func ParseHosts(s string) (Hosts, error) {
	h := Hosts{text: strings.TrimSpace(s)}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if isSocketDir(item) {
			// Compared exactly (paths have case), never as a pattern.
			if strings.ContainsAny(item, "*") {
				return Hosts{}, errors.New("a socket directory with a pattern: " + SafeText(item))
			}
			h.patterns = append(h.patterns, socketDir(item))
			continue
		}
		item = normalHost(item)
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
	if isSocketDir(host) {
		return slices.Contains(h.patterns, socketDir(host))
	}
	host = normalHost(host)
	return slices.ContainsFunc(h.patterns, func(p string) bool {
		if suffix, ok := strings.CutPrefix(p, "*"); ok {
			return len(host) > len(suffix) && strings.HasSuffix(host, suffix)
		}
		return host == p && !isSocketDir(p)
	})
}

// isSocketDir reports whether a host is a unix socket directory: an
// absolute path, or lib/pq's abstract namespace (@name).
func isSocketDir(h string) bool { return strings.HasPrefix(h, "/") || strings.HasPrefix(h, "@") }

// socketDir is a socket directory without a final slash ("/tmp/" is
// "/tmp"); nothing else is changed, so a path matches only as written.
func socketDir(h string) string {
	if len(h) > 1 && strings.HasPrefix(h, "/") {
		return strings.TrimRight(h, "/")
	}
	return h
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

// DialedAddr is the IP address of a dial address ("10.0.0.1:5432",
// "[::1]:5432", or a bare address), or the zero Addr for a host name.
func DialedAddr(address string) netip.Addr {
	host := address
	if h, _, err := net.SplitHostPort(address); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// isLoopback reports whether a is in 127.0.0.0/8 or is ::1, IPv4 written
// as IPv6 included.
func isLoopback(a netip.Addr) bool { return a.IsValid() && a.Unmap().IsLoopback() }

// loopbackHost reports whether host names this machine: localhost, or a
// loopback address.
func loopbackHost(host string) bool {
	a, err := netip.ParseAddr(host)
	return strings.EqualFold(host, "localhost") || err == nil && isLoopback(a)
}

// LoopbackPermit reports whether t's sslmode is below the minimum and
// only SECUREPG_ALLOW_LOOPBACK_PLAINTEXT lets it through: the address it
// dials must then be loopback. A name is judged once resolved; an address
// outside loopback is refused at once.
func LoopbackPermit(p Policy, t Target) bool {
	if !p.AllowLoopbackPlaintext || t.Network != "tcp" || t.Custom || t.Mode >= p.MinSSLMode {
		return false
	}
	a, err := netip.ParseAddr(cmp.Or(t.Hostaddr, t.Host))
	return err != nil || isLoopback(a)
}

// JudgeAddress judges addr, the exact address t is about to be dialed at
// (or its peer), before anything is sent: SECUREPG_ALLOWED_NETWORKS, and
// loopback where only SECUREPG_ALLOW_LOOPBACK_PLAINTEXT permits t's
// sslmode. text is the address as the dialer has it, for messages when
// addr is not an IP address (a name, refused where a rule applies).
func JudgeAddress(p Policy, t Target, addr netip.Addr, text string) []*Violation {
	if t.Network == "unix" {
		return nil
	}
	got := text
	if addr.IsValid() {
		got = addr.String()
	}
	var out []*Violation
	if p.AllowedNetworks.Set() && !(addr.IsValid() && p.AllowedNetworks.Allows(addr)) {
		out = append(out, NetworkNotAllowed(t.Addr(), got, p))
	}
	if LoopbackPermit(p, t) && !isLoopback(addr) {
		out = append(out, notLoopback(t, got, p))
	}
	return out
}

// CheckAddress judges the address a dial is about to connect to: the
// refusal, what audit mode lets through, and whether it is loopback.
func CheckAddress(p Policy, t Target, network, address string) (refusal *Violation, audited []*Violation, loopback bool) {
	if network == "unix" {
		return nil, nil, false
	}
	a := DialedAddr(address)
	refusal, audited = Pass(p, Check{Stage: StageAddress, Target: t, Addr: a, AddrText: address})
	return refusal, audited, isLoopback(a)
}

// DialControl is a net.Dialer Control for a dial securepg makes without a
// driver (securepg probe): it judges each resolved address and refuses
// what the policy refuses before the SYN leaves.
func DialControl(p Policy, t Target) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if refusal, _, _ := CheckAddress(p, t, network, address); refusal != nil {
			return refusal
		}
		return nil
	}
}

// CheckPeer judges the peer of a connection just made (a DialFunc may dial
// through a proxy) before anything is sent: the refusal (audit mode's
// were reported at the dial), and whether the peer is loopback.
func CheckPeer(p Policy, t Target, c net.Conn) (refusal *Violation, loopback bool) {
	ra := c.RemoteAddr()
	if _, ok := ra.(*net.UnixAddr); ok || t.Network == "unix" {
		return nil, false
	}
	var a netip.Addr
	text := "unknown" // a connection without a remote address: judged as no address
	if ta, ok := ra.(*net.TCPAddr); ok && ta != nil {
		a, _ = netip.AddrFromSlice(ta.IP)
		a = a.Unmap()
		text = ta.String()
	} else if ra != nil && !ok {
		text = ra.String()
		a = DialedAddr(text)
	}
	refusal, _ = Pass(p, Check{Stage: StageAddress, Target: t, Addr: a, AddrText: text})
	return refusal, isLoopback(a)
}
