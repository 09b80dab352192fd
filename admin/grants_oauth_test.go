package admin

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
	"github.com/google/go-cmp/cmp"
)

func TestCreateClientCredentialsGrant(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	e.createAgent("demo", "bot")
	minted := vault.Grant{ID: "0190b5b2-2222-7000-8000-000000000001", AppID: app.ID, ProviderID: "slack",
		Principal: "system", Status: vault.StatusActive}
	e.oauth.set(func(f *fakeOAuth) {
		f.ccFn = func(appID, providerID, principal string, _ []string) (vault.Grant, error) {
			g := minted
			g.ProviderID, g.Principal = providerID, principal
			return g, nil
		}
	})

	ok := []struct {
		name string
		body map[string]any
		want ccCall
	}{
		{"default principal", map[string]any{"provider": "slack", "grant_type": "client_credentials"},
			ccCall{AppID: app.ID, ProviderID: "slack", Principal: "system"}},
		{"agent principal and scopes", map[string]any{"provider": "slack", "grant_type": "client_credentials", "principal": "agent:bot", "scopes": []string{"a", "b"}},
			ccCall{AppID: app.ID, ProviderID: "slack", Principal: "agent:bot", Scopes: []string{"a", "b"}}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			var got grantView
			e.must(http.StatusCreated, "POST", "/v1/apps/demo/grants", tt.body, &got)
			if got.ID != minted.ID || got.Principal != tt.want.Principal || got.Placeholder != vault.GrantPlaceholder(minted.ID) {
				t.Errorf("answer %+v", got)
			}
			e.oauth.mu.Lock()
			call := e.oauth.cc[len(e.oauth.cc)-1]
			e.oauth.mu.Unlock()
			if diff := cmp.Diff(tt.want, call); diff != "" {
				t.Errorf("manager call (-want +got):\n%s", diff)
			}
			if ev := e.rec.last(t); ev.Action != "grant.client_credentials" || ev.GrantID != minted.ID || ev.Principal != tt.want.Principal {
				t.Errorf("audit event = %+v", ev)
			}
		})
	}

	bad := []struct {
		name     string
		body     any
		err      error // the manager's answer
		status   int
		code     string
		contains string
	}{
		{"no grant type", map[string]any{"provider": "slack"}, nil, 400, CodeInvalidRequest, "grant_type"},
		{"other grant type", map[string]any{"provider": "slack", "grant_type": "authorization_code"}, nil, 400, CodeInvalidRequest, "/v1/connect"},
		{"no provider", map[string]any{"grant_type": "client_credentials"}, nil, 400, CodeInvalidRequest, "provider"},
		{"unknown provider", map[string]any{"provider": "nope", "grant_type": "client_credentials"}, nil, 400, CodeInvalidRequest, "unknown provider"},
		{"api key provider", map[string]any{"provider": "openai", "grant_type": "client_credentials"}, nil, 400, CodeInvalidRequest, "OAuth2"},
		{"bad principal", map[string]any{"provider": "slack", "grant_type": "client_credentials", "principal": "root"}, nil, 400, CodeInvalidRequest, "principal"},
		{"unknown agent", map[string]any{"provider": "slack", "grant_type": "client_credentials", "principal": "agent:ghost"}, nil, 400, CodeInvalidRequest, "names no agent"},
		{"bad scope", map[string]any{"provider": "slack", "grant_type": "client_credentials", "scopes": []string{""}}, nil, 400, CodeInvalidRequest, "scope"},
		{"unknown field", map[string]any{"provider": "slack", "grant_type": "client_credentials", "secret": "x"}, nil, 400, CodeInvalidRequest, "unknown field"},
		{"not configured", map[string]any{"provider": "slack", "grant_type": "client_credentials"}, oauth.ErrNotConfigured, 409, CodeConflict, "gatehouse provider configure"},
		{"bad client", map[string]any{"provider": "slack", "grant_type": "client_credentials"},
			&oauth.ProviderError{Code: "invalid_client", Description: "bad secret"}, 502, CodeProviderError, "bad secret"},
		{"store failure", map[string]any{"provider": "slack", "grant_type": "client_credentials"}, errors.New("disk full"), 500, CodeInternal, "internal error"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			e.oauth.set(func(f *fakeOAuth) {
				f.cc = nil
				f.ccFn = func(string, string, string, []string) (vault.Grant, error) { return vault.Grant{}, tt.err }
			})
			n := len(e.rec.actions())
			got := e.wantErr(tt.status, tt.code, "POST", "/v1/apps/demo/grants", tt.body)
			if !strings.Contains(got.Message, tt.contains) {
				t.Errorf("message %q does not contain %q", got.Message, tt.contains)
			}
			e.oauth.mu.Lock()
			calls := len(e.oauth.cc)
			e.oauth.mu.Unlock()
			if tt.err == nil && calls != 0 {
				t.Error("an invalid request reached the manager")
			}
			if len(e.rec.actions()) != n {
				t.Error("a failed call recorded an audit event")
			}
		})
	}
	e.wantErr(http.StatusNotFound, CodeNotFound, "POST", "/v1/apps/nope/grants",
		map[string]any{"provider": "slack", "grant_type": "client_credentials"})
}

