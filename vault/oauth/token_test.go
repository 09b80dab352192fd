package oauth_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/internal/fakeoauth"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

const ttl = time.Hour

// single is one SQLite replica with a grant connected through the fake.
type single struct {
	*env
	r   replica
	app string
	g   vault.Grant
}

func newSingle(t *testing.T, fo fakeoauth.Options, p provider, cfg oauth.Config) *single {
	t.Helper()
	switch {
	case fo.AccessTTL == 0:
		fo.AccessTTL = ttl
	case fo.AccessTTL < 0:
		fo.AccessTTL = 0 // no expires_in
	}
	e := newEnv(t, fo, p)
	v, app := e.sqlite(t)
	r := replica{v: v, m: e.manager(t, v, nil, "", cfg)}
	g := e.connect(t, r, oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice"})
	return &single{env: e, r: r, app: app, g: g}
}

func TestTokenPassesThroughNonOAuth(t *testing.T) {
	e := newEnv(t, fakeoauth.Options{}, provider{})
	v, app := e.sqlite(t)
	m := e.manager(t, v, nil, "", oauth.Config{})
	g, _, err := v.PutSecret(t.Context(), app, "openai", vault.KindAPIKey, vault.PrincipalSystem, vault.Material{Token: "sk-test-123"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Token(t.Context(), g)
	if err != nil {
		t.Fatal(err)
	}
	if got.Token != "sk-test-123" || got.AccessToken != "" {
		t.Errorf("Token = %+v fields, want the api key unchanged", map[string]bool{"token": got.Token != "", "access_token": got.AccessToken != ""})
	}
	if n := e.fake.Stats().TokenCalls; n != 0 {
		t.Errorf("token endpoint calls = %d, want 0", n)
	}
}

func TestTokenRefreshWindow(t *testing.T) {
	for _, tc := range []struct {
		name        string
		advance     time.Duration
		wantRefresh bool
	}{
		{"fresh token is used as is", 10 * time.Minute, false},
		{"outside the proactive window", ttl - 6*time.Minute, false},
		{"inside the skew", ttl - time.Minute, true},
		{"expired", ttl + time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSingle(t, fakeoauth.Options{RotateRefresh: true}, provider{}, oauth.Config{})
			before := stored(t, s.r.v, s.g)
			s.clock.Advance(tc.advance)
			got, err := s.r.m.Token(t.Context(), s.g)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			after := stored(t, s.r.v, s.g)
			if refreshed := got.AccessToken != before.AccessToken; refreshed != tc.wantRefresh {
				t.Fatalf("refreshed = %t, want %t", refreshed, tc.wantRefresh)
			}
			if !got.Expiry.After(s.clock.Now()) {
				t.Errorf("returned token expires at %s, now is %s", got.Expiry, s.clock.Now())
			}
			if !tc.wantRefresh {
				return
			}
			// The rotated refresh token was stored, at the next version.
			if diff := cmp.Diff(got, after, cmpopts.EquateApproxTime(time.Second)); diff != "" {
				t.Errorf("returned and stored token sets differ (-returned +stored):\n%s", diff)
			}
			if after.RefreshToken == before.RefreshToken || after.Version != before.Version+1 {
				t.Errorf("stored version %d → %d, refresh token rotated %t", before.Version, after.Version, after.RefreshToken != before.RefreshToken)
			}
			if want := s.clock.Now().Add(ttl); !after.Expiry.Equal(want) {
				t.Errorf("expiry = %s, want %s (expires_in on the injected clock)", after.Expiry, want)
			}
			if st := s.fake.Stats(); st.Refreshes != 1 || st.ReuseDetected != 0 {
				t.Errorf("fake refreshes = %d, reuse = %d; want 1, 0", st.Refreshes, st.ReuseDetected)
			}
			// The next refresh uses the rotated token (a consumed one would
			// be reuse and revoke the family).
			s.clock.Advance(ttl)
			if _, err := s.r.m.Token(t.Context(), s.g); err != nil {
				t.Fatalf("second refresh: %v", err)
			}
			if st := s.fake.Stats(); st.Refreshes != 2 || st.ReuseDetected != 0 {
				t.Errorf("fake refreshes = %d, reuse = %d; want 2, 0", st.Refreshes, st.ReuseDetected)
			}
		})
	}
}

func TestProactiveRefresh(t *testing.T) {
	s := newSingle(t, fakeoauth.Options{RotateRefresh: true}, provider{}, oauth.Config{})
	before := stored(t, s.r.v, s.g)
	s.clock.Advance(ttl - 4*time.Minute) // inside the 5m window, outside the 2m skew
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			got, err := s.r.m.Token(t.Context(), s.g)
			switch {
			case err != nil:
				t.Errorf("Token: %v", err)
			case !s.clock.Now().Before(got.Expiry):
				t.Errorf("Token returned an expired token")
			}
		})
	}
	wg.Wait()
	s.r.m.Close() // waits for the background refresh
	if n := s.fake.Stats().Refreshes; n != 1 {
		t.Errorf("background refreshes = %d, want 1", n)
	}
	if after := stored(t, s.r.v, s.g); after.Version != before.Version+1 || after.AccessToken == before.AccessToken {
		t.Errorf("stored version %d → %d; want one background refresh stored", before.Version, after.Version)
	}
	if st := s.r.m.Stats(); st.ProactiveRefreshes < 1 || st.Refreshes != 1 {
		t.Errorf("stats = %+v, want ≥1 proactive start and 1 refresh", st)
	}
}

