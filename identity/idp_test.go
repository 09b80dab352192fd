package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

// TestMain fails the run if a Verifier's refresh goroutine (or anything
// else) outlives its test: every Verifier is closed in t.Cleanup.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the injected "now" of every verifier in these tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return t0 }

const testAudience = "gatehouse-test"

// testKey is a signing key of the test IdP and its JWK metadata.
type testKey struct {
	kid, alg, use string
	priv          crypto.Signer
	method        jwt.SigningMethod
}

func rsaKey(t *testing.T, kid string) testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, alg: "RS256", use: "sig", priv: k, method: jwt.SigningMethodRS256}
}

func ecKey(t *testing.T, kid string) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, alg: "ES256", use: "sig", priv: k, method: jwt.SigningMethodES256}
}

// jwk is the public JWK of k. It runs inside the IdP's handler, so it
// panics on the impossible (a P-256 key without an ECDH form).
func (k testKey) jwk() map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]any{"kid": k.kid, "alg": k.alg, "use": k.use}
	switch pub := k.priv.Public().(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = b64(pub.N.Bytes())
		m["e"] = b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		raw, err := pub.ECDH()
		if err != nil {
			panic(err)
		}
		pt := raw.Bytes() // 0x04 || X || Y
		m["kty"], m["crv"] = "EC", "P-256"
		m["x"], m["y"] = b64(pt[1:33]), b64(pt[33:])
	}
	return m
}

// sign makes a token signed by k with k's kid; header entries override
// (a nil value deletes the entry).
func (k testKey) sign(t *testing.T, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header["kid"] = k.kid
	for h, v := range header {
		if v == nil {
			delete(tok.Header, h)
			continue
		}
		tok.Header[h] = v
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// idp is a local OpenID provider: discovery and JWKS over TLS. Keys,
// answers and the advertised issuer can be changed while it runs.
type idp struct {
	srv *httptest.Server

	mu         sync.Mutex
	keys       []testKey
	issuer     string // advertised in discovery; default srv.URL
	jwksURI    string // advertised in discovery; default srv.URL+"/jwks"
	jwksStatus int    // 0 → 200
	jwksBody   []byte // replaces the JWKS when set

	jwksHits, discoveryHits atomic.Int32
}

func newIdP(t *testing.T, keys ...testKey) *idp {
	t.Helper()
	p := &idp{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /jwks", p.serveJWKS)
	p.srv = httptest.NewUnstartedServer(mux)
	// Handshake failures are part of some tests; keep them out of the log.
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	p.issuer, p.jwksURI = p.srv.URL, p.srv.URL+"/jwks"
	return p
}

func (p *idp) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	p.discoveryHits.Add(1)
	p.mu.Lock()
	doc := map[string]any{"issuer": p.issuer, "jwks_uri": p.jwksURI}
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

func (p *idp) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	p.jwksHits.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jwksStatus != 0 {
		w.WriteHeader(p.jwksStatus)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if p.jwksBody != nil {
		_, _ = w.Write(p.jwksBody)
		return
	}
	set := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: []json.RawMessage{}}
	for _, k := range p.keys {
		b, _ := json.Marshal(k.jwk())
		set.Keys = append(set.Keys, b)
	}
	_ = json.NewEncoder(w).Encode(set)
}

func (p *idp) set(f func(p *idp)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *idp) provider() Provider {
	return Provider{Issuer: p.srv.URL, Audience: testAudience}
}

// verifier builds a Verifier for prov against p with the fixed clock and
// closes it when the test ends.
func (p *idp) verifier(t *testing.T, prov Provider) *Verifier {
	t.Helper()
	v, err := NewVerifier(t.Context(), prov, p.srv.Client(), fixedClock)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

// claims are valid claims for p at t0, with overrides (nil deletes).
func (p *idp) claims(over jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": p.srv.URL,
		"aud": testAudience,
		"sub": "alice",
		"iat": t0.Add(-time.Minute).Unix(),
		"exp": t0.Add(time.Hour).Unix(),
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}
