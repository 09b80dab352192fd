package certs

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/google/go-cmp/cmp"
)

// Minter must plug into goproxy as its certificate store.
var _ goproxy.CertStorage = (*Minter)(nil)

func pool(ca *CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Certificate())
	return p
}

func TestLeaf_VerifiesForItsHostOnly(t *testing.T) {
	ca, _ := newTestCA(t)
	clk := newFakeClock(t0)
	m := NewMinter(ca, Options{Now: clk.Now})
	tests := []struct {
		request, verifyAs, otherHost string
		wantIP                       bool
	}{
		{request: "api.example.com", verifyAs: "api.example.com", otherHost: "evil.example.com"},
		{request: "API.Example.COM.:443", verifyAs: "api.example.com", otherHost: "example.com"},
		{request: "127.0.0.1", verifyAs: "127.0.0.1", otherHost: "127.0.0.2", wantIP: true},
		{request: "[::1]:8443", verifyAs: "::1", otherHost: "::2", wantIP: true},
	}
	for _, tt := range tests {
		t.Run(tt.request, func(t *testing.T) {
			cert, err := m.Leaf(tt.request)
			if err != nil {
				t.Fatalf("Leaf: %v", err)
			}
			leaf := cert.Leaf
			if leaf == nil {
				t.Fatal("Leaf field not populated")
			}
			opts := x509.VerifyOptions{
				DNSName:     tt.verifyAs,
				Roots:       pool(ca),
				CurrentTime: clk.Now(),
				KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}
			if _, err := leaf.Verify(opts); err != nil {
				t.Errorf("verify as %q: %v", tt.verifyAs, err)
			}
			opts.DNSName = tt.otherHost
			if _, err := leaf.Verify(opts); err == nil {
				t.Errorf("leaf for %q also verifies for %q", tt.request, tt.otherHost)
			}

			key, ok := cert.PrivateKey.(*ecdsa.PrivateKey)
			type shape struct {
				Chain      int
				Issuer     []byte
				LeafIsDER0 bool
				Curve      string
				KeyMatches bool
				HasIPSAN   bool
				IsCA       bool
				ExtKU      []x509.ExtKeyUsage
				SerialBits int
			}
			got := shape{
				Chain:      len(cert.Certificate),
				LeafIsDER0: len(cert.Certificate) > 0 && string(cert.Certificate[0]) == string(leaf.Raw),
				HasIPSAN:   len(leaf.IPAddresses) == 1,
				IsCA:       leaf.IsCA,
				ExtKU:      leaf.ExtKeyUsage,
				SerialBits: leaf.SerialNumber.BitLen(),
			}
			if len(cert.Certificate) > 1 {
				got.Issuer = cert.Certificate[1]
			}
			if ok {
				got.Curve = key.Curve.Params().Name
				got.KeyMatches = key.PublicKey.Equal(leaf.PublicKey)
			}
			want := shape{
				Chain: 2, Issuer: ca.Certificate().Raw, LeafIsDER0: true, Curve: "P-256", KeyMatches: true,
				HasIPSAN: tt.wantIP, ExtKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, SerialBits: 128,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("leaf (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLeaf_TLSHandshake serves minted leaves from a real TLS server and
// checks that a client trusting only the CA accepts them.
func TestLeaf_TLSHandshake(t *testing.T) {
	ca, _ := newTestCA(t)
	m := NewMinter(ca, Options{})
	clientConn, serverConn := net.Pipe()
	defer clientConn.Close()
	defer serverConn.Close()

	serverErr := make(chan error, 1)
	go func() {
		srv := tls.Server(serverConn, &tls.Config{
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				return m.Leaf(hello.ServerName)
			},
		})
		serverErr <- srv.Handshake()
	}()
	client := tls.Client(clientConn, &tls.Config{ServerName: "api.openai.com", RootCAs: pool(ca)})
	if err := client.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-serverErr; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if diff := cmp.Diff([]string{"api.openai.com"}, client.ConnectionState().PeerCertificates[0].DNSNames); diff != "" {
		t.Errorf("served SANs (-want +got):\n%s", diff)
	}
}

func TestLeaf_NormalisesHost(t *testing.T) {
	ca, _ := newTestCA(t)
	m := NewMinter(ca, Options{})
	first, err := m.Leaf("Example.COM")
	if err != nil {
		t.Fatal(err)
	}
	for _, alias := range []string{"example.com", "example.com.", "example.com:443", "EXAMPLE.com.:8443"} {
		got, err := m.Leaf(alias)
		if err != nil {
			t.Fatalf("Leaf(%q): %v", alias, err)
		}
		if got != first {
			t.Errorf("Leaf(%q) minted a separate certificate", alias)
		}
	}
	minted, hits := m.Stats()
	if diff := cmp.Diff([2]uint64{1, 4}, [2]uint64{minted, hits}); diff != "" {
		t.Errorf("Stats (minted, hits) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"example.com"}, first.Leaf.DNSNames); diff != "" {
		t.Errorf("SANs (-want +got):\n%s", diff)
	}
}

func TestLeaf_RejectsInvalidHost(t *testing.T) {
	ca, _ := newTestCA(t)
	m := NewMinter(ca, Options{})
	for _, host := range []string{"", " ", ":443", ".", "*.example.com", "exa mple.com", "a/b", "a..b", strings.Repeat("a", 64) + ".com", strings.Repeat("abcdefgh.", 29) + "com"} {
		t.Run(fmt.Sprintf("%.20q", host), func(t *testing.T) {
			if _, err := m.Leaf(host); !errors.Is(err, ErrInvalidHost) {
				t.Errorf("Leaf(%q) error = %v, want ErrInvalidHost", host, err)
			}
		})
	}
	if minted, _ := m.Stats(); minted != 0 {
		t.Errorf("minted = %d for invalid hosts, want 0", minted)
	}
}

func TestLeaf_Lifetime(t *testing.T) {
	ca, _ := newTestCA(t)
	caEnd := ca.Certificate().NotAfter
	tests := []struct {
		name         string
		lifetime     time.Duration
		now          time.Time
		wantNotAfter time.Time
	}{
		{name: "default 24h", now: t0, wantNotAfter: t0.Add(24 * time.Hour)},
		{name: "1h", lifetime: time.Hour, now: t0, wantNotAfter: t0.Add(time.Hour)},
		{name: "72h later", lifetime: 72 * time.Hour, now: t0.Add(48 * time.Hour), wantNotAfter: t0.Add(120 * time.Hour)},
		{name: "clamped to CA expiry", now: caEnd.Add(-time.Hour), wantNotAfter: caEnd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMinter(ca, Options{LeafLifetime: tt.lifetime, Now: func() time.Time { return tt.now }})
			cert, err := m.Leaf("lifetime.example")
			if err != nil {
				t.Fatal(err)
			}
			got := [2]time.Time{cert.Leaf.NotBefore, cert.Leaf.NotAfter}
			want := [2]time.Time{tt.now.Add(-time.Minute), tt.wantNotAfter}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("validity [NotBefore, NotAfter] (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("CA expired", func(t *testing.T) {
		m := NewMinter(ca, Options{Now: func() time.Time { return caEnd.Add(time.Second) }})
		if _, err := m.Leaf("late.example"); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Errorf("Leaf after CA expiry: err = %v, want an expiry error", err)
		}
	})
}

func TestLeaf_ConcurrentFirstCallsMintOnce(t *testing.T) {
	ca, _ := newTestCA(t)
	m := NewMinter(ca, Options{})
	const callers = 64
	start := make(chan struct{})
	certs := make([]*tls.Certificate, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			certs[i], errs[i] = m.Leaf("burst.example.com")
		})
	}
	close(start)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if certs[i] != certs[0] {
			t.Fatalf("caller %d got a different certificate", i)
		}
	}
	minted, hits := m.Stats()
	if diff := cmp.Diff([2]uint64{1, callers - 1}, [2]uint64{minted, hits}); diff != "" {
		t.Errorf("Stats (minted, hits) (-want +got):\n%s", diff)
	}
}

func TestLeaf_CacheIsBounded(t *testing.T) {
	ca, _ := newTestCA(t)
	const size, hosts = 16, 200
	m := NewMinter(ca, Options{CacheSize: size})
	name := func(i int) string { return fmt.Sprintf("h%d.example", i) }
	for i := range hosts {
		if _, err := m.Leaf(name(i)); err != nil {
			t.Fatal(err)
		}
	}
	m.cache.CleanUp()
	if got := m.cache.EstimatedSize(); got > size {
		t.Errorf("cache holds %d entries, bound is %d", got, size)
	}
	cached := 0
	for i := range hosts {
		if _, ok := m.cache.GetIfPresent(cacheKey{ca: ca.fingerprint, host: name(i)}); ok {
			cached++
		}
	}
	if cached > size {
		t.Errorf("%d hosts still cached, bound is %d", cached, size)
	}
	// Every host that fell out must be minted again on demand.
	before, _ := m.Stats()
	for i := range hosts {
		if _, err := m.Leaf(name(i)); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := m.Stats()
	if got, min := after-before, uint64(hosts-size); got < min {
		t.Errorf("re-requesting %d hosts minted %d, want at least %d", hosts, got, min)
	}
}

func TestLeaf_ExpiryRemints(t *testing.T) {
	ca, _ := newTestCA(t)
	clk := newFakeClock(t0)
	m := NewMinter(ca, Options{Now: clk.Now}) // 24h leaves, cached for 12h
	first, err := m.Leaf("expiry.example")
	if err != nil {
		t.Fatal(err)
	}

	clk.Advance(12*time.Hour - time.Second)
	again, err := m.Leaf("expiry.example")
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatal("leaf re-minted before half its lifetime")
	}
	if left := again.Leaf.NotAfter.Sub(clk.Now()); left < 12*time.Hour {
		t.Errorf("served leaf has only %s left", left)
	}

	clk.Advance(2 * time.Second)
	fresh, err := m.Leaf("expiry.example")
	if err != nil {
		t.Fatal(err)
	}
	if fresh == first {
		t.Fatal("leaf still served past half its lifetime")
	}
	if diff := cmp.Diff(clk.Now().Add(24*time.Hour), fresh.Leaf.NotAfter); diff != "" {
		t.Errorf("re-minted NotAfter (-want +got):\n%s", diff)
	}
	minted, hits := m.Stats()
	if diff := cmp.Diff([2]uint64{2, 1}, [2]uint64{minted, hits}); diff != "" {
		t.Errorf("Stats (minted, hits) (-want +got):\n%s", diff)
	}
}

func TestFetch_IgnoresGoproxyGenerator(t *testing.T) {
	ca, _ := newTestCA(t)
	m := NewMinter(ca, Options{})
	genCalled := false
	gen := func() (*tls.Certificate, error) {
		genCalled = true
		return nil, errors.New("gen must not be called")
	}
	var store goproxy.CertStorage = m
	got, err := store.Fetch("fetch.example", gen)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	want, err := m.Leaf("fetch.example")
	if err != nil {
		t.Fatal(err)
	}
	if got != want || genCalled {
		t.Errorf("Fetch returned Leaf's certificate: %v; gen called: %v", got == want, genCalled)
	}
}

func TestNewMinter_NilCAPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewMinter(nil) did not panic")
		}
	}()
	NewMinter(nil, Options{})
}