func TestShortLivedTokensAreNotRefreshedEveryCall(t *testing.T) {
	// A 3-minute token is inside the 5m proactive window and close to the
	// 2m skew from birth; the windows shrink to its lifetime.
	s := newSingle(t, fakeoauth.Options{AccessTTL: 3 * time.Minute}, provider{}, oauth.Config{})
	for range 5 {
		if _, err := s.r.m.Token(t.Context(), s.g); err != nil {
			t.Fatal(err)
		}
	}
	s.r.m.Close()
	if n := s.fake.Stats().Refreshes; n != 0 {
		t.Errorf("refreshes of a token that just arrived = %d, want 0", n)
	}
}

func TestDefaultLifetime(t *testing.T) {
	// No expires_in: the catalog's default lifetime applies.
	s := newSingle(t, fakeoauth.Options{AccessTTL: -1}, provider{Lifetime: "1h"}, oauth.Config{})
	first := stored(t, s.r.v, s.g)
	if want := s.clock.Now().Add(time.Hour); !first.Expiry.Equal(want) {
		t.Fatalf("expiry = %s, want %s (default lifetime)", first.Expiry, want)
	}
	s.clock.Advance(59 * time.Minute)
	got, err := s.r.m.Token(t.Context(), s.g)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccessToken == first.AccessToken {
		t.Error("a token inside the skew of its default lifetime was not refreshed")
	}
}

