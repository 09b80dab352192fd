package fakeoauth

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// TestCodeFlow: authorize + exchange (+ PKCE when the client sends it) in
// both client authentication styles, the Slack-shaped response x/oauth2
// decodes, and the API accepting the token.
func TestCodeFlow(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		pkce    bool
		wantExp int64
		wantRT  bool
	}{
		{"params with pkce", Options{AuthStyle: StyleParams, RequirePKCE: true, AccessTTL: 90 * time.Second, Account: "U1"}, true, 90, true},
		{"header with pkce", Options{AuthStyle: StyleHeader, AccessTTL: time.Hour, Account: "U2"}, true, 3600, true},
		{"params without pkce", Options{Account: "U3"}, false, 0, true},
		{"sub-second ttl rounds up", Options{AccessTTL: 300 * time.Millisecond, Account: "U4"}, false, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			var opts, exch []oauth2.AuthCodeOption
			if tt.pkce {
				v := oauth2.GenerateVerifier()
				opts, exch = []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v)}, []oauth2.AuthCodeOption{oauth2.VerifierOption(v)}
			}
			tok, err := f.conf.Exchange(f.ctx, f.code(t, opts...), exch...)
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if tok.AccessToken == "" || tok.TokenType != "bearer" || (tok.RefreshToken != "") != tt.wantRT {
				t.Errorf("token: access %t, type %q, refresh %t", tok.AccessToken != "", tok.TokenType, tok.RefreshToken != "")
			}
			if tok.ExpiresIn != tt.wantExp || tok.Expiry.IsZero() != (tt.wantExp == 0) {
				t.Errorf("expires_in %d (expiry %v), want %d", tok.ExpiresIn, tok.Expiry, tt.wantExp)
			}
			user, _ := tok.Extra("authed_user").(map[string]any)
			if user["id"] != tt.opts.Account || tok.Extra("ok") != true {
				t.Errorf("authed_user %v ok %v, want id %s and ok true", user, tok.Extra("ok"), tt.opts.Account)
			}
			if tok.Extra("scope") != "chat:write channels:read" {
				t.Errorf("scope %v", tok.Extra("scope"))
			}
			got := f.call(t, tok.AccessToken)
			if diff := cmp.Diff(apiReply{Status: 200, OK: true, Account: tt.opts.Account, Generation: 1}, got); diff != "" {
				t.Errorf("API (-want +got):\n%s", diff)
			}
			want := Stats{TokenCalls: 1, CodeExchanges: 1, Authorizations: 1, APICalls: 1}
			if diff := cmp.Diff(want, f.srv.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExchangeRefused: every way a code exchange must fail.
func TestExchangeRefused(t *testing.T) {
	verifier := oauth2.GenerateVerifier()
	tests := []struct {
		name     string
		opts     Options
		authOpts []oauth2.AuthCodeOption
		mutate   func(f *fixture, code string) (string, []oauth2.AuthCodeOption) // returns code and exchange options
		wantCode string
		status   int
	}{
		{"wrong verifier", Options{}, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)},
			func(_ *fixture, c string) (string, []oauth2.AuthCodeOption) {
				return c, []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}
			}, "invalid_grant", 400},
		{"missing verifier", Options{}, []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)},
			func(_ *fixture, c string) (string, []oauth2.AuthCodeOption) { return c, nil }, "invalid_grant", 400},
		{"verifier without challenge", Options{}, nil,
			func(_ *fixture, c string) (string, []oauth2.AuthCodeOption) {
				return c, []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
			}, "invalid_grant", 400},
		{"unknown code", Options{}, nil,
			func(_ *fixture, _ string) (string, []oauth2.AuthCodeOption) { return "fakecode-nope", nil }, "invalid_grant", 400},
		{"redirect_uri mismatch", Options{}, nil,
			func(f *fixture, c string) (string, []oauth2.AuthCodeOption) {
				f.conf.RedirectURL = "https://app.example/other"
				return c, nil
			}, "invalid_grant", 400},
		{"wrong secret", Options{}, nil,
			func(f *fixture, c string) (string, []oauth2.AuthCodeOption) {
				f.conf.ClientSecret = "nope"
				return c, nil
			}, "invalid_client", 401},
		{"header client, params server", Options{AuthStyle: StyleParams}, nil,
			func(f *fixture, c string) (string, []oauth2.AuthCodeOption) {
				f.conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
				return c, nil
			}, "invalid_client", 401},
		{"params client, header server", Options{AuthStyle: StyleHeader}, nil,
			func(f *fixture, c string) (string, []oauth2.AuthCodeOption) {
				f.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
				return c, nil
			}, "invalid_client", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			code, exch := tt.mutate(f, f.code(t, tt.authOpts...))
			_, err := f.conf.Exchange(f.ctx, code, exch...)
			gotCode, gotStatus := retrieveError(t, err)
			if gotCode != tt.wantCode || gotStatus != tt.status {
				t.Errorf("error %s (%d), want %s (%d)", gotCode, gotStatus, tt.wantCode, tt.status)
			}
			if s := f.srv.Stats(); s.CodeExchanges != 0 || s.TokenCalls != 1 {
				t.Errorf("stats %+v: want 1 token call and no exchange", s)
			}
		})
	}
}