// TestRevokeOAuthGrant checks that an OAuth grant's revocation goes through
// the manager (provider revocation) and a managed secret's does not.
func TestRevokeOAuthGrant(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	key := e.putSecretFor("demo", "slack", "system", "xoxb-1")

	tests := []struct {
		name   string
		result oauth.RevokeResult
	}{
		{"provider revoked", oauth.RevokeResult{ProviderRevoked: true}},
		{"provider failed", oauth.RevokeResult{ProviderError: "the revocation endpoint answered 503"}},
		{"no revocation endpoint", oauth.RevokeResult{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := e.putOAuthGrant(app.ID, "slack", "user:alice", "U1")
			e.oauth.set(func(f *fakeOAuth) {
				f.revoked = nil
				// Like the real manager: the provider call, then the local deletion.
				f.revokeFn = func(appID, grantID string) (oauth.RevokeResult, error) {
					return tt.result, e.vault.DeleteSecret(t.Context(), appID, grantID)
				}
			})
			var got map[string]any
			e.must(http.StatusOK, "POST", "/v1/apps/demo/grants/"+g.ID+"/revoke", nil, &got)
			want := map[string]any{"grant_id": g.ID, "status": vault.StatusRevoked, "provider_revoked": tt.result.ProviderRevoked}
			if tt.result.ProviderError != "" {
				want["provider_error"] = tt.result.ProviderError
			}
			sub := map[string]any{}
			for k := range want {
				sub[k] = got[k]
			}
			if diff := cmp.Diff(want, sub); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if _, has := got["provider_error"]; has != (tt.result.ProviderError != "") {
				t.Errorf("provider_error present = %v in %v", has, got)
			}
			e.oauth.mu.Lock()
			revoked := e.oauth.revoked
			e.oauth.mu.Unlock()
			if diff := cmp.Diff([]string{g.ID}, revoked); diff != "" {
				t.Errorf("manager revocations (-want +got):\n%s", diff)
			}
			ev := e.rec.last(t)
			wantCode := ""
			if tt.result.ProviderError != "" {
				wantCode = "provider_revoke_failed"
			}
			if ev.Action != "grant.revoke" || ev.GrantID != g.ID || ev.ErrorCode != wantCode {
				t.Errorf("audit event = %+v", ev)
			}
		})
	}

	t.Run("managed secret stays local", func(t *testing.T) {
		e.oauth.set(func(f *fakeOAuth) { f.revoked = nil })
		var got map[string]any
		e.must(http.StatusOK, "POST", "/v1/apps/demo/grants/"+key.GrantID+"/revoke", nil, &got)
		if _, has := got["provider_revoked"]; has || got["status"] != vault.StatusRevoked {
			t.Errorf("answer %v", got)
		}
		if len(e.oauth.revoked) != 0 {
			t.Errorf("manager revoked %v", e.oauth.revoked)
		}
	})
	t.Run("manager failure", func(t *testing.T) {
		g := e.putOAuthGrant(app.ID, "slack", "user:bob", "U2")
		e.oauth.set(func(f *fakeOAuth) {
			f.revokeFn = func(string, string) (oauth.RevokeResult, error) { return oauth.RevokeResult{}, errors.New("db down") }
		})
		e.wantErr(http.StatusInternalServerError, CodeInternal, "POST", "/v1/apps/demo/grants/"+g.ID+"/revoke", nil)
	})
}