func TestZeroExpiryUsesCredentialAge(t *testing.T) {
	// A token set stored without expiry (not by the connect flow): the
	// default lifetime counts from the credential's last update.
	e := newEnv(t, fakeoauth.Options{}, provider{Lifetime: "1h"})
	v, app := e.sqlite(t)
	m := e.manager(t, v, nil, "", oauth.Config{})
	g, _, err := v.PutOAuthGrant(t.Context(), app, e.prov.ID, "user:bob", "", vault.Material{
		AccessToken: "at-static", RefreshToken: "rt-unknown-to-the-fake", GrantType: vault.GrantAuthorizationCode,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(30 * time.Minute)
	if got, err := m.Token(t.Context(), g); err != nil || got.AccessToken != "at-static" {
		t.Fatalf("Token at 30m = %v; want the stored token", err)
	}
	if n := e.fake.Stats().TokenCalls; n != 0 {
		t.Fatalf("token calls at 30m = %d, want 0", n)
	}
	e.clock.Advance(31 * time.Minute)
	// Past the lifetime: a refresh is attempted; the fake does not know
	// the refresh token, so the grant needs re-consent.
	if _, err := m.Token(t.Context(), g); !errors.Is(err, oauth.ErrReauthRequired) {
		t.Fatalf("Token at 61m: %v, want ErrReauthRequired", err)
	}
	if n := e.fake.Stats().TokenCalls; n != 1 {
		t.Errorf("token calls = %d, want 1", n)
	}
}

func TestInvalidGrant(t *testing.T) {
	s := newSingle(t, fakeoauth.Options{RotateRefresh: true}, provider{}, oauth.Config{})
	s.fake.RevokeRefreshTokens()
	s.clock.Advance(ttl + time.Minute)
	calls := s.fake.Stats().TokenCalls
	_, err := s.r.m.Token(t.Context(), s.g)
	if !errors.Is(err, oauth.ErrReauthRequired) {
		t.Fatalf("Token: %v, want ErrReauthRequired", err)
	}
	s.checkErr(t, err)
	if n := s.fake.Stats().TokenCalls - calls; n != 1 {
		t.Errorf("token calls = %d, want 1 (invalid_grant is never retried)", n)
	}
	g, err := s.r.v.Store().GetGrant(t.Context(), s.app, s.g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.Status != vault.StatusNeedsReauth {
		t.Errorf("grant status = %s, want needs_reauth", g.Status)
	}
	want := []audit.Event{{
		Kind: audit.KindAdmin, AppID: s.app, Principal: "user:alice", GrantID: s.g.ID, ProviderID: s.prov.ID,
		Action: "grant.needs_reauth", Actor: "gatehouse",
	}}
	if diff := cmp.Diff(want, s.events.all(), cmpopts.IgnoreFields(audit.Event{}, "ID", "Time", "Reason")); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
	if st := s.r.m.Stats(); st.Reauth != 1 {
		t.Errorf("reauth counter = %d, want 1", st.Reauth)
	}
	// The grant as re-read, and the old grant value, are both refused
	// without another token call.
	for _, gg := range []vault.Grant{g, s.g} {
		if _, err := s.r.m.Token(t.Context(), gg); !errors.Is(err, oauth.ErrReauthRequired) {
			t.Errorf("Token after needs_reauth: %v, want ErrReauthRequired", err)
		}
	}
	if n := s.fake.Stats().TokenCalls - calls; n != 1 {
		t.Errorf("token calls after needs_reauth = %d, want still 1", n)
	}
}

func TestTransientFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fail      int
		advance   time.Duration
		wantErr   error
		wantSame  bool // the current (still valid) token is returned
		wantCalls int
	}{
		{"503 then success", 2, ttl + time.Minute, nil, false, 3},
		{"expired and endpoint down", 100, ttl + time.Minute, oauth.ErrRefreshFailed, false, 3},
		{"inside skew and endpoint down", 100, ttl - time.Minute, nil, true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSingle(t, fakeoauth.Options{RotateRefresh: true}, provider{}, oauth.Config{})
			before := stored(t, s.r.v, s.g)
			s.fake.FailNext(tc.fail, http.StatusServiceUnavailable)
			calls := s.fake.Stats().TokenCalls
			s.clock.Advance(tc.advance)
			got, err := s.r.m.Token(t.Context(), s.g)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Token: %v, want %v", err, tc.wantErr)
			}
			s.checkErr(t, err)
			if n := s.fake.Stats().TokenCalls - calls; n != tc.wantCalls {
				t.Errorf("token calls = %d, want %d", n, tc.wantCalls)
			}
			switch {
			case err != nil:
				if got.AccessToken != "" {
					t.Error("a failed Token returned an access token")
				}
			case !s.clock.Now().Before(got.Expiry):
				t.Errorf("Token returned an expired token (expiry %s, now %s)", got.Expiry, s.clock.Now())
			case (got.AccessToken == before.AccessToken) != tc.wantSame:
				t.Errorf("returned the current token: %t, want %t", got.AccessToken == before.AccessToken, tc.wantSame)
			}
			g, _ := s.r.v.Store().GetGrant(t.Context(), s.app, s.g.ID)
			if g.Status != vault.StatusActive {
				t.Errorf("grant status = %s after transient failures, want active", g.Status)
			}
		})
	}
}

