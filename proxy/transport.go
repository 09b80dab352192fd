package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"
)

// newTransport builds the upstream transport. goproxy's default Tr has no
// timeouts, two idle connections per host, and reads HTTPS_PROXY from the
// environment (a sidecar pointing HTTPS_PROXY at itself would loop), so we
// never use it (notes 1.6, 1.9.5).
func newTransport(d *dialer, extraRoots []string, dialTimeout time.Duration) (*http.Transport, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	for _, f := range extraRoots {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("upstream.extra_roots: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("upstream.extra_roots: %s holds no PEM certificate", f)
		}
	}
	return &http.Transport{
		Proxy:       nil, // never chain through an environment proxy
		DialContext: d.DialContext,
		TLSClientConfig: &tls.Config{
			RootCAs:            roots,
			MinVersion:         tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(1024),
		},
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: 0, // LLM APIs can think for minutes before the head
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		// Bodies must pass untouched: no transparent gzip (notes 1.9.8).
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
	}, nil
}

// NewUpstreamTransport returns the hardened transport every outbound
// connection of Gatehouse uses (proxied calls, and through cmd the OAuth
// token and revocation endpoints): no environment proxy, the SSRF-guarded
// dialer honouring up.Resolve and up.AllowCIDRs, system roots plus
// up.ExtraRoots, no transparent decompression.
func NewUpstreamTransport(up UpstreamConfig) (*http.Transport, error) {
	d, err := newUpstreamDialer(up)
	if err != nil {
		return nil, err
	}
	return newTransport(d, up.ExtraRoots, d.net.Timeout)
}

// newUpstreamDialer validates up's pins and allowed ranges and builds the
// guarded dialer (DialTimeout default 10s).
func newUpstreamDialer(up UpstreamConfig) (*dialer, error) {
	if up.DialTimeout <= 0 {
		up.DialTimeout = 10 * time.Second
	}
	pins := make(map[string]string, len(up.Resolve))
	for from, to := range up.Resolve {
		a, err := parseAuthority(from, 0)
		if err != nil {
			return nil, fmt.Errorf("upstream.resolve: %q is not host:port", from)
		}
		if _, err := netip.ParseAddrPort(to); err != nil {
			return nil, fmt.Errorf("upstream.resolve: %q → %q: target must be ip:port", from, to)
		}
		pins[a.String()] = to
	}
	var allow []netip.Prefix
	for _, c := range up.AllowCIDRs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("egress.allow_cidrs: %q is not a CIDR", c)
		}
		allow = append(allow, p.Masked())
	}
	return newDialer(pins, allow, up.DialTimeout), nil
}
