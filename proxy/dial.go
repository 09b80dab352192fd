package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// errEgressForbidden is returned by the dialer when every address of the
// destination is in a forbidden range (security invariant 5).
var errEgressForbidden = errors.New("destination address forbidden by egress policy")

// forbiddenPrefixes are ranges an egress proxy must never reach unless an
// operator allows them: loopback, RFC 1918, link-local (incl. the cloud
// metadata address 169.254.169.254), CGNAT, "this network", benchmarking,
// reserved, multicast and their IPv6 counterparts. IPv6 forms that embed an
// IPv4 address (mapped, NAT64, 6to4) are unwrapped and checked again in
// forbidden(), so 64:ff9b::7f00:1 cannot smuggle loopback.
var forbiddenPrefixes = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
	"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "100::/64", "2001::/32", "2001:db8::/32", "fc00::/7", "fe80::/10",
	"ff00::/8", "fec0::/10",
)

// Prefixes whose addresses embed an IPv4 address.
var (
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local   = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	v4Compatible = netip.MustParsePrefix("::/96")
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// egressGuard decides which resolved addresses may be dialled.
type egressGuard struct {
	allow []netip.Prefix // operator exceptions (egress.allow_cidrs)
}

// permitted reports whether ip may be dialled.
func (g egressGuard) permitted(ip netip.Addr) bool {
	ip = ip.WithZone("")
	for _, p := range g.allow {
		if p.Contains(ip) || p.Contains(ip.Unmap()) {
			return true
		}
	}
	return !forbidden(ip)
}

// forbidden reports whether ip is in a forbidden range, looking through the
// IPv6 forms that carry an IPv4 address.
func forbidden(ip netip.Addr) bool {
	if ip.Is4In6() {
		return forbidden(ip.Unmap())
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip), nat64Local.Contains(ip):
			return forbidden(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(ip):
			return forbidden(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		case v4Compatible.Contains(ip): // deprecated IPv4-compatible
			return true
		}
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified()
}

// resolver is the DNS lookup the dialer uses (net.DefaultResolver in
// production; replaceable in tests).
type resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// dialer is the SSRF-guarded upstream dialer. It resolves the name itself,
// checks every address and dials the checked IP, so a DNS answer cannot
// change between the check and the connect (no rebinding). Operator pins
// from upstream.resolve are dialled as given: the operator named them.
type dialer struct {
	guard   egressGuard
	pins    map[string]string // "host:port" (normalised) → "ip:port"
	resolve resolver
	net     net.Dialer
}

func newDialer(pins map[string]string, allow []netip.Prefix, timeout time.Duration) *dialer {
	return &dialer{
		guard:   egressGuard{allow: allow},
		pins:    pins,
		resolve: net.DefaultResolver,
		net:     net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second},
	}
}

// DialContext implements the dial function of http.Transport and of
// goproxy's ConnectDialWithReq.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	a, err := parseAuthority(addr, 0)
	if err != nil {
		return nil, fmt.Errorf("dial %q: %w", addr, err)
	}
	if pinned, ok := d.pins[a.String()]; ok {
		return d.net.DialContext(ctx, network, pinned)
	}
	var ips []netip.Addr
	if ip, perr := netip.ParseAddr(a.Host); perr == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = d.resolve.LookupNetIP(ctx, "ip", a.Host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", a.Host, err)
		}
	}
	var lastErr error = errEgressForbidden
	for _, ip := range ips {
		if !d.guard.permitted(ip) {
			continue
		}
		c, err := d.net.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), strconv.Itoa(a.Port)))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	if errors.Is(lastErr, errEgressForbidden) {
		return nil, fmt.Errorf("dial %s: %w", a.Host, errEgressForbidden)
	}
	return nil, lastErr
}