func TestInvalidClientKeepsState(t *testing.T) {
	s := newSingle(t, fakeoauth.Options{RotateRefresh: true}, provider{}, oauth.Config{})
	if _, err := s.r.v.ConfigureProvider(t.Context(), s.app, s.prov.ID, clientID, "wrong-secret", nil); err != nil {
		t.Fatal(err)
	}
	before := stored(t, s.r.v, s.g)
	s.clock.Advance(ttl + time.Minute)
	calls := s.fake.Stats().TokenCalls
	_, err := s.r.m.Token(t.Context(), s.g)
	if !errors.Is(err, oauth.ErrRefreshFailed) || errors.Is(err, oauth.ErrReauthRequired) {
		t.Fatalf("Token: %v, want ErrRefreshFailed only", err)
	}
	s.checkErr(t, err)
	if n := s.fake.Stats().TokenCalls - calls; n != 1 {
		t.Errorf("token calls = %d, want 1 (not retried)", n)
	}
	if diff := cmp.Diff(before, stored(t, s.r.v, s.g)); diff != "" {
		t.Errorf("stored token set changed:\n%s", diff)
	}
	if g, _ := s.r.v.Store().GetGrant(t.Context(), s.app, s.g.ID); g.Status != vault.StatusActive {
		t.Errorf("grant status = %s, want active", g.Status)
	}
	if len(s.events.all()) != 0 {
		t.Errorf("audit events = %v, want none", s.events.all())
	}
}

func TestRotationPersistedWhenCallerCancels(t *testing.T) {
	s := newSingle(t, fakeoauth.Options{RotateRefresh: true}, provider{}, oauth.Config{})
	before := stored(t, s.r.v, s.g)
	ctx, cancel := context.WithCancel(t.Context())
	returned := make(chan struct{})
	// The client disconnects after the provider rotated the refresh token
	// and before Gatehouse read the response: the fake's response body
	// ends only when this hook returns.
	s.fake.OnTokenIssued(func(kind string) {
		if kind == fakeoauth.IssuedRefresh {
			cancel()
			<-returned
		}
	})
	s.clock.Advance(ttl + time.Minute)
	_, err := s.r.m.Token(ctx, s.g)
	close(returned)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Token: %v, want context.Canceled", err)
	}
	s.r.m.Close() // waits for the refresh the caller abandoned
	after := stored(t, s.r.v, s.g)
	if after.Version != before.Version+1 || after.RefreshToken == before.RefreshToken {
		t.Fatalf("stored version %d → %d, rotated refresh token stored %t", before.Version, after.Version, after.RefreshToken != before.RefreshToken)
	}
	// Another replica (a new manager) refreshes with the rotated token.
	s.fake.OnTokenIssued(nil)
	m2 := s.manager(t, s.r.v, nil, "", oauth.Config{})
	s.clock.Advance(ttl + time.Minute)
	if _, err := m2.Token(t.Context(), s.g); err != nil {
		t.Fatalf("refresh after the abandoned one: %v", err)
	}
	if st := s.fake.Stats(); st.ReuseDetected != 0 || st.Refreshes != 2 {
		t.Errorf("fake refreshes = %d, reuse = %d; want 2, 0", st.Refreshes, st.ReuseDetected)
	}
}

func TestRefreshAfter401(t *testing.T) {
	s := newSingle(t, fakeoauth.Options{RotateRefresh: true}, provider{}, oauth.Config{})
	cur, err := s.r.m.Token(t.Context(), s.g)
	if err != nil {
		t.Fatal(err)
	}
	// The upstream rejected cur although it has not expired: force.
	fresh, err := s.r.m.Refresh(t.Context(), s.g, cur.Version)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if fresh.Version <= cur.Version || fresh.AccessToken == cur.AccessToken {
		t.Fatalf("Refresh returned version %d (was %d), new token %t", fresh.Version, cur.Version, fresh.AccessToken != cur.AccessToken)
	}
	// A second 401 for the same stale version: someone already refreshed.
	again, err := s.r.m.Refresh(t.Context(), s.g, cur.Version)
	if err != nil {
		t.Fatal(err)
	}
	if again.AccessToken != fresh.AccessToken {
		t.Error("a refresh for an already replaced version refreshed again")
	}
	if n := s.fake.Stats().Refreshes; n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
}

