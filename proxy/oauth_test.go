package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// scriptedTokens is a Tokens double: the proxy's side of OAuth (what it
// injects, when it retries, how it maps errors) is tested here; refresh
// itself is tested in vault/oauth against a real vault and a fake provider.
type scriptedTokens struct {
	mu        sync.Mutex
	token     vault.Material
	tokenErr  error
	refreshed vault.Material
	refErr    error
	refreshes []int64 // staleVersion of every Refresh call
}

func (s *scriptedTokens) Token(context.Context, vault.Grant) (vault.Material, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, s.tokenErr
}

func (s *scriptedTokens) Refresh(_ context.Context, _ vault.Grant, stale int64) (vault.Material, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes = append(s.refreshes, stale)
	return s.refreshed, s.refErr
}

func (s *scriptedTokens) ReconnectURL(g vault.Grant) string {
	return "https://gatehouse.example/v1/connect/" + g.ProviderID + "?grant=" + g.ID
}

func (s *scriptedTokens) calls() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.refreshes...)
}

// TestOAuthInjection covers DESIGN.md request flow steps 7 and 10 as the
// proxy sees them: the access token is injected, an expired one never is,
// an upstream 401 leads to one refresh and one retry with the same body
// when the body is replayable, and a grant that needs re-consent is
// refused with reauth_required and where to connect again.
func TestOAuthInjection(t *testing.T) {
	now := time.Now()
	valid := func(tok string, version int64) vault.Material {
		return vault.Material{AccessToken: tok, Expiry: now.Add(time.Hour), Version: version}
	}
	tests := []struct {
		name       string
		tokens     *scriptedTokens
		body       string
		chunked    bool // body of unknown length: not replayable
		wantStatus int
		wantCode   string
		wantAuth   []string // Authorization of each upstream request
		wantStale  []int64  // Refresh calls
		wantBodies []string // body of each upstream request
	}{
		{
			name:       "valid token injected",
			tokens:     &scriptedTokens{token: valid("new", 1)},
			wantStatus: 200, wantAuth: []string{"Bearer new"}, wantBodies: []string{""},
		},
		{
			name:       "401 then refresh and retry with the same body",
			tokens:     &scriptedTokens{token: valid("old", 3), refreshed: valid("new", 4)},
			body:       `{"q":"hello"}`,
			wantStatus: 200, wantAuth: []string{"Bearer old", "Bearer new"},
			wantStale: []int64{3}, wantBodies: []string{`{"q":"hello"}`, `{"q":"hello"}`},
		},
		{
			name:       "401 and nothing newer: the 401 is relayed",
			tokens:     &scriptedTokens{token: valid("old", 3), refreshed: valid("old", 3)},
			wantStatus: 401, wantAuth: []string{"Bearer old"}, wantStale: []int64{3}, wantBodies: []string{""},
		},
		{
			name:       "401 and a transient refresh failure: the 401 is relayed",
			tokens:     &scriptedTokens{token: valid("old", 3), refErr: fmt.Errorf("x: %w", oauth.ErrRefreshFailed)},
			wantStatus: 401, wantAuth: []string{"Bearer old"}, wantStale: []int64{3}, wantBodies: []string{""},
		},
		{
			name:   "401 on a body of unknown length is not retried",
			tokens: &scriptedTokens{token: valid("old", 3), refreshed: valid("new", 4)},
			body:   "streamed", chunked: true,
			wantStatus: 401, wantAuth: []string{"Bearer old"}, wantBodies: []string{"streamed"},
		},
		{
			name:       "401 and the refresh token was refused",
			tokens:     &scriptedTokens{token: valid("old", 3), refErr: fmt.Errorf("x: %w", oauth.ErrReauthRequired)},
			wantStatus: 403, wantCode: CodeReauthRequired, wantAuth: []string{"Bearer old"}, wantStale: []int64{3}, wantBodies: []string{""},
		},
		{
			name:       "grant needs re-consent",
			tokens:     &scriptedTokens{tokenErr: fmt.Errorf("x: %w", oauth.ErrReauthRequired)},
			wantStatus: 403, wantCode: CodeReauthRequired,
		},
		{
			name:       "token endpoint down and no valid token",
			tokens:     &scriptedTokens{tokenErr: fmt.Errorf("x: %w", oauth.ErrRefreshFailed)},
			wantStatus: 502, wantCode: CodeUpstreamUnreachable,
		},
		{
			name:       "an expired token is never injected",
			tokens:     &scriptedTokens{token: vault.Material{AccessToken: "stale", Expiry: now.Add(-time.Second), Version: 2}},
			wantStatus: 502, wantCode: CodeUpstreamUnreachable,
		},
		{
			name:       "vault failure fails closed",
			tokens:     &scriptedTokens{tokenErr: fmt.Errorf("store: connection refused")},
			wantStatus: 503, wantCode: CodeVaultUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens := tt.tokens
			e := newEnv(t, func(c *envConfig) { c.tokens = tokens })
			g := e.secret("openai", "system", "unused-api-key")
			e.upstream.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer new" {
					w.WriteHeader(http.StatusUnauthorized)
					_, _ = io.WriteString(w, `{"error":"invalid_token"}`)
					return
				}
				_, _ = io.WriteString(w, `{"ok":true}`)
			}))
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
				if tt.chunked {
					body = io.MultiReader(strings.NewReader(tt.body)) // hides the length
				}
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://api.openai.com/v1/chat/completions", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer client-supplied")
			resp, err := e.client(e.appKey).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			if tt.wantCode != "" {
				code, fields := errorOf(t, resp, b)
				if code != tt.wantCode {
					t.Fatalf("code %q, want %q", code, tt.wantCode)
				}
				if tt.wantCode != CodeVaultUnavailable && fields["grant_id"] != g.ID {
					t.Errorf("grant_id = %v, want %s", fields["grant_id"], g.ID)
				}
				if tt.wantCode == CodeReauthRequired && !strings.Contains(fmt.Sprint(fields["connect_url"]), g.ID) {
					t.Errorf("connect_url = %v, want the grant's reconnect URL", fields["connect_url"])
				}
			}
			var auths, bodies []string
			for _, r := range e.upstream.Requests() {
				auths = append(auths, r.Header.Get("Authorization"))
				bodies = append(bodies, string(r.Body))
			}
			if diff := cmp.Diff(tt.wantAuth, auths); diff != "" {
				t.Errorf("upstream Authorization (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantBodies, bodies); diff != "" {
				t.Errorf("upstream bodies (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStale, tokens.calls()); diff != "" {
				t.Errorf("Refresh calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOAuthRetryAudit checks that a retried call is one audit event with
// the final status and the bytes of both attempts.
func TestOAuthRetryAudit(t *testing.T) {
	tokens := &scriptedTokens{
		token:     vault.Material{AccessToken: "old", Expiry: time.Now().Add(time.Hour), Version: 1},
		refreshed: vault.Material{AccessToken: "new", Expiry: time.Now().Add(time.Hour), Version: 2},
	}
	e := newEnv(t, func(c *envConfig) { c.tokens = tokens })
	e.secret("openai", "system", "unused-api-key")
	e.upstream.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer new" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://api.openai.com/v1/x", strings.NewReader("12345"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.client(e.appKey).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	evs := e.auditEvents()
	if len(evs) != 1 {
		t.Fatalf("%d audit events, want 1: %+v", len(evs), evs)
	}
	got := struct {
		Status  int
		BytesIn int64
	}{evs[0].Status, evs[0].BytesIn}
	want := struct {
		Status  int
		BytesIn int64
	}{200, 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit event (-want +got):\n%s", diff)
	}
}

// TestDelegatedGrant covers the agent side of grant resolution (request
// flow step 5.4 and step 6): an agent reaches a user's grant only once the
// user delegated it, implicitly or by naming it, and loses it when the
// delegation is removed while the grant stays.
func TestDelegatedGrant(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	user := e.secret("openai", "user:alice", "sk-alice")
	get := func(hdr http.Header) (int, string) {
		resp, b := e.request(e.agentKey, http.MethodGet, "https://api.openai.com/v1/models", hdr)
		if resp.StatusCode == http.StatusOK {
			return resp.StatusCode, ""
		}
		code, _ := errorOf(t, resp, b)
		return resp.StatusCode, code
	}
	named := http.Header{"Gatehouse-Grant": {user.ID}}
	type result struct {
		Status int
		Code   string
	}
	check := func(when string, hdr http.Header, want result) {
		t.Helper()
		s, c := get(hdr)
		if diff := cmp.Diff(want, result{s, c}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", when, diff)
		}
	}
	check("named, before delegation", named, result{403, CodeNotEntitled})
	check("implicit, before delegation", nil, result{403, CodeGrantNotFound})

	d, err := e.vault.Delegate(ctx, e.app.ID, user.ID, e.agent.Name)
	if err != nil {
		t.Fatal(err)
	}
	check("named, delegated", named, result{200, ""})
	check("implicit, delegated", nil, result{200, ""})
	if got := e.upstream.Last(t).Header.Get("Authorization"); got != "Bearer sk-alice" {
		t.Errorf("upstream Authorization = %q, want the delegated grant's key", got)
	}

	own := e.secret("openai", "agent:"+e.agent.Name, "sk-bot")
	check("implicit, own and delegated", nil, result{409, CodeGrantAmbiguous})
	if err := e.vault.RevokeGrant(ctx, e.app.ID, own.ID); err != nil {
		t.Fatal(err)
	}

	if err := e.vault.RemoveDelegation(ctx, e.app.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	check("named, delegation removed", named, result{403, CodeNotEntitled})
	g, err := e.vault.Grant(ctx, e.app.ID, user.ID)
	if err != nil || g.Status != vault.StatusActive {
		t.Errorf("grant after removing the delegation: %v %v, want active", g.Status, err)
	}
}

// TestReauthOnImplicitGrant: when the grant implicit resolution would
// have picked needs re-consent, the caller is told so (reauth_required
// with the grant and connect URL), not a bare grant_not_found.
func TestReauthOnImplicitGrant(t *testing.T) {
	tokens := &scriptedTokens{}
	e := newEnv(t, func(c *envConfig) { c.tokens = tokens })
	g := e.secret("openai", "system", "sk-system")
	if err := e.vault.SetGrantStatus(t.Context(), e.app.ID, g.ID, vault.StatusNeedsReauth); err != nil {
		t.Fatal(err)
	}
	for _, hdr := range []http.Header{nil, {"Gatehouse-Grant": {g.ID}}} {
		resp, b := e.request(e.appKey, http.MethodGet, "https://api.openai.com/v1/models", hdr)
		code, fields := errorOf(t, resp, b)
		got := []any{resp.StatusCode, code, fields["grant_id"], fields["connect_url"]}
		want := []any{403, CodeReauthRequired, g.ID, tokens.ReconnectURL(g)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Gatehouse-Grant %v (-want +got):\n%s", hdr, diff)
		}
	}
	if n := e.upstream.Count(); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}
}