// TestCodeSingleUseAndExpiry: a replayed code is refused and revokes what
// its first exchange issued; an old code is refused.
func TestCodeSingleUseAndExpiry(t *testing.T) {
	clk := newClock()
	f := newFixture(t, Options{Now: clk.Now})
	code := f.code(t)
	tok, err := f.conf.Exchange(f.ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.call(t, tok.AccessToken); got.Status != 200 {
		t.Fatalf("fresh token: API status %d", got.Status)
	}
	_, err = f.conf.Exchange(f.ctx, code)
	if c, _ := retrieveError(t, err); c != "invalid_grant" {
		t.Errorf("replayed code: %s, want invalid_grant", c)
	}
	if got := f.call(t, tok.AccessToken); got.Status != 401 || got.Error != "invalid_auth" {
		t.Errorf("after code replay the first token still works: %+v", got)
	}
	if _, err := f.refresh(tok.RefreshToken); err == nil {
		t.Error("after code replay the refresh token still works")
	}

	old := f.code(t)
	clk.Advance(codeTTL)
	_, err = f.conf.Exchange(f.ctx, old)
	if c, _ := retrieveError(t, err); c != "invalid_grant" {
		t.Errorf("expired code: %s, want invalid_grant", c)
	}
}

// TestAuthorizeRefused: requests the server must not redirect with a code.
func TestAuthorizeRefused(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		query     func(q url.Values)
		wantError string // in the redirect; "" means a 400 without redirect
	}{
		{"unknown client", Options{}, func(q url.Values) { q.Set("client_id", "other") }, ""},
		{"relative redirect_uri", Options{}, func(q url.Values) { q.Set("redirect_uri", "/cb") }, ""},
		{"pkce required", Options{RequirePKCE: true}, func(url.Values) {}, "invalid_request"},
		{"plain pkce", Options{}, func(q url.Values) {
			q.Set("code_challenge", "abc")
			q.Set("code_challenge_method", "plain")
		}, "invalid_request"},
		{"token response type", Options{}, func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			u, _ := url.Parse(f.conf.AuthCodeURL("st"))
			q := u.Query()
			tt.query(q)
			u.RawQuery = q.Encode()
			if tt.wantError == "" {
				resp, err := noRedirect().Get(u.String())
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Errorf("status %d location %q, want 400 without redirect", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			back := authorizeURL(t, u.String())
			if back.Get("error") != tt.wantError || back.Get("code") != "" || back.Get("state") != "st" {
				t.Errorf("redirect query %v, want error=%s, state st and no code", back, tt.wantError)
			}
		})
	}
}

// TestDenyConsent: the redirect carries access_denied, its description and
// the state; turning it off gives codes again.
func TestDenyConsent(t *testing.T) {
	f := newFixture(t, Options{})
	f.srv.DenyConsent(true)
	q := authorizeURL(t, f.conf.AuthCodeURL("st"))
	if q.Get("error") != "access_denied" || q.Get("error_description") == "" || q.Get("state") != "st" || q.Get("code") != "" {
		t.Errorf("denied redirect query %v", q)
	}
	f.srv.DenyConsent(false)
	f.code(t)
	if s := f.srv.Stats(); s.Denials != 1 || s.Authorizations != 1 {
		t.Errorf("stats %+v, want 1 denial and 1 authorization", s)
	}
}
