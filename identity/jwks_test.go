package identity

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/time/rate"
)

// TestKeyRotation: a token under a kid the verifier has not seen makes it
// refetch the JWKS once and accept the rotated key; the removed key is gone.
// Refetches are rate limited per verifier: a second unknown kid right after
// is refused without another fetch.
func TestKeyRotation(t *testing.T) {
	old, next := rsaKey(t, "2026-01"), ecKey(t, "2026-02")
	p := newIdP(t, old)
	v1 := p.verifier(t, p.provider())
	v2 := p.verifier(t, p.provider())

	step := func(name string, v *Verifier, k testKey, want error, wantHits int32) {
		t.Helper()
		token := k.sign(t, p.claims(nil), nil)
		_, err := v.Verify(token)
		checkErr(t, err, want, token)
		if got := p.jwksHits.Load(); got != wantHits {
			t.Errorf("%s: JWKS fetched %d times, want %d", name, got, wantHits)
		}
	}
	step("old key", v1, old, nil, 2)
	step("next key before the IdP publishes it: refetch, still unknown", v1, next, ErrUnknownKey, 3)
	p.set(func(p *idp) { p.keys = []testKey{next} })
	step("next key after rotation, refetch budget used", v1, next, ErrUnknownKey, 3)
	step("next key after rotation: refetch picks it up", v2, next, nil, 4)
	step("next key again: cached", v2, next, nil, 4)
	step("removed key is refused", v2, old, ErrUnknownKey, 4)
}

