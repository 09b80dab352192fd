package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestProviderSettings(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	e.createApp("other")
	const secret = "s3cr3t-client-value"

	ok := []struct {
		name       string
		provider   string
		body       map[string]any
		want       settingsView
		wantSecret string
	}{
		{"confidential client", "slack", map[string]any{"client_id": "123.456", "client_secret": secret, "scopes": []string{"chat:write"}},
			settingsView{AppID: app.ID, ProviderID: "slack", ClientID: "123.456", HasClientSecret: true,
				Scopes: []string{"chat:write"}, DefaultScopes: []string{"chat:write", "channels:read"}}, secret},
		{"replaced: public client, default scopes", "slack", map[string]any{"client_id": "123.789"},
			settingsView{AppID: app.ID, ProviderID: "slack", ClientID: "123.789", HasClientSecret: false,
				Scopes: []string{}, DefaultScopes: []string{"chat:write", "channels:read"}}, ""},
		{"second provider", "github", map[string]any{"client_id": "Iv1.abc", "client_secret": secret + "-gh"},
			settingsView{AppID: app.ID, ProviderID: "github", ClientID: "Iv1.abc", HasClientSecret: true, Scopes: []string{}}, secret + "-gh"},
	}
	ignoreTimes := cmpopts.IgnoreFields(settingsView{}, "CreatedAt", "UpdatedAt", "DefaultScopes")
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			var got settingsView
			r := e.must(http.StatusOK, "PUT", "/v1/apps/demo/providers/"+tt.provider, tt.body, &got)
			if diff := cmp.Diff(tt.want, got, ignoreTimes); diff != "" {
				t.Errorf("PUT answer (-want +got):\n%s", diff)
			}
			if tt.want.DefaultScopes != nil {
				if diff := cmp.Diff(tt.want.DefaultScopes, got.DefaultScopes); diff != "" {
					t.Errorf("default scopes (-want +got):\n%s", diff)
				}
			}
			if strings.Contains(string(r.raw), secret) {
				t.Error("the answer contains the client secret")
			}
			var again settingsView
			r = e.must(http.StatusOK, "GET", "/v1/apps/demo/providers/"+tt.provider, nil, &again)
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("GET differs from PUT (-put +get):\n%s", diff)
			}
			if strings.Contains(string(r.raw), secret) {
				t.Error("GET contains the client secret")
			}
			_, stored, err := e.vault.OAuthClient(t.Context(), app.ID, tt.provider)
			if err != nil {
				t.Fatal(err)
			}
			if stored != tt.wantSecret {
				t.Error("the stored client secret differs from the request") // never print it
			}
			if ev := e.rec.last(t); ev.Action != "provider.configure" || ev.ProviderID != tt.provider || ev.AppID != app.ID {
				t.Errorf("audit event = %+v", ev)
			}
		})
	}

	var list []settingsView
	e.must(http.StatusOK, "GET", "/v1/apps/demo/providers", nil, &list)
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ProviderID)
	}
	if diff := cmp.Diff([]string{"github", "slack"}, ids, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("listed providers (-want +got):\n%s", diff)
	}
	var none []settingsView
	e.must(http.StatusOK, "GET", "/v1/apps/other/providers", nil, &none)
	if len(none) != 0 {
		t.Errorf("other app lists %+v", none)
	}

	bad := []struct {
		name, method, path string
		body               any
		status             int
		code               string
		contains           string
	}{
		{"unknown provider", "PUT", "/v1/apps/demo/providers/nope", map[string]any{"client_id": "x"}, 404, CodeNotFound, "not in the catalog"},
		{"api key provider", "PUT", "/v1/apps/demo/providers/openai", map[string]any{"client_id": "x"}, 400, CodeInvalidRequest, "does not accept OAuth2"},
		{"no client id", "PUT", "/v1/apps/demo/providers/slack", map[string]any{"client_secret": "x"}, 400, CodeInvalidRequest, "client_id"},
		{"client id with space", "PUT", "/v1/apps/demo/providers/slack", map[string]any{"client_id": "a b"}, 400, CodeInvalidRequest, "visible ASCII"},
		{"secret with newline", "PUT", "/v1/apps/demo/providers/slack", map[string]any{"client_id": "a", "client_secret": "x\ny"}, 400, CodeInvalidRequest, "control characters"},
		{"secret in the URL", "PUT", "/v1/apps/demo/providers/slack?client_secret=x", map[string]any{"client_id": "a"}, 400, CodeInvalidRequest, "JSON body"},
		{"bad scope", "PUT", "/v1/apps/demo/providers/slack", map[string]any{"client_id": "a", "scopes": []string{"a b"}}, 400, CodeInvalidRequest, "scope"},
		{"unknown field", "PUT", "/v1/apps/demo/providers/slack", map[string]any{"client_id": "a", "secret": "x"}, 400, CodeInvalidRequest, "unknown field"},
		{"no body", "PUT", "/v1/apps/demo/providers/slack", nil, 400, CodeInvalidRequest, "JSON object"},
		{"unknown app", "PUT", "/v1/apps/nope/providers/slack", map[string]any{"client_id": "a"}, 404, CodeNotFound, `app "nope"`},
		{"not configured", "GET", "/v1/apps/other/providers/slack", nil, 404, CodeNotFound, `OAuth client for provider "slack" not found`},
		{"delete not configured", "DELETE", "/v1/apps/other/providers/slack", nil, 404, CodeNotFound, "not found"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			n := len(e.rec.actions())
			got := e.wantErr(tt.status, tt.code, tt.method, tt.path, tt.body)
			if !strings.Contains(got.Message, tt.contains) {
				t.Errorf("message %q does not contain %q", got.Message, tt.contains)
			}
			if len(e.rec.actions()) != n {
				t.Error("a failed call recorded an audit event")
			}
		})
	}

	t.Run("unconfigure", func(t *testing.T) {
		var got settingsView
		e.must(http.StatusOK, "DELETE", "/v1/apps/demo/providers/github", nil, &got)
		if got.ProviderID != "github" || got.ClientID != "Iv1.abc" {
			t.Errorf("DELETE answer %+v", got)
		}
		if ev := e.rec.last(t); ev.Action != "provider.unconfigure" || ev.ProviderID != "github" {
			t.Errorf("audit event = %+v", ev)
		}
		e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/v1/apps/demo/providers/github", nil)
		e.wantErr(http.StatusNotFound, CodeNotFound, "DELETE", "/v1/apps/demo/providers/github", nil)
		e.must(http.StatusOK, "GET", "/v1/apps/demo/providers/slack", nil, nil)
	})
}
