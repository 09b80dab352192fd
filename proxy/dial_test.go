package proxy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestForbidden(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1": true, "127.8.9.10": true, "10.1.2.3": true, "172.16.0.1": true, "172.31.255.255": true,
		"192.168.1.1": true, "169.254.169.254": true, "100.64.0.1": true, "100.127.255.255": true,
		"0.0.0.0": true, "224.0.0.1": true, "255.255.255.255": true, "198.18.0.1": true,
		"::1": true, "::": true, "fe80::1": true, "fc00::1": true, "fd00:ec2::254": true,
		"::ffff:127.0.0.1": true, "::ffff:10.0.0.1": true, "64:ff9b::7f00:1": true, "64:ff9b::a00:1": true,
		"2002:7f00:1::": true, "2002:a00:1::": true, "2001:0:4136:e378::1": true, "::127.0.0.1": true,
		"8.8.8.8": false, "1.1.1.1": false, "172.32.0.1": false, "100.128.0.1": false,
		"2606:4700::1111": false, "64:ff9b::808:808": false, "2002:808:808::": false, "::ffff:8.8.8.8": false,
	}
	for ip, want := range tests {
		t.Run(ip, func(t *testing.T) {
			if got := forbidden(netip.MustParseAddr(ip)); got != want {
				t.Errorf("forbidden(%s) = %v, want %v", ip, got, want)
			}
		})
	}
}

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ips, ok := f[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestDialerGuard proves the dialer checks the resolved addresses, dials the
// checked IP, honours allow_cidrs, and lets operator pins through.
func TestDialerGuard(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	res := fakeResolver{
		"internal.test": {netip.MustParseAddr("127.0.0.1")},
		"mixed.test":    {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("127.0.0.1")},
	}
	addr := func(h string) string { return net.JoinHostPort(h, itoa(port)) }
	tests := []struct {
		name      string
		allow     []netip.Prefix
		pins      map[string]string
		target    string
		forbidden bool
	}{
		{name: "loopback name refused", target: addr("internal.test"), forbidden: true},
		{name: "loopback literal refused", target: addr("127.0.0.1"), forbidden: true},
		{name: "all private refused", target: addr("mixed.test"), forbidden: true},
		{name: "allow cidr", allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, target: addr("internal.test")},
		{name: "operator pin", pins: map[string]string{"api.openai.com:443": ln.Addr().String()}, target: "api.openai.com:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDialer(tt.pins, tt.allow, time.Second)
			d.resolve = res
			c, err := d.DialContext(t.Context(), "tcp", tt.target)
			if tt.forbidden {
				if !errors.Is(err, errEgressForbidden) {
					t.Fatalf("err = %v, want errEgressForbidden", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		})
	}
}

func itoa(i int) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(i)).String()[len("0.0.0.0:"):]
}