func TestReconnectURL(t *testing.T) {
	e := newEnv(t, fakeoauth.Options{}, provider{})
	v, _ := e.sqlite(t)
	m := e.manager(t, v, nil, "", oauth.Config{RedirectURL: "https://gh.example.com/base/oauth/callback"})
	for _, tc := range []struct {
		g    vault.Grant
		want string
	}{
		{vault.Grant{ID: "g1", AppID: "a1", ProviderID: "slack", Principal: "user:alice@example.com"},
			"https://gh.example.com/v1/connect/slack?app=a1&grant=g1&principal=user%3Aalice%40example.com"},
		{vault.Grant{ID: "g2", AppID: "a1", ProviderID: "google"},
			"https://gh.example.com/v1/connect/google?app=a1&grant=g2"},
	} {
		if got := m.ReconnectURL(tc.g); got != tc.want {
			t.Errorf("ReconnectURL = %s, want %s", got, tc.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t, fakeoauth.Options{}, provider{})
	v, _ := e.sqlite(t)
	d := oauth.Deps{Vault: v, Catalog: e.cat, HTTPClient: http.DefaultClient}
	for _, tc := range []struct {
		name string
		cfg  oauth.Config
		d    oauth.Deps
	}{
		{"no redirect URL", oauth.Config{}, d},
		{"relative redirect URL", oauth.Config{RedirectURL: "/oauth/callback"}, d},
		{"lease shorter than a token call", oauth.Config{RedirectURL: redirectURL, LeaseTTL: time.Second, TokenTimeout: 2 * time.Second}, d},
		{"no HTTP client", oauth.Config{RedirectURL: redirectURL}, oauth.Deps{Vault: v, Catalog: e.cat}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := oauth.New(tc.cfg, tc.d); err == nil {
				m.Close()
				t.Error("New accepted it")
			}
		})
	}
}

// TestRedisDownLease: with Redis configured but unreachable, a rotating
// refresh token is not refreshed without the lease (two replicas presenting
// it at once would trip the provider's reuse detection and lose the whole
// token family), while a non-rotating one is.
func TestRedisDownLease(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		name          string
		rotating      bool
		wantErr       error
		wantRefreshes int
	}{
		{"rotating refresh token", true, oauth.ErrRefreshFailed, 0},
		{"non-rotating refresh token", false, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fakeoauth.Options{RotateRefresh: tc.rotating, AccessTTL: ttl}, provider{NoRotation: !tc.rotating})
			v, app := e.sqlite(t)
			rdb := redis.NewClient(&redis.Options{Addr: dead, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
			t.Cleanup(func() { rdb.Close() })
			r := replica{v: v, m: e.manager(t, v, rdb, "gatehouse-test:", oauth.Config{})}
			g := e.connect(t, r, oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice"})
			e.clock.Advance(ttl + time.Minute)
			before := e.fake.Stats().Refreshes
			m, err := r.m.Token(t.Context(), g)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Token: %v, want %v", err, tc.wantErr)
			}
			if err == nil && !m.Expiry.After(e.clock.Now()) {
				t.Errorf("Token returned a token expiring at %v, now %v", m.Expiry, e.clock.Now())
			}
			if n := e.fake.Stats().Refreshes - before; n != tc.wantRefreshes {
				t.Errorf("refreshes = %d, want %d", n, tc.wantRefreshes)
			}
			if st := r.m.Stats(); st.LeaseErrors != 1 {
				t.Errorf("lease errors = %d, want 1", st.LeaseErrors)
			}
		})
	}
}
