package admin

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/vault"
)

func TestIdentityAPI(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/v1/apps/demo/identity", nil)

	ok := []struct {
		name   string
		body   map[string]any
		want   identityView
		stored identity.Provider
	}{
		{"defaults", map[string]any{"issuer": "https://idp.example.com", "audience": "gatehouse"},
			identityView{AppID: app.ID, Issuer: "https://idp.example.com", Audience: "gatehouse", UserClaim: "sub",
				Algorithms: []string{"RS256", "ES256"}, Leeway: "30s"},
			identity.Provider{Issuer: "https://idp.example.com", Audience: "gatehouse"}},
		{"every field", map[string]any{"issuer": "https://login.example.com/t1", "audience": "api://gh", "jwks_url": "https://login.example.com/keys",
			"user_claim": "email", "group_claim": "groups", "algorithms": []string{"ES384"}, "leeway": "1m"},
			identityView{AppID: app.ID, Issuer: "https://login.example.com/t1", Audience: "api://gh", JWKSURL: "https://login.example.com/keys",
				UserClaim: "email", GroupClaim: "groups", Algorithms: []string{"ES384"}, Leeway: "1m0s"},
			identity.Provider{Issuer: "https://login.example.com/t1", Audience: "api://gh", JWKSURL: "https://login.example.com/keys",
				UserClaim: "email", GroupClaim: "groups", Algorithms: []string{"ES384"}, Leeway: time.Minute}},
	}
	ignoreTimes := cmpopts.IgnoreFields(identityView{}, "CreatedAt", "UpdatedAt")
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			var got identityView
			e.must(http.StatusOK, "PUT", "/v1/apps/demo/identity", tt.body, &got)
			if diff := cmp.Diff(tt.want, got, ignoreTimes); diff != "" {
				t.Errorf("PUT (-want +got):\n%s", diff)
			}
			var again identityView
			e.must(http.StatusOK, "GET", "/v1/apps/demo/identity", nil, &again)
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("GET differs from PUT (-put +get):\n%s", diff)
			}
			p, err := e.vault.IdentityProvider(t.Context(), app.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.stored, IdentityConfig(p), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("stored provider (-want +got):\n%s", diff)
			}
			if ev := e.rec.last(t); ev.Action != "identity.set" || ev.AppID != app.ID {
				t.Errorf("audit event = %+v", ev)
			}
		})
	}

	refused := []struct {
		name    string
		body    any
		message string
	}{
		{"http issuer", map[string]any{"issuer": "http://idp.example.com", "audience": "a"},
			`invalid identity provider: issuer: "http://idp.example.com" must be an https URL`},
		{"hs256 and no audience", map[string]any{"issuer": "https://idp.example.com", "algorithms": []string{"HS256"}},
			`invalid identity provider: audience is required (the client id or API identifier the IdP puts in "aud"); ` +
				`algorithm "HS256" is refused: shared-secret algorithms allow key confusion with a public JWKS`},
		{"bad leeway", map[string]any{"issuer": "https://idp.example.com", "audience": "a", "leeway": "soon"},
			`field "leeway" is not a duration such as 30s`},
		{"unknown field", map[string]any{"issuer": "https://idp.example.com", "audience": "a", "aud": "x"}, `unknown field "aud"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			got := e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "PUT", "/v1/apps/demo/identity", tt.body)
			if diff := cmp.Diff(tt.message, got.Message); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}

	var removed identityView
	e.must(http.StatusOK, "DELETE", "/v1/apps/demo/identity", nil, &removed)
	if removed.Issuer != "https://login.example.com/t1" {
		t.Errorf("removed = %+v", removed)
	}
	if ev := e.rec.last(t); ev.Action != "identity.remove" {
		t.Errorf("audit event = %+v", ev)
	}
	if _, err := e.vault.IdentityProvider(t.Context(), app.ID); !isNotFound(err) {
		t.Errorf("IdentityProvider after DELETE = %v, want ErrNotFound", err)
	}
	e.wantErr(http.StatusNotFound, CodeNotFound, "DELETE", "/v1/apps/demo/identity", nil)
	e.wantErr(http.StatusNotFound, CodeNotFound, "PUT", "/v1/apps/nope/identity", map[string]any{"issuer": "https://i.example.com", "audience": "a"})
}

func TestIdentityConfigCopiesEveryField(t *testing.T) {
	p := vault.IdentityProvider{AppID: "a", Issuer: "https://i", JWKSURL: "https://j", Audience: "aud", UserClaim: "u",
		GroupClaim: "g", Algorithms: []string{"ES256"}, Leeway: time.Second}
	want := identity.Provider{Issuer: "https://i", JWKSURL: "https://j", Audience: "aud", UserClaim: "u", GroupClaim: "g",
		Algorithms: []string{"ES256"}, Leeway: time.Second}
	got := IdentityConfig(p)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("IdentityConfig (-want +got):\n%s", diff)
	}
	got.Algorithms[0] = "RS256"
	if p.Algorithms[0] != "ES256" {
		t.Error("IdentityConfig shares the algorithms slice")
	}
}
