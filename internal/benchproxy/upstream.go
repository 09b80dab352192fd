package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"
)

// Target of every benchmark request: a real provider name, pinned to the
// local upstream, so Gatehouse takes its provider (MITM + injection) path.
const (
	targetHost = "api.openai.com"
	targetPath = "/v1/models"
	targetURL  = "https://" + targetHost + targetPath
)

// responseBody is the small fixed JSON the upstream answers.
const responseBody = `{"object":"list","data":[{"id":"gpt-bench","object":"model","owned_by":"bench"}]}`

// authority is a self-signed ECDSA P-256 CA held in memory.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// newAuthority creates a CA named name. ECDSA P-256 like Gatehouse's own CA,
// so no MITM path pays more for signatures than another.
func newAuthority(name string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca certificate: %w", err)
	}
	return &authority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// tlsCertificate is the CA as a tls.Certificate with Leaf set, the form
// goproxy.TLSConfigFromCA signs with.
func (a *authority) tlsCertificate() *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{a.cert.Raw}, PrivateKey: a.key, Leaf: a.cert}
}

// pool is a cert pool trusting only this CA.
func (a *authority) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.cert)
	return p
}

// leaf mints a server certificate for host.
func (a *authority) leaf(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("leaf key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano() + 1),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("leaf certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// seen counts what the upstream received. Counters only grow; a phase's
// share is the difference of two snapshots.
type seen struct {
	Total     int64 `json:"total"`
	Injected  int64 `json:"injected"`   // Authorization: Bearer <the benchmark secret>
	OtherAuth int64 `json:"other_auth"` // any other Authorization value
	ProxyAuth int64 `json:"proxy_auth"` // Proxy-Authorization leaked upstream
	Misrouted int64 `json:"misrouted"`  // wrong Host, path or SNI
	HTTP2     int64 `json:"http2"`
	Conns     int64 `json:"conns"`  // TCP connections accepted
	Closed    int64 `json:"closed"` // of which closed (by either side) so far
}

func (s seen) plus(o seen) seen {
	return seen{
		Total: s.Total + o.Total, Injected: s.Injected + o.Injected, OtherAuth: s.OtherAuth + o.OtherAuth,
		ProxyAuth: s.ProxyAuth + o.ProxyAuth, Misrouted: s.Misrouted + o.Misrouted, HTTP2: s.HTTP2 + o.HTTP2,
		Conns: s.Conns + o.Conns, Closed: s.Closed + o.Closed,
	}
}

func (s seen) minus(o seen) seen {
	return seen{
		Total: s.Total - o.Total, Injected: s.Injected - o.Injected, OtherAuth: s.OtherAuth - o.OtherAuth,
		ProxyAuth: s.ProxyAuth - o.ProxyAuth, Misrouted: s.Misrouted - o.Misrouted, HTTP2: s.HTTP2 - o.HTTP2,
		Conns: s.Conns - o.Conns, Closed: s.Closed - o.Closed,
	}
}

// upstream is the local TLS server standing in for api.openai.com. It is a
// testing.TB-free cousin of internal/fakeupstream that counts instead of
// recording, so it stays cheap under load.
type upstream struct {
	ca       *authority
	addr     string
	srv      *http.Server
	wantAuth string // the exact Authorization Gatehouse must inject
	body     []byte
	bodyLen  []string // Content-Length value, shared read-only
	ctype    []string

	total, injected, otherAuth, proxyAuth, misrouted, h2, conns, closed atomic.Int64
}

// startUpstream serves targetHost over TLS on a loopback port. h2 offers
// HTTP/2 in ALPN as the real API does; proxies that force HTTP/2 upstream
// then multiplex over it.
func startUpstream(wantAuth string, h2 bool) (*upstream, error) {
	ca, err := newAuthority("benchproxy upstream CA")
	if err != nil {
		return nil, err
	}
	leaf, err := ca.leaf(targetHost)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("upstream listen: %w", err)
	}
	u := &upstream{
		ca: ca, addr: ln.Addr().String(), wantAuth: wantAuth,
		body: []byte(responseBody), ctype: []string{"application/json"}, bodyLen: []string{strconv.Itoa(len(responseBody))},
	}
	u.srv = &http.Server{
		Handler:           u,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		Protocols:         new(http.Protocols),
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				u.conns.Add(1)
			case http.StateClosed, http.StateHijacked:
				u.closed.Add(1)
			}
		},
	}
	u.srv.Protocols.SetHTTP1(true)
	u.srv.Protocols.SetHTTP2(h2)
	go pprof.Do(context.Background(), pprof.Labels("role", "upstream"), func(context.Context) {
		_ = u.srv.ServeTLS(ln, "", "")
	})
	return u, nil
}

// ServeHTTP classifies the request and answers the fixed body.
func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.total.Add(1)
	switch a := r.Header.Get("Authorization"); {
	case a == "":
	case a == u.wantAuth:
		u.injected.Add(1)
	default:
		u.otherAuth.Add(1)
	}
	if r.Header.Get("Proxy-Authorization") != "" {
		u.proxyAuth.Add(1)
	}
	if r.Host != targetHost || r.URL.Path != targetPath || r.TLS == nil || r.TLS.ServerName != targetHost {
		u.misrouted.Add(1)
	}
	if r.ProtoMajor == 2 {
		u.h2.Add(1)
	}
	h := w.Header()
	h["Content-Type"] = u.ctype
	h["Content-Length"] = u.bodyLen
	_, _ = w.Write(u.body)
}

// snapshot reads the counters.
func (u *upstream) snapshot() seen {
	return seen{
		Total: u.total.Load(), Injected: u.injected.Load(), OtherAuth: u.otherAuth.Load(),
		ProxyAuth: u.proxyAuth.Load(), Misrouted: u.misrouted.Load(), HTTP2: u.h2.Load(),
		Conns: u.conns.Load(), Closed: u.closed.Load(),
	}
}

// close stops the server and its connections.
func (u *upstream) close() { _ = u.srv.Close() }
