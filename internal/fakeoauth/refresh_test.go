package fakeoauth

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestRotation: each refresh returns a new refresh token and a new
// generation; replaying a consumed one is reuse, which revokes the family.
func TestRotation(t *testing.T) {
	f := newFixture(t, Options{RotateRefresh: true, AccessTTL: time.Hour, Account: "U1"})
	first := f.connect(t)
	second, err := f.refresh(first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("the refresh did not rotate")
	}
	if got := f.call(t, second.AccessToken); got.Generation != 2 || got.Account != "U1" {
		t.Errorf("API after refresh: %+v, want generation 2 of U1", got)
	}
	third, err := f.refresh(second.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.call(t, third.AccessToken); got.Generation != 3 {
		t.Errorf("generation %d, want 3", got.Generation)
	}

	_, err = f.refresh(first.RefreshToken) // reuse
	if c, st := retrieveError(t, err); c != "invalid_grant" || st != 400 {
		t.Errorf("reuse: %s (%d), want invalid_grant (400)", c, st)
	}
	for name, tok := range map[string]string{"first": first.AccessToken, "third": third.AccessToken} {
		if got := f.call(t, tok); got.Status != 401 {
			t.Errorf("%s access token after reuse: status %d, want 401", name, got.Status)
		}
	}
	if _, err := f.refresh(third.RefreshToken); err == nil {
		t.Error("the family's newest refresh token survived reuse detection")
	}
	s := f.srv.Stats()
	if s.Refreshes != 2 || s.ReuseDetected != 1 || f.srv.LiveFamilies() != 0 {
		t.Errorf("stats %+v (live families %d), want 2 refreshes, 1 reuse, 0 live families", s, f.srv.LiveFamilies())
	}
}

// TestNoRotation: without rotation the response has no refresh_token
// (x/oauth2 keeps the old one) and the token can be used again.
func TestNoRotation(t *testing.T) {
	f := newFixture(t, Options{})
	first := f.connect(t)
	for i := range 3 {
		tok, err := f.refresh(first.RefreshToken)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if tok.RefreshToken != first.RefreshToken {
			t.Errorf("refresh %d changed the refresh token", i)
		}
		if _, has := tok.Extra("refresh_token").(string); has {
			t.Errorf("refresh %d: the response carried a refresh_token", i)
		}
	}
	if s := f.srv.Stats(); s.Refreshes != 3 || s.ReuseDetected != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestConcurrentRefreshSameToken: many clients race one rotating refresh
// token; exactly one wins and the rest are reuse.
func TestConcurrentRefreshSameToken(t *testing.T) {
	const n = 50
	f := newFixture(t, Options{RotateRefresh: true})
	rt := f.connect(t).RefreshToken
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = f.refresh(rt) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if s := f.srv.Stats(); ok != 1 || s.Refreshes != 1 || s.ReuseDetected != n-1 || s.TokenCalls != n+1 {
		t.Errorf("%d successes, stats %+v; want 1 success, 1 refresh, %d reuses, %d token calls", ok, s, n-1, n+1)
	}
}

// TestExpiry: expires_in follows SetAccessTTL, the API refuses tokens past
// their lifetime, ExpireAccessTokens kills every token issued so far.
func TestExpiry(t *testing.T) {
	clk := newClock()
	f := newFixture(t, Options{AccessTTL: time.Minute, Now: clk.Now})
	tok := f.connect(t)
	if tok.ExpiresIn != 60 {
		t.Errorf("expires_in %d, want 60", tok.ExpiresIn)
	}
	clk.Advance(59 * time.Second)
	if got := f.call(t, tok.AccessToken); got.Status != 200 {
		t.Errorf("1s before expiry: status %d", got.Status)
	}
	clk.Advance(time.Second)
	if got := f.call(t, tok.AccessToken); got.Status != 401 {
		t.Errorf("at expiry: status %d, want 401", got.Status)
	}

	f.srv.SetAccessTTL(0)
	long, err := f.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if long.ExpiresIn != 0 || !long.Expiry.IsZero() {
		t.Errorf("TTL 0: expires_in %d, want it omitted", long.ExpiresIn)
	}
	clk.Advance(1000 * time.Hour)
	if got := f.call(t, long.AccessToken); got.Status != 200 {
		t.Errorf("a token without lifetime expired: %d", got.Status)
	}
	f.srv.ExpireAccessTokens()
	if got := f.call(t, long.AccessToken); got.Status != 401 || got.Error != "invalid_auth" {
		t.Errorf("after ExpireAccessTokens: %+v", got)
	}
	fresh, err := f.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.call(t, fresh.AccessToken); got.Status != 200 || got.Generation != 3 {
		t.Errorf("a token issued after ExpireAccessTokens: %+v", got)
	}
	if got := f.call(t, ""); got.Status != 401 {
		t.Errorf("no token: %d", got.Status)
	}
}

// TestRevokeRefreshTokens: the next refresh is invalid_grant, not reuse.
func TestRevokeRefreshTokens(t *testing.T) {
	f := newFixture(t, Options{RotateRefresh: true})
	tok := f.connect(t)
	f.srv.RevokeRefreshTokens()
	_, err := f.refresh(tok.RefreshToken)
	if c, _ := retrieveError(t, err); c != "invalid_grant" {
		t.Errorf("got %s, want invalid_grant", c)
	}
	if got := f.call(t, tok.AccessToken); got.Status != 200 {
		t.Errorf("access token after refresh revocation: %d, want 200 until it expires", got.Status)
	}
	later := f.connect(t) // a new consent works
	if _, err := f.refresh(later.RefreshToken); err != nil {
		t.Errorf("a refresh token issued after RevokeRefreshTokens: %v", err)
	}
	if s := f.srv.Stats(); s.ReuseDetected != 0 || s.InvalidGrants != 1 || s.Refreshes != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestFailNextAndDelay: injected failures come first and are counted; the
// delay holds the answer back.
func TestFailNextAndDelay(t *testing.T) {
	tests := []struct {
		name   string
		status int
		code   string
	}{
		{"503", 503, "temporarily_unavailable"},
		{"429", 429, "temporarily_unavailable"},
		{"400", 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{RotateRefresh: true})
			rt := f.connect(t).RefreshToken
			f.srv.FailNext(2, tt.status)
			for i := range 2 {
				_, err := f.refresh(rt)
				if c, st := retrieveError(t, err); c != tt.code || st != tt.status {
					t.Errorf("call %d: %s (%d), want %s (%d)", i, c, st, tt.code, tt.status)
				}
			}
			if _, err := f.refresh(rt); err != nil {
				t.Errorf("third call: %v", err)
			}
			want := Stats{TokenCalls: 4, CodeExchanges: 1, Refreshes: 1, InjectedFailures: 2, Authorizations: 1}
			if diff := cmp.Diff(want, f.srv.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("delay", func(t *testing.T) {
		f := newFixture(t, Options{})
		rt := f.connect(t).RefreshToken
		const d = 300 * time.Millisecond
		f.srv.SetDelay(d)
		start := time.Now()
		if _, err := f.refresh(rt); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < d {
			t.Errorf("answered after %v, want at least %v", el, d)
		}
		ctx, cancel := context.WithTimeout(f.ctx, d/3)
		defer cancel()
		if _, err := f.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token(); err == nil {
			t.Error("a client that gave up before the delay got a token")
		}
	})
}

// TestClientCredentials: minted with the client's own credentials in the
// configured style; no refresh token.
func TestClientCredentials(t *testing.T) {
	for _, style := range []string{StyleParams, StyleHeader} {
		t.Run(style, func(t *testing.T) {
			f := newFixture(t, Options{AuthStyle: style, AccessTTL: time.Hour})
			cc := clientcredentials.Config{
				ClientID: testClientID, ClientSecret: testClientSecret,
				TokenURL: f.conf.Endpoint.TokenURL, AuthStyle: f.conf.Endpoint.AuthStyle,
				Scopes: []string{"read"},
			}
			var kinds []string
			var mu sync.Mutex
			f.srv.OnTokenIssued(func(k string) { mu.Lock(); kinds = append(kinds, k); mu.Unlock() })
			tok, err := cc.Token(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			// clientcredentials copies Expiry, not ExpiresIn.
			if left := time.Until(tok.Expiry); tok.RefreshToken != "" || left < 59*time.Minute || left > time.Hour {
				t.Errorf("refresh %t, expiry in %v, want none and 1h", tok.RefreshToken != "", left)
			}
			if got := f.call(t, tok.AccessToken); got.Status != 200 || got.Account != testClientID {
				t.Errorf("API: %+v", got)
			}
			cc.ClientSecret = "wrong"
			if _, err := cc.Token(f.ctx); err == nil {
				t.Error("a wrong secret minted a token")
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff([]string{IssuedClientCredentials}, kinds); diff != "" {
				t.Errorf("hook kinds (-want +got):\n%s", diff)
			}
			if s := f.srv.Stats(); s.ClientCredentials != 1 || s.InvalidClients != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestRevoke: RFC 7009 form, client auth in the configured style; any
// token of a family revokes it all; unknown tokens get 200 uncounted.
func TestRevoke(t *testing.T) {
	tests := []struct {
		name     string
		style    string
		which    string // "refresh" or "access"
		viaBasic bool
		status   int
		revoked  bool
	}{
		{"refresh token, params", StyleParams, "refresh", false, 200, true},
		{"access token, params", StyleParams, "access", false, 200, true},
		{"refresh token, header", StyleHeader, "refresh", true, 200, true},
		{"unknown token", StyleParams, "unknown", false, 200, false},
		{"wrong style", StyleParams, "refresh", true, 401, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{AuthStyle: tt.style, RotateRefresh: true})
			tok := f.connect(t)
			form := url.Values{"token": {map[string]string{"refresh": tok.RefreshToken, "access": tok.AccessToken, "unknown": "xoxp-unknown"}[tt.which]}}
			form.Set("token_type_hint", tt.which+"_token")
			user, pass := "", ""
			if tt.viaBasic {
				user, pass = testClientID, testClientSecret
			} else {
				form.Set("client_id", testClientID)
				form.Set("client_secret", testClientSecret)
			}
			status, body := f.post(t, DefaultRevokePath, form, user, pass)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, body)
			}
			wantAPI := http.StatusOK
			if tt.revoked {
				wantAPI = http.StatusUnauthorized
			}
			if got := f.call(t, tok.AccessToken); got.Status != wantAPI {
				t.Errorf("API after revoke: %d, want %d", got.Status, wantAPI)
			}
			_, err := f.refresh(tok.RefreshToken)
			if (err != nil) != tt.revoked {
				t.Errorf("refresh after revoke: %v (revoked %t)", err, tt.revoked)
			}
			if n := f.srv.Stats().Revocations; (n == 1) != tt.revoked {
				t.Errorf("Revocations %d", n)
			}
		})
	}
}

// TestTokenEndpointMisuse: method, grant type, missing client.
func TestTokenEndpointMisuse(t *testing.T) {
	f := newFixture(t, Options{})
	resp, err := f.ts.Client().Get(f.ts.URL + DefaultTokenPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET token endpoint: %d", resp.StatusCode)
	}
	auth := url.Values{"client_id": {testClientID}, "client_secret": {testClientSecret}}
	tests := []struct {
		name   string
		form   url.Values
		user   string
		status int
		code   string
	}{
		{"unsupported grant", with(auth, "grant_type", "password"), "", 400, "unsupported_grant_type"},
		{"no client", url.Values{"grant_type": {"client_credentials"}}, "", 401, "invalid_client"},
		{"both styles", with(auth, "grant_type", "client_credentials"), testClientID, 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.post(t, DefaultTokenPath, tt.form, tt.user, testClientSecret)
			if status != tt.status || body["error"] != tt.code || body["error_description"] == "" {
				t.Errorf("got %d %v, want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
}

func with(v url.Values, k, val string) url.Values {
	out := url.Values{}
	for key, vs := range v {
		out[key] = slices.Clone(vs)
	}
	out.Set(k, val)
	return out
}

// TestHookAndTokens: the hook sees each successful grant kind once, after
// the response; Tokens lists every issued secret.
func TestHookAndTokens(t *testing.T) {
	f := newFixture(t, Options{RotateRefresh: true})
	var (
		mu    sync.Mutex
		kinds []string
	)
	f.srv.OnTokenIssued(func(k string) { mu.Lock(); kinds = append(kinds, k); mu.Unlock() })
	tok := f.connect(t)
	next, err := f.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.refresh(tok.RefreshToken) // reuse: no hook
	mu.Lock()
	got := slices.Clone(kinds)
	mu.Unlock()
	if diff := cmp.Diff([]string{IssuedCode, IssuedRefresh}, got); diff != "" {
		t.Errorf("hook kinds (-want +got):\n%s", diff)
	}
	want := []string{tok.AccessToken, tok.RefreshToken, next.AccessToken, next.RefreshToken}
	if diff := cmp.Diff(want, f.srv.Tokens()); diff != "" {
		t.Errorf("Tokens (-want +got):\n%s", diff)
	}
}

// TestConcurrentAPI: 1000 concurrent API calls (the storm's shape) while
// tokens are being refreshed; run with -race.
func TestConcurrentAPI(t *testing.T) {
	f := newFixture(t, Options{RotateRefresh: true, AccessTTL: time.Hour})
	tok := f.connect(t)
	tr := &http.Transport{MaxIdleConnsPerHost: 100}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	var fails sync.Map
	for i := range 1000 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/api/conversations.list", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err := client.Do(req)
			if err != nil {
				fails.Store(i, err.Error())
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				fails.Store(i, resp.Status)
			}
		})
	}
	rt := tok.RefreshToken
	for range 10 {
		next, err := f.refresh(rt)
		if err != nil {
			t.Fatal(err)
		}
		rt = next.RefreshToken
	}
	wg.Wait()
	fails.Range(func(k, v any) bool { t.Errorf("request %v: %v", k, v); return true })
	if s := f.srv.Stats(); s.APICalls != 1000 || s.APIUnauthorized != 0 || s.Refreshes != 10 {
		t.Errorf("stats %+v", s)
	}
}
