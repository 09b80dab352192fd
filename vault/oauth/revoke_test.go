package oauth_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/fakeoauth"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

func TestRevoke(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prov     provider
		style    string
		breakIt  func(t *testing.T, e *env) // makes the provider refuse
		want     oauth.RevokeResult
		wantErrs string // substring of ProviderError
		revoked  int    // revocations the fake counted
	}{
		{name: "params auth", want: oauth.RevokeResult{ProviderRevoked: true}, revoked: 1},
		{name: "header auth", prov: provider{AuthStyle: "header"}, want: oauth.RevokeResult{ProviderRevoked: true}, revoked: 1},
		{name: "no revoke_url", prov: provider{NoRevoke: true}, want: oauth.RevokeResult{}},
		{
			name:     "provider refuses",
			breakIt:  func(t *testing.T, e *env) { e.reconfigure(t, "wrong-secret") },
			wantErrs: "answered HTTP 401 invalid_client",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fakeoauth.Options{AccessTTL: ttl}, tc.prov)
			v, app := e.sqlite(t)
			e.v, e.appID = v, app
			r := replica{v: v, m: e.manager(t, v, nil, "", oauth.Config{})}
			g := e.connect(t, r, oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice"})
			if tc.breakIt != nil {
				tc.breakIt(t, e)
			}
			res, err := r.m.Revoke(t.Context(), app, g.ID)
			if err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			if tc.wantErrs != "" {
				if res.ProviderRevoked || !strings.Contains(res.ProviderError, tc.wantErrs) {
					t.Errorf("result = %+v, want a provider error containing %q", res, tc.wantErrs)
				}
				for _, s := range append(e.fake.Tokens(), clientSecret, "wrong-secret") {
					if strings.Contains(res.ProviderError, s) {
						t.Errorf("provider error carries a secret")
					}
				}
			} else if res != tc.want {
				t.Errorf("result = %+v, want %+v", res, tc.want)
			}
			if n := e.fake.Stats().Revocations; n != tc.revoked {
				t.Errorf("fake revocations = %d, want %d", n, tc.revoked)
			}
			// Deleted locally in every case.
			got, err := v.Store().GetGrant(t.Context(), app, g.ID)
			if err != nil || got.Status != vault.StatusRevoked {
				t.Errorf("grant after Revoke: %v %s, want revoked", err, got.Status)
			}
			if _, err := v.MaterialFromStore(t.Context(), app, g.CredentialID); !errors.Is(err, vault.ErrNotFound) {
				t.Errorf("token set after Revoke: %v, want ErrNotFound", err)
			}
			// Idempotent.
			if _, err := r.m.Revoke(t.Context(), app, g.ID); err != nil {
				t.Errorf("second Revoke: %v", err)
			}
		})
	}
}

func TestRevokeRefusesAPIKeys(t *testing.T) {
	e := newEnv(t, fakeoauth.Options{}, provider{})
	v, app := e.sqlite(t)
	m := e.manager(t, v, nil, "", oauth.Config{})
	g, _, err := v.PutSecret(t.Context(), app, "openai", vault.KindAPIKey, vault.PrincipalSystem, vault.Material{Token: "sk-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Revoke(t.Context(), app, g.ID); !errors.Is(err, oauth.ErrNotOAuth) {
		t.Errorf("Revoke: %v, want ErrNotOAuth", err)
	}
	if _, err := m.Refresh(t.Context(), g, 1); !errors.Is(err, oauth.ErrNotOAuth) {
		t.Errorf("Refresh: %v, want ErrNotOAuth", err)
	}
}

func TestClientCredentials(t *testing.T) {
	for _, style := range []string{"params", "header"} {
		t.Run(style, func(t *testing.T) {
			e := newEnv(t, fakeoauth.Options{AccessTTL: ttl}, provider{AuthStyle: style})
			v, app := e.sqlite(t)
			m := e.manager(t, v, nil, "", oauth.Config{})
			g, err := m.CreateClientCredentialsGrant(t.Context(), app, e.prov.ID, vault.PrincipalSystem, []string{"admin:read"})
			if err != nil {
				t.Fatalf("CreateClientCredentialsGrant: %v", err)
			}
			if g.Principal != vault.PrincipalSystem || g.Status != vault.StatusActive {
				t.Errorf("grant = %+v", g)
			}
			first := stored(t, v, g)
			if first.GrantType != vault.GrantClientCredentials || first.RefreshToken != "" || first.Scopes[0] != "admin:read" {
				t.Errorf("token set: grant type %q, has refresh token %t, scopes %v", first.GrantType, first.RefreshToken != "", first.Scopes)
			}
			got, err := m.Token(t.Context(), g)
			if err != nil || got.AccessToken != first.AccessToken {
				t.Fatalf("Token: %v (same token %t)", err, got.AccessToken == first.AccessToken)
			}
			// At expiry a new token is minted with the client.
			e.clock.Advance(ttl)
			got, err = m.Token(t.Context(), g)
			if err != nil {
				t.Fatalf("Token at expiry: %v", err)
			}
			if got.AccessToken == first.AccessToken || !e.clock.Now().Before(got.Expiry) {
				t.Error("the expired client-credentials token was not minted again")
			}
			if n := e.fake.Stats().ClientCredentials; n != 2 {
				t.Errorf("client_credentials grants = %d, want 2", n)
			}
		})
	}
}

func TestClientCredentialsRefused(t *testing.T) {
	e := newEnv(t, fakeoauth.Options{}, provider{})
	v, app := e.sqlite(t)
	e.v, e.appID = v, app
	m := e.manager(t, v, nil, "", oauth.Config{})
	e.reconfigure(t, "wrong-secret")
	_, err := m.CreateClientCredentialsGrant(t.Context(), app, e.prov.ID, vault.PrincipalSystem, nil)
	var pe *oauth.ProviderError
	if !errors.As(err, &pe) || pe.Code != "invalid_client" {
		t.Fatalf("CreateClientCredentialsGrant: %v, want invalid_client", err)
	}
	e.fake.FailNext(10, http.StatusBadGateway)
	e.reconfigure(t, clientSecret)
	if _, err := m.CreateClientCredentialsGrant(t.Context(), app, e.prov.ID, vault.PrincipalSystem, nil); err == nil {
		t.Fatal("a 502 from the token endpoint created a grant")
	}
	if _, err := m.CreateClientCredentialsGrant(t.Context(), app, "openai", vault.PrincipalSystem, nil); !errors.Is(err, oauth.ErrNotOAuth) {
		t.Errorf("API-key provider: %v, want ErrNotOAuth", err)
	}
	if gs, _ := v.Store().ListGrants(t.Context(), app, vault.GrantFilter{}); len(gs) != 0 {
		t.Errorf("refused mints left %d grants", len(gs))
	}
}
