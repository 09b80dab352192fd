package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/fakeupstream"
)

const (
	idpHost     = "idp.example.test"
	idpIssuer   = "https://" + idpHost
	idpAudience = "gatehouse-e2e"
)

// testIdP is a local identity provider: OpenID discovery and a JWKS
// served over TLS under idpHost, with keys the test rotates.
type testIdP struct {
	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey // kid → key, all published
}

func newTestIdP(t *testing.T) *testIdP {
	p := &testIdP{keys: map[string]*ecdsa.PrivateKey{}}
	p.addKey(t, "k1")
	return p
}

func (p *testIdP) addKey(t *testing.T, kid string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.keys[kid] = k
	p.mu.Unlock()
}

func (p *testIdP) key(kid string) *ecdsa.PrivateKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[kid]
}

// serve answers discovery and the JWKS.
func (p *testIdP) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": idpIssuer, "jwks_uri": idpIssuer + "/jwks.json"})
	case "/jwks.json":
		p.mu.Lock()
		var keys []map[string]string
		for kid, k := range p.keys {
			b := func(n *big.Int) string { return base64.RawURLEncoding.EncodeToString(n.FillBytes(make([]byte, 32))) }
			keys = append(keys, map[string]string{"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig", "x": b(k.X), "y": b(k.Y)})
		}
		p.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	default:
		http.NotFound(w, r)
	}
}

// token signs claims with kid's key (ES256); "none" leaves it unsigned
// (alg none), and a kid the IdP does not publish gets a fresh key.
func (p *testIdP) token(t *testing.T, kid string, claims jwt.MapClaims) string {
	return p.forge(t, kid, p.key(kid), claims)
}

// forge signs claims with key under kid's name (key nil: a fresh one).
func (p *testIdP) forge(t *testing.T, kid string, key *ecdsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	if kid == "none" {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = kid
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestUserJWT: an app with an identity provider resolves Gatehouse-User
// to the user's grant through the real binary, and every way a token can
// be wrong is refused with user_invalid before anything is sent; a token
// signed with a key the IdP rotated in after start is accepted once the
// JWKS is refetched.
func TestUserJWT(t *testing.T) {
	t.Parallel()
	idp := newTestIdP(t)
	up := fakeupstream.Start(t, append(upstreamHosts(), idpHost)...)
	up.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == idpHost {
			idp.serve(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	resolve := map[string]string{idpHost + ":443": up.Addr()}
	for _, h := range upstreamHosts() {
		resolve[h+":443"] = up.Addr()
	}
	g := startWith(t, up, map[string]map[string]any{"upstream": {"resolve": resolve, "extra_roots": []string{up.CAFile}}})
	g.newTenant("acme")
	appKey := g.createKey("acme", "")
	g.cliJSON(nil, "", "idp", "set", "--app", "acme", "--issuer", idpIssuer, "--audience", idpAudience)
	g.putSecret("acme", "openai", "user:alice", "sk-alice-0123456789")
	c := g.goClient(t, appKey.Key)

	now := time.Now()
	claims := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		m := jwt.MapClaims{"iss": idpIssuer, "aud": idpAudience, "sub": "alice", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		if mut != nil {
			mut(m)
		}
		return m
	}
	call := func(token string) reply {
		return goDo(t, c, "GET", "https://api.openai.com/v1/models", http.Header{"Gatehouse-User": {token}})
	}

	if r := call(idp.token(t, "k1", claims(nil))); r.status != 200 {
		t.Fatalf("valid token: %d %s", r.status, r.body)
	}
	requireDelivered(t, up.Last(t), "api.openai.com", "Authorization", "Bearer sk-alice-0123456789")

	// Before the unknown-kid case below: the verifier refetches the JWKS
	// for an unknown kid at most once a minute.
	t.Run("rotated key", func(t *testing.T) {
		idp.addKey(t, "k2")
		if r := call(idp.token(t, "k2", claims(nil))); r.status != 200 {
			t.Fatalf("token signed with the rotated-in key: %d %s", r.status, r.body)
		}
	})

	for _, tc := range []struct {
		name  string
		token string
	}{
		{"wrong signature", idp.forge(t, "k1", nil, claims(nil))},
		{"alg none", idp.token(t, "none", claims(nil))},
		{"expired", idp.token(t, "k1", claims(func(m jwt.MapClaims) { m["exp"] = now.Add(-time.Hour).Unix() }))},
		{"wrong audience", idp.token(t, "k1", claims(func(m jwt.MapClaims) { m["aud"] = "someone-else" }))},
		{"wrong issuer", idp.token(t, "k1", claims(func(m jwt.MapClaims) { m["iss"] = "https://evil.example" }))},
		{"unknown kid", idp.token(t, "unpublished", claims(nil))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.Count()
			call(tc.token).requireRefusal(t, http.StatusForbidden, "user_invalid")
			if up.Count() != before {
				t.Error("a refused call reached the upstream")
			}
		})
	}

}
