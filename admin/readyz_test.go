package admin

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

// TestReadyzBody: /readyz reports the vault's health with its verdict; a
// replica whose store is down stays ready while it still serves cached
// entries (vault.stale_if_error) and is unavailable once nothing is cached.
func TestReadyzBody(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fill       bool // read something through the vault's cache first
		closeStore bool
		status     int
		want       readyResponse
	}{
		{"store up", false, false, http.StatusOK, readyResponse{Status: "ready", Health: vault.Health{
			Store: vault.HealthOK, Redis: vault.HealthDisabled, Ready: true,
		}}},
		{"store down, nothing cached", false, true, http.StatusServiceUnavailable, readyResponse{Status: "unavailable", Health: vault.Health{
			Store: vault.HealthError, Redis: vault.HealthDisabled,
		}}},
		{"store down, serving cached entries", true, true, http.StatusOK, readyResponse{Status: "ready", Health: vault.Health{
			Store: vault.HealthError, Redis: vault.HealthDisabled, ServingStale: true, Ready: true,
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.fill {
				app, err := e.store.CreateApp(context.Background(), vault.App{Name: "acme"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.vault.App(context.Background(), app.ID); err != nil {
					t.Fatal(err)
				}
			}
			if tc.closeStore {
				e.closeStore()
			}
			r := e.callAs("", "GET", "/readyz", nil)
			var got readyResponse
			r.decode(t, &got)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", r.status, tc.status, r.raw)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("body (-want +got):\n%s", d)
			}
		})
	}
}
