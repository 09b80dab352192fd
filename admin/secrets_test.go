package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestPutSecret(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	e.createAgent("demo", "bot")

	tests := []struct {
		name     string
		body     map[string]string
		wantKind string
		want     vault.Material
	}{
		{
			name:     "api_key by default",
			body:     map[string]string{"provider": "openai", "principal": "system", "value": "sk-system"},
			wantKind: vault.KindAPIKey, want: vault.Material{Token: "sk-system"},
		},
		{
			name:     "agent principal",
			body:     map[string]string{"provider": "openai", "principal": "agent:bot", "value": "sk-bot"},
			wantKind: vault.KindAPIKey, want: vault.Material{Token: "sk-bot"},
		},
		{
			name:     "user principal",
			body:     map[string]string{"provider": "openai", "principal": "user:auth0|42", "value": "sk-user"},
			wantKind: vault.KindAPIKey, want: vault.Material{Token: "sk-user"},
		},
		{
			name:     "basic by default for a basic-only provider, value form",
			body:     map[string]string{"provider": "twilio", "principal": "system", "value": "AC123:tok:en"},
			wantKind: vault.KindBasic, want: vault.Material{Username: "AC123", Password: "tok:en"},
		},
		{
			name:     "basic with username and password",
			body:     map[string]string{"provider": "twilio", "principal": "system", "kind": "basic", "username": "AC9", "password": "pw"},
			wantKind: vault.KindBasic, want: vault.Material{Username: "AC9", Password: "pw"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s secretView
			r := e.must(http.StatusCreated, "POST", "/v1/apps/demo/secrets", tt.body, &s)
			want := secretView{
				GrantID: s.GrantID, CredentialID: s.CredentialID, Provider: tt.body["provider"],
				Principal: tt.body["principal"], Kind: tt.wantKind, Version: 1, Status: vault.StatusActive,
				Placeholder: vault.GrantPlaceholderPrefix + s.GrantID,
			}
			if diff := cmp.Diff(want, s); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			for _, secret := range []string{tt.want.Token, tt.want.Password} {
				if secret != "" && strings.Contains(string(r.raw), secret) {
					t.Errorf("answer %s contains the secret", r.raw)
				}
			}
			g, err := e.vault.Grant(t.Context(), app.ID, s.GrantID)
			if err != nil {
				t.Fatal(err)
			}
			m, err := e.vault.Material(t.Context(), g)
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(m, tt.want, cmpopts.IgnoreFields(vault.Material{}, "Version")) {
				t.Error("stored material differs from the request") // never print material
			}
			if ev := e.rec.last(t); ev.Action != "secret.put" || ev.GrantID != s.GrantID || ev.ProviderID != want.Provider {
				t.Errorf("audit event = %+v", ev)
			}
		})
	}
}

func TestPutSecretRejects(t *testing.T) {
	e := newEnv(t)
	e.createApp("demo")
	e.createAgent("demo", "bot")
	tests := []struct {
		name string
		body any
		msg  string
	}{
		{"missing provider", map[string]string{"principal": "system", "value": "x"}, "provider"},
		{"unknown provider", map[string]string{"provider": "nope", "principal": "system", "value": "x"}, `unknown provider "nope"`},
		{"kind not accepted", map[string]string{"provider": "openai", "principal": "system", "kind": "basic", "value": "a:b"}, "does not accept basic"},
		{"unmanaged kind", map[string]string{"provider": "openai", "principal": "system", "kind": "oauth2", "value": "x"}, "oauth2"},
		{"missing principal", map[string]string{"provider": "openai", "value": "x"}, "principal"},
		{"bad principal", map[string]string{"provider": "openai", "principal": "root", "value": "x"}, "principal"},
		{"unknown agent", map[string]string{"provider": "openai", "principal": "agent:ghost", "value": "x"}, "agent:ghost"},
		{"missing value", map[string]string{"provider": "openai", "principal": "system"}, "value"},
		{"empty value", map[string]string{"provider": "openai", "principal": "system", "value": ""}, "value"},
		{"api_key with username", map[string]string{"provider": "openai", "principal": "system", "value": "x", "username": "u"}, "only"},
		{"basic without colon", map[string]string{"provider": "twilio", "principal": "system", "value": "secret-no-colon"}, "username:password"},
		{"basic both forms", map[string]string{"provider": "twilio", "principal": "system", "value": "a:b", "username": "a"}, "not both"},
		{"basic nothing", map[string]string{"provider": "twilio", "principal": "system"}, "needs"},
		{"control characters", map[string]string{"provider": "openai", "principal": "system", "value": "sk\r\nX: y"}, "control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "POST", "/v1/apps/demo/secrets", tt.body)
			if !strings.Contains(got.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", got.Message, tt.msg)
			}
			if strings.Contains(got.Message, "secret-no-colon") {
				t.Errorf("message %q echoes the secret", got.Message)
			}
		})
	}
	var grants []grantView
	e.must(http.StatusOK, "GET", "/v1/apps/demo/grants", nil, &grants)
	if len(grants) != 0 {
		t.Errorf("rejected secrets created %d grants", len(grants))
	}
	e.wantErr(http.StatusNotFound, CodeNotFound, "POST", "/v1/apps/nope/secrets",
		map[string]string{"provider": "openai", "principal": "system", "value": "x"})
}

func TestRotateAndDeleteSecret(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	s := e.putSecret("demo", "system", "sk-old")
	path := "/v1/apps/demo/secrets/" + s.GrantID

	var rotated secretView
	r := e.must(http.StatusOK, "PUT", path, map[string]string{"value": "sk-new"}, &rotated)
	if rotated.Version != 2 || rotated.GrantID != s.GrantID || rotated.CredentialID != s.CredentialID {
		t.Errorf("rotated = %+v", rotated)
	}
	if strings.Contains(string(r.raw), "sk-new") {
		t.Error("rotate answer contains the secret")
	}
	g, err := e.vault.Grant(t.Context(), app.ID, s.GrantID)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := e.vault.Material(t.Context(), g); err != nil || m.Token != "sk-new" {
		t.Errorf("material after rotate is not the new value (err %v)", err)
	}
	if ev := e.rec.last(t); ev.Action != "secret.rotate" || ev.GrantID != s.GrantID {
		t.Errorf("audit event = %+v", ev)
	}
	// Matching optional fields are accepted; mismatching ones are not.
	e.must(http.StatusOK, "PUT", path, map[string]string{"provider": "openai", "principal": "system", "kind": "api_key", "value": "sk-3"}, nil)
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "PUT", path, map[string]string{"provider": "anthropic", "value": "x"})
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "PUT", path, map[string]string{"principal": "agent:x", "value": "x"})
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "PUT", path, map[string]string{"kind": "basic", "value": "a:b"})
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "PUT", path, map[string]string{})
	e.wantErr(http.StatusNotFound, CodeNotFound, "PUT", "/v1/apps/demo/secrets/not-a-uuid", map[string]string{"value": "x"})

	var deleted grantView
	e.must(http.StatusOK, "DELETE", path, nil, &deleted)
	if deleted.Status != vault.StatusRevoked || deleted.ID != s.GrantID {
		t.Errorf("deleted = %+v", deleted)
	}
	if _, err := e.store.GetCredential(t.Context(), app.ID, s.CredentialID); err == nil {
		t.Error("credential still stored after delete")
	}
	if ev := e.rec.last(t); ev.Action != "secret.delete" || ev.GrantID != s.GrantID {
		t.Errorf("audit event = %+v", ev)
	}
	e.wantErr(http.StatusConflict, CodeConflict, "PUT", path, map[string]string{"value": "sk-again"})
}