// TestUnknownKeyWhenIdPDown: when the refetch for an unknown kid fails, the
// answer is ErrUnavailable (the token was not judged), while cached keys
// keep working.
func TestUnknownKeyWhenIdPDown(t *testing.T) {
	for _, tc := range []struct {
		name string
		down func(p *idp)
	}{
		{"JWKS answers 503", func(p *idp) { p.set(func(p *idp) { p.jwksStatus = http.StatusServiceUnavailable }) }},
		{"JWKS answers garbage", func(p *idp) { p.set(func(p *idp) { p.jwksBody = []byte("<html>") }) }},
		{"server gone", func(p *idp) { p.srv.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := rsaKey(t, "k1")
			p := newIdP(t, k)
			v := p.verifier(t, p.provider())
			tc.down(p)

			token := rsaKey(t, "k2").sign(t, p.claims(nil), nil)
			_, err := v.Verify(token)
			checkErr(t, err, ErrUnavailable, token)

			got, err := v.Verify(k.sign(t, p.claims(nil), nil))
			checkErr(t, err, nil, "")
			if diff := cmp.Diff(User{ID: "alice"}, got); diff != "" {
				t.Errorf("cached key (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRecoveryAfterOutage: once the IdP answers again, an unknown kid is
// judged again (ErrUnknownKey, or accepted after a rotation) instead of
// staying ErrUnavailable. The refetch limiter is unlimited here so that no
// waiting is needed.
func TestRecoveryAfterOutage(t *testing.T) {
	old, next := rsaKey(t, "k1"), rsaKey(t, "k2")
	p := newIdP(t, old)
	v, err := newVerifier(t.Context(), p.provider(), p.srv.Client(), fixedClock, rate.NewLimiter(rate.Inf, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	verify := func(name string, k testKey, want error) {
		t.Helper()
		token := k.sign(t, p.claims(nil), nil)
		_, err := v.Verify(token)
		checkErr(t, err, want, token)
	}
	p.set(func(p *idp) { p.jwksStatus = http.StatusBadGateway })
	verify("outage", next, ErrUnavailable)
	p.set(func(p *idp) { p.jwksStatus = 0 })
	verify("back, key still unpublished", next, ErrUnknownKey)
	p.set(func(p *idp) { p.keys = []testKey{old, next} })
	verify("back, key published", next, nil)
	if got := p.jwksHits.Load(); got != 4 {
		t.Errorf("JWKS fetched %d times, want 4", got)
	}
}

// TestNewVerifier covers set-up: discovery, explicit JWKS URL, and every way
// the IdP can be unreachable or contradict the configuration.
func TestNewVerifier(t *testing.T) {
	k := rsaKey(t, "k1")
	tests := []struct {
		name          string
		setup         func(p *idp) Provider
		client        func(p *idp) *http.Client
		wantErr       error
		wantMsg       string // substring of the error
		wantDiscovery int32
		wantJWKS      int32
	}{
		{name: "discovery", setup: func(p *idp) Provider { return p.provider() }, wantDiscovery: 1, wantJWKS: 1},
		{name: "issuer with trailing slash", setup: func(p *idp) Provider {
			p.set(func(p *idp) { p.issuer = p.srv.URL + "/" })
			pr := p.provider()
			pr.Issuer = p.srv.URL + "/"
			return pr
		}, wantDiscovery: 1, wantJWKS: 1},
		{name: "explicit JWKS URL skips discovery", setup: func(p *idp) Provider {
			p.set(func(p *idp) { p.issuer = "https://other.example" }) // would fail discovery
			pr := p.provider()
			pr.JWKSURL = p.srv.URL + "/jwks"
			return pr
		}, wantDiscovery: 0, wantJWKS: 1},
		{name: "server down at start", setup: func(p *idp) Provider {
			p.srv.Close()
			return p.provider()
		}, wantErr: ErrUnavailable, wantMsg: "discovery"},
		{name: "server down at start, explicit JWKS URL", setup: func(p *idp) Provider {
			p.srv.Close()
			pr := p.provider()
			pr.JWKSURL = p.srv.URL + "/jwks"
			return pr
		}, wantErr: ErrUnavailable, wantMsg: "fetching JWKS"},
		{name: "JWKS 500", setup: func(p *idp) Provider {
			p.set(func(p *idp) { p.jwksStatus = http.StatusInternalServerError })
			return p.provider()
		}, wantErr: ErrUnavailable, wantDiscovery: 1, wantJWKS: 1},
		{name: "JWKS not JSON", setup: func(p *idp) Provider {
			p.set(func(p *idp) { p.jwksBody = []byte("<html>") })
			return p.provider()
		}, wantErr: ErrUnavailable, wantDiscovery: 1, wantJWKS: 1},
		{name: "JWKS without keys", setup: func(p *idp) Provider {
			p.set(func(p *idp) { p.keys = nil })
			return p.provider()
		}, wantErr: ErrUnavailable, wantMsg: "no usable keys", wantDiscovery: 1, wantJWKS: 1},
		{name: "JWKS larger than the cap", setup: func(p *idp) Provider {
			p.set(func(p *idp) {
				// A valid JWKS, only too large: without the cap it would load.
				jwk, _ := json.Marshal(k.jwk())
				p.jwksBody = []byte(`{"keys":[` + string(jwk) + `],"pad":"` + strings.Repeat("x", maxDocumentSize) + `"}`)
			})
			return p.provider()
		}, wantErr: ErrUnavailable, wantDiscovery: 1, wantJWKS: 1},
		{name: "untrusted TLS certificate", setup: func(p *idp) Provider { return p.provider() },
			client:  func(*idp) *http.Client { return nil },
			wantErr: ErrUnavailable, wantMsg: "certificate"},
		{name: "discovery names another issuer", setup: func(p *idp) Provider {
			p.set(func(p *idp) { p.issuer = "https://evil.example" })
			return p.provider()
		}, wantErr: ErrConfig, wantMsg: `names issuer "https://evil.example"`, wantDiscovery: 1},
		{name: "discovery jwks_uri over http", setup: func(p *idp) Provider {
			p.set(func(p *idp) { p.jwksURI = "http://" + strings.TrimPrefix(p.srv.URL, "https://") + "/jwks" })
			return p.provider()
		}, wantErr: ErrConfig, wantMsg: "https", wantDiscovery: 1},
		{name: "discovery without jwks_uri", setup: func(p *idp) Provider {
			p.set(func(p *idp) { p.jwksURI = "" })
			return p.provider()
		}, wantErr: ErrConfig, wantMsg: "no jwks_uri", wantDiscovery: 1},
		{name: "invalid provider", setup: func(p *idp) Provider {
			pr := p.provider()
			pr.Algorithms = []string{"HS256"}
			return pr
		}, wantErr: ErrConfig, wantMsg: "HS256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIdP(t, k)
			prov := tt.setup(p)
			client := p.srv.Client()
			if tt.client != nil {
				client = tt.client(p)
			}
			v, err := NewVerifier(t.Context(), prov, client, fixedClock)
			if v != nil {
				t.Cleanup(v.Close)
			}
			checkErr(t, err, tt.wantErr, "")
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %v, want it to mention %q", err, tt.wantMsg)
			}
			if got := p.discoveryHits.Load(); got != tt.wantDiscovery {
				t.Errorf("discovery fetched %d times, want %d", got, tt.wantDiscovery)
			}
			if got := p.jwksHits.Load(); got != tt.wantJWKS {
				t.Errorf("JWKS fetched %d times, want %d", got, tt.wantJWKS)
			}
			if err == nil {
				_, verr := v.Verify(k.sign(t, p.claims(jwt.MapClaims{"iss": prov.Issuer}), nil))
				checkErr(t, verr, nil, "")
			}
		})
	}
}

// TestNewVerifierCancelled: a cancelled set-up context stops set-up.
func TestNewVerifierCancelled(t *testing.T) {
	p := newIdP(t, rsaKey(t, "k1"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	v, err := NewVerifier(ctx, p.provider(), p.srv.Client(), fixedClock)
	if v != nil {
		v.Close()
	}
	checkErr(t, err, ErrUnavailable, "")
	if got := p.discoveryHits.Load() + p.jwksHits.Load(); got != 0 {
		t.Errorf("IdP hit %d times after cancel, want 0", got)
	}
}

// TestSetupContextDoesNotBindLifetime: cancelling the set-up context after
// NewVerifier returns leaves the unknown-kid refetch working.
func TestSetupContextDoesNotBindLifetime(t *testing.T) {
	old, next := rsaKey(t, "k1"), rsaKey(t, "k2")
	p := newIdP(t, old)
	ctx, cancel := context.WithCancel(t.Context())
	v, err := NewVerifier(ctx, p.provider(), p.srv.Client(), fixedClock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	cancel()
	p.set(func(p *idp) { p.keys = []testKey{next} })
	_, err = v.Verify(next.sign(t, p.claims(nil), nil))
	checkErr(t, err, nil, "")
}

// TestClose: after Close the verifier no longer fetches, and cached keys
// still verify. Close is idempotent.
func TestClose(t *testing.T) {
	k := rsaKey(t, "k1")
	p := newIdP(t, k)
	v := p.verifier(t, p.provider())
	v.Close()
	v.Close()
	_, err := v.Verify(k.sign(t, p.claims(nil), nil))
	checkErr(t, err, nil, "")
	token := rsaKey(t, "k2").sign(t, p.claims(nil), nil)
	_, err = v.Verify(token)
	if err == nil {
		t.Fatal("unknown kid accepted after Close")
	}
	if got := p.jwksHits.Load(); got != 1 {
		t.Errorf("JWKS fetched %d times, want 1 (no refetch after Close)", got)
	}
}

// TestConcurrentVerify: one Verifier serves many requests at once, including
// a rotation picked up mid-flight (run with -race).
func TestConcurrentVerify(t *testing.T) {
	old, next := rsaKey(t, "k1"), ecKey(t, "k2")
	p := newIdP(t, old)
	v := p.verifier(t, p.provider())
	p.set(func(p *idp) { p.keys = []testKey{old, next} })
	tokens := []string{old.sign(t, p.claims(nil), nil), next.sign(t, p.claims(nil), nil)}
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			_, err := v.Verify(tokens[i%2])
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		// The k2 tokens either trigger the single refetch, wait for it, or
		// hit the rate limit before it finished: never anything else.
		if err != nil && !errors.Is(err, ErrUnknownKey) {
			t.Errorf("Verify: %v", err)
		}
	}
	_, err := v.Verify(tokens[1])
	checkErr(t, err, nil, "")
}
