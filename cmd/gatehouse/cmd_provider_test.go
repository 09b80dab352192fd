package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/catalog"
)

// fakeProviders serves GET /v1/providers from the built-in catalog, the way
// the admin API does, and requires the admin token.
func fakeProviders(t *testing.T) (*httptest.Server, []*catalog.Provider) {
	t.Helper()
	c, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	list := c.List()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer gatehouse_admin_test" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"bad token"}}`))
			return
		}
		if r.Method != http.MethodGet || r.URL.Path != "/v1/providers" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}))
	t.Cleanup(srv.Close)
	return srv, list
}

func TestProviderCommands(t *testing.T) {
	srv, list := fakeProviders(t)
	base := []string{"--server", srv.URL, "--token", "gatehouse_admin_test"}
	tests := []struct {
		name     string
		args     []string
		exit     int
		contains []string // substrings of stdout
	}{
		{"list", []string{"provider", "list"}, 0, []string{"ID", "slack", "api.openai.com"}},
		{"alias", []string{"providers", "list"}, 0, []string{"github", "uploads.github.com"}},
		{"show text", []string{"providers", "show", "slack"}, 0,
			[]string{"token url", "https://slack.com/api/oauth.v2.access", "client auth", "params", "rotating refresh", "12h"}},
		{"show api key", []string{"provider", "show", "openai"}, 0, []string{"inject", "Authorization: Bearer {{.Token}}"}},
		{"show extra params", []string{"provider", "show", "google"}, 0, []string{"access_type=offline prompt=consent"}},
		{"unknown", []string{"provider", "show", "nope"}, exitNotFound, nil},
		{"no id", []string{"provider", "show"}, exitUsage, nil},
		{"bad token", []string{"--token", "gatehouse_admin_wrong", "provider", "show", "slack"}, exitAuth, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gh(t, "", append(append([]string{}, base...), tt.args...)...)
			if r.code != tt.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.exit, r.stdout, r.stderr)
			}
			for _, s := range tt.contains {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout does not contain %q:\n%s", s, r.stdout)
				}
			}
		})
	}

	t.Run("show json is the entry alone", func(t *testing.T) {
		var got map[string]any
		ghJSON(t, 0, &got, "", append(append([]string{}, base...), "provider", "show", "github")...)
		var want map[string]any
		for _, p := range list {
			if p.ID == "github" {
				raw, err := json.Marshal(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(raw, &want); err != nil {
					t.Fatal(err)
				}
			}
		}
		if want == nil {
			t.Fatal("github missing from the catalog")
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("show -o json (-catalog +printed):\n%s", diff)
		}
	})

	t.Run("list json has every entry", func(t *testing.T) {
		var got []map[string]any
		ghJSON(t, 0, &got, "", append(append([]string{}, base...), "providers", "list")...)
		if diff := cmp.Diff(len(list), len(got)); diff != "" {
			t.Errorf("entries (-catalog +printed):\n%s", diff)
		}
	})

	t.Run("not found is a JSON error", func(t *testing.T) {
		var body map[string]*cliError
		ghJSON(t, exitNotFound, &body, "", append(append([]string{}, base...), "provider", "show", "nope")...)
		if body["error"] == nil || body["error"].Code != codeNotFound {
			t.Errorf("error body = %v", body)
		}
	})
}
