package core

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestNetworks(t *testing.T) {
	n, err := ParseNetworks(" 10.0.0.0/8, fd00::/8 ,192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "::ffff:10.1.2.3": true, "fd00::1": true, "192.0.2.7": true, "::ffff:192.0.2.7": true,
		"11.0.0.1": false, "127.0.0.1": false, "::1": false, "fe80::1%eth0": false, "192.0.2.8": false,
		"fc00::1": false, "::ffff:11.0.0.1": false, "0.0.0.0": false, "::": false,
	} {
		if got := n.Allows(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: allowed %v, want %v", addr, got, want)
		}
	}
	private, err := ParseNetworks("private")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.0.0.1": true, "172.16.0.1": true, "172.31.255.255": true, "172.32.0.1": false, "192.168.1.1": true,
		"127.0.0.1": true, "::1": true, "fd12::1": true, "fc00::1": true, "8.8.8.8": false, "2001:db8::1": false,
		"169.254.169.254": false, // link-local (cloud metadata) is not private
	} {
		if got := private.Allows(netip.MustParseAddr(addr)); got != want {
			t.Errorf("private %s: allowed %v, want %v", addr, got, want)
		}
	}
	loop, _ := ParseNetworks("LOOPBACK")
	if !loop.Allows(netip.MustParseAddr("127.8.9.10")) || loop.Allows(netip.MustParseAddr("10.0.0.1")) {
		t.Error("loopback")
	}
	if (Networks{}).Allows(netip.MustParseAddr("8.8.8.8")) != true {
		t.Error("the zero value must allow everything")
	}
	for _, bad := range []string{"", ",", "10.0.0.0/33", "example.com", "10.0.0.1/8/8", "fe80::1%eth0/64", "*", "10.0.0.0/8,nope"} {
		if _, err := ParseNetworks(bad); err == nil {
			t.Errorf("ParseNetworks(%q) accepted", bad)
		}
	}
}

func TestHosts(t *testing.T) {
	h, err := ParseHosts("*.db.internal, Primary.Example.COM.")
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"a.db.internal": true, "a.b.db.internal": true, "A.DB.INTERNAL.": true, "db.internal": false,
		"xdb.internal": false, "a.db.internal.evil.com": false, "primary.example.com": true,
		"replica.example.com": false, "": false, "10.0.0.1": false,
		"\u212Aa.db.internal": true, "primary.example.\u212Aom": false, // the Kelvin sign is not k
	} {
		if got := h.Allows(host); got != want {
			t.Errorf("%q: allowed %v, want %v", host, got, want)
		}
	}
	for _, bad := range []string{"", "*", "*.", "a.*.b", "**.x", "*..x", "/tmp/*", "a b"} {
		if _, err := ParseHosts(bad); err == nil {
			t.Errorf("ParseHosts(%q) accepted", bad)
		}
	}
}

// TestHostsSocketDirectories: a unix socket's host is its directory as
// host= writes it; it matches a listed directory exactly (paths have
// case; a final slash aside), never a name or a pattern, and a listed
// directory never matches a name.
func TestHostsSocketDirectories(t *testing.T) {
	h, err := ParseHosts("/var/run/postgresql/, *.db.internal, @pg")
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"/var/run/postgresql": true, "/var/run/postgresql/": true, "@pg": true,
		"/var/run/PostgreSQL": false, "/var/run": false, "/var/run/postgresql/x": false, "/tmp": false,
		"/a.db.internal": false, "a.db.internal": true, "var/run/postgresql": false,
	} {
		if got := h.Allows(host); got != want {
			t.Errorf("%q: allowed %v, want %v", host, got, want)
		}
	}
}

func TestConnectTimeoutSetting(t *testing.T) {
	for in, want := range map[string]time.Duration{"10": 10 * time.Second, "0": 0, "2.5s": 2500 * time.Millisecond, "1m": time.Minute} {
		p := DefaultPolicy()
		if err := p.Set(EnvConnectTimeout, in, EnvConnectTimeout); err != nil || p.ConnectTimeout != want {
			t.Errorf("%q: %v, %v; want %v", in, p.ConnectTimeout, err, want)
		}
	}
	for _, bad := range []string{"-1", "-1s", "soon", "99999999999999"} {
		p := DefaultPolicy()
		if err := p.Set(EnvConnectTimeout, bad, EnvConnectTimeout); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if DefaultPolicy().ConnectTimeout != 10*time.Second {
		t.Error("the default is 10 s")
	}
}

// FuzzNetworks holds the allow-list to the standard library's older CIDR
// parser (net.ParseCIDR, net.IPNet.Contains) as an oracle: a list both
// read decides every address alike. IPv4-mapped IPv6 ranges are left
// out: securepg compares the address connected to as IPv4, where net
// folds the range too.
func FuzzNetworks(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "fd00::/8,192.168.1.7", "private", "127.0.0.1/32, ::1/128", "10.1.2.3/8"} {
		f.Add(s, []byte{10, 1, 2, 3})
		f.Add(s, []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	}
	f.Fuzz(func(t *testing.T, list string, raw []byte) {
		addr, ok := netip.AddrFromSlice(raw)
		if !ok || len(list) > 1<<10 {
			return
		}
		n, err := ParseNetworks(list)
		if err != nil {
			return
		}
		want := false
		for _, item := range strings.Split(list, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if named, ok := namedNetworks[strings.ToLower(item)]; ok {
				item = strings.Join(named, ",")
			}
			for _, one := range strings.Split(item, ",") {
				if strings.Contains(one, ":") && strings.Contains(one, ".") {
					return // an IPv4-mapped form
				}
				if !strings.Contains(one, "/") {
					if strings.Contains(one, ":") {
						one += "/128"
					} else {
						one += "/32"
					}
				}
				_, ipnet, err := net.ParseCIDR(one)
				if err != nil {
					t.Fatalf("securepg read %q, net cannot: %v", one, err)
				}
				want = want || ipnet.Contains(net.IP(addr.Unmap().AsSlice()))
			}
		}
		if got := n.Allows(addr); got != want {
			t.Fatalf("%q allows %s: %v, net says %v", list, addr, got, want)
		}
	})
}
