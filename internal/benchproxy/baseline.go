package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/elazarl/goproxy"
)

// baseline is a bare goproxy MITM proxy: our own ECDSA CA (never goproxy's
// built-in GoproxyCa, whose key is public), a map cert cache so it does not
// mint per tunnel, an upstream transport with Gatehouse's pool settings, and
// no handlers beyond the CONNECT decision: no auth, no injection, no audit.
type baseline struct {
	ca   *authority
	addr string
	srv  *http.Server
}

// startBaseline serves the baseline proxy on a loopback port; its upstream
// transport dials up for every destination and attempts HTTP/2 if h2.
func startBaseline(up *upstream, h2 bool) (*baseline, error) {
	ca, err := newAuthority("benchproxy goproxy baseline CA")
	if err != nil {
		return nil, err
	}
	gp := goproxy.NewProxyHttpServer()
	gp.Tr = pinnedTransport(up, h2)
	gp.ConnectDial = nil // NewProxyHttpServer reads HTTPS_PROXY into it
	gp.ConnectDialWithReq = nil
	gp.KeepAcceptEncoding = true
	gp.Verbose = false
	gp.Logger = log.New(io.Discard, "", 0)
	gp.CertStore = &certCache{m: make(map[string]*tls.Certificate)}
	mitm := &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: goproxy.TLSConfigFromCA(ca.tlsCertificate())}
	gp.OnRequest().HandleConnectFunc(func(host string, _ *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		return mitm, host
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("baseline listen: %w", err)
	}
	b := &baseline{ca: ca, addr: ln.Addr().String()}
	b.srv = &http.Server{
		Handler:           gp,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		Protocols:         new(http.Protocols),
	}
	b.srv.Protocols.SetHTTP1(true) // CONNECT needs http.Hijacker
	go pprof.Do(context.Background(), pprof.Labels("role", pathGoproxy), func(context.Context) {
		_ = b.srv.Serve(ln)
	})
	return b, nil
}

// close stops accepting. Tunnels are hijacked connections the server no
// longer tracks; they end when the benchmark's clients close them.
func (b *baseline) close() { _ = b.srv.Close() }

// pinnedTransport mirrors Gatehouse's upstream transport (proxy/transport.go:
// pool sizes, timeouts, no transparent gzip; HTTP/2 as Gatehouse negotiated
// it in the probe) with a dialer that sends every destination to the local
// upstream and a root pool trusting only the upstream's CA.
func pinnedTransport(up *upstream, h2 bool) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, up.addr)
		},
		TLSClientConfig: &tls.Config{
			RootCAs:            up.ca.pool(),
			MinVersion:         tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(1024),
		},
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		DisableCompression:    true,
		ForceAttemptHTTP2:     h2,
	}
}

// certCache is the simple map CertStorage of goproxy's certstorage example:
// one leaf per host, minted once.
type certCache struct {
	mu sync.Mutex
	m  map[string]*tls.Certificate
}

// Fetch returns the cached leaf for host, minting it with gen on first use.
func (c *certCache) Fetch(host string, gen func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert, ok := c.m[host]; ok {
		return cert, nil
	}
	cert, err := gen()
	if err != nil {
		return nil, err
	}
	c.m[host] = cert
	return cert, nil
}
