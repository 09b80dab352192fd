package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Defaults for Options fields left zero.
const (
	DefaultLeafLifetime = 24 * time.Hour
	DefaultCacheSize    = 10000
)

// leafBackdate tolerates clients whose clocks run slightly behind ours.
const leafBackdate = time.Minute

// maxCommonNameLen is the X.520 upper bound for a common name; longer host
// names are carried by the SAN only.
const maxCommonNameLen = 64

// Options configures a Minter. Zero values select the defaults.
type Options struct {
	// LeafLifetime is the validity of a minted leaf from the moment it is
	// minted. Default 24h. Leaves never outlive the CA.
	LeafLifetime time.Duration
	// CacheSize bounds the number of cached leaves. Default 10000.
	CacheSize int
	// Now is the clock used for validity periods and cache expiry. Default
	// time.Now.
	Now func() time.Time
}

// cacheKey identifies a cached leaf. The CA fingerprint is part of the key
// so a leaf signed by one CA can never be served on behalf of another.
type cacheKey struct {
	ca   [sha256.Size]byte
	host string
}

// Minter mints and caches leaf certificates signed by a CA. It is safe for
// concurrent use and starts no goroutines of its own.
type Minter struct {
	ca       *CA
	lifetime time.Duration
	now      func() time.Time
	cache    *otter.Cache[cacheKey, *tls.Certificate]
	minted   atomic.Uint64
	hits     atomic.Uint64
}

// NewMinter returns a Minter for ca. ca must not be nil.
//
// A cached leaf expires from the cache at half of its remaining validity,
// so any leaf handed out still has at least half its lifetime (12h by
// default) ahead of it and a long-lived connection does not hit NotAfter.
func NewMinter(ca *CA, opts Options) *Minter {
	if ca == nil {
		panic("certs: NewMinter called with a nil CA")
	}
	if opts.LeafLifetime <= 0 {
		opts.LeafLifetime = DefaultLeafLifetime
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Minter{ca: ca, lifetime: opts.LeafLifetime, now: opts.Now}
	m.cache = otter.Must(&otter.Options[cacheKey, *tls.Certificate]{
		MaximumSize: opts.CacheSize,
		ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[cacheKey, *tls.Certificate]) time.Duration {
			return e.Value.Leaf.NotAfter.Sub(m.now()) / 2
		}),
		Clock: clock{now: opts.Now},
	})
	return m
}

// Leaf returns a leaf certificate for host, minting it on a cache miss.
// host may carry a port and a trailing dot and is matched case-insensitively;
// IP literals get an IP SAN. An empty or malformed name (wildcards, spaces,
// labels over 63 bytes) fails with ErrInvalidHost. Concurrent first calls for
// one host mint once and share the result. The returned certificate is
// shared: callers must not modify it.
func (m *Minter) Leaf(host string) (*tls.Certificate, error) {
	name, isIP, err := canonicalHost(host)
	if err != nil {
		return nil, err
	}
	key := cacheKey{ca: m.ca.fingerprint, host: name}
	if cert, ok := m.cache.GetIfPresent(key); ok {
		m.hits.Add(1)
		return cert, nil
	}
	// Only valid names are ever cached, so validation can wait for a miss.
	if !isIP {
		if err := checkDNSName(name); err != nil {
			return nil, err
		}
	}
	minted := false
	cert, err := m.cache.Get(context.Background(), key, otter.LoaderFunc[cacheKey, *tls.Certificate](
		func(context.Context, cacheKey) (*tls.Certificate, error) {
			minted = true
			return m.mint(name, isIP)
		}))
	if err != nil {
		return nil, err
	}
	if !minted {
		// Another caller minted it while we waited for its load.
		m.hits.Add(1)
	}
	return cert, nil
}

// Stats reports how many leaves were minted and how many Leaf calls were
// served without minting.
func (m *Minter) Stats() (minted, hits uint64) {
	return m.minted.Load(), m.hits.Load()
}

// Fetch implements goproxy's CertStorage interface. It deliberately ignores
// gen and returns Leaf(hostname): gen signs with whatever CA goproxy was
// handed, and goproxy's defaults (MitmConnect, AlwaysMitm, GoproxyCa) use a
// built-in CA whose private key is published in its repository. Ignoring
// gen guarantees every intercepted connection is served a leaf from our CA,
// even if the proxy is wired to one of those defaults by mistake.
func (m *Minter) Fetch(hostname string, _ func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	return m.Leaf(hostname)
}

// mint creates a fresh ECDSA P-256 leaf for the normalised name.
func (m *Minter) mint(name string, isIP bool) (*tls.Certificate, error) {
	now := m.now()
	notAfter := now.Add(m.lifetime)
	if caEnd := m.ca.cert.NotAfter; notAfter.After(caEnd) {
		notAfter = caEnd
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("certs: CA certificate expired at %s", m.ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate leaf key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: []string{"Gatehouse"}},
		NotBefore:             now.Add(-leafBackdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if len(name) <= maxCommonNameLen {
		tmpl.Subject.CommonName = name
	}
	if isIP {
		tmpl.IPAddresses = []net.IP{net.ParseIP(name)}
	} else {
		tmpl.DNSNames = []string{name}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, m.ca.cert, key.Public(), m.ca.key)
	if err != nil {
		return nil, fmt.Errorf("certs: sign leaf: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse minted leaf: %w", err)
	}
	m.minted.Add(1)
	return &tls.Certificate{
		Certificate: [][]byte{der, m.ca.cert.Raw},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

// clock adapts the injected time source to otter, so cache expiry follows
// the same clock as certificate validity. Tick returns nil: expired entries
// are never returned by reads and are swept during the maintenance that
// reads and writes trigger, so no background goroutine is needed.
type clock struct{ now func() time.Time }

// NowNano implements otter.Clock.
func (c clock) NowNano() int64 { return c.now().UnixNano() }

// Tick implements otter.Clock; see the type comment for why it is nil.
func (c clock) Tick(time.Duration) <-chan time.Time { return nil }
