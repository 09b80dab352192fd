package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
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
