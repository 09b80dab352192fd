package vault_test

import (
	"database/sql"
	"os"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/pressly/goose/v3"
)

// TestOAuthMigrationDownUp takes migration 00003 (OAuth) down and up again
// on both stores with rows in its tables, so its Down section stays
// correct, and checks the store works afterwards.
func TestOAuthMigrationDownUp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dialect goose.Dialect
		dir     string
		open    func(t *testing.T) (vault.Store, *sql.DB)
	}{
		{"sqlite", goose.DialectSQLite3, "migrations/sqlite", func(t *testing.T) (vault.Store, *sql.DB) {
			s := openSQLite(t)
			return s, s.DB()
		}},
		{"postgres", goose.DialectPostgres, "migrations/postgres", func(t *testing.T) (vault.Store, *sql.DB) {
			p := openPostgres(t)
			return p, p.DB()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := t.Context()
			store, db := tc.open(t)
			v := vault.New(store, newKeyring(t, "k1", map[string][]byte{"k1": randomKEK(t)}), randomKEK(t), vault.Options{})
			t.Cleanup(v.Close)
			app, err := store.CreateApp(c, vault.App{Name: "migrate"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.CreateAgent(c, vault.Agent{AppID: app.ID, Name: "worker"}); err != nil {
				t.Fatal(err)
			}
			g, _, err := v.PutOAuthGrant(c, app.ID, "slack", "user:alice", "U1", vault.Material{AccessToken: "at"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Delegate(c, app.ID, g.ID, "worker"); err != nil {
				t.Fatal(err)
			}
			if _, err := v.ConfigureProvider(c, app.ID, "slack", "cid", "secret", nil); err != nil {
				t.Fatal(err)
			}

			p, err := goose.NewProvider(tc.dialect, db, os.DirFS(tc.dir), goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.DownTo(c, 2); err != nil {
				t.Fatalf("down to 2: %v", err)
			}
			if _, err := p.Up(c); err != nil {
				t.Fatalf("up again: %v", err)
			}
			got, err := store.GetGrant(c, app.ID, g.ID)
			if err != nil || got.Account != "" {
				t.Fatalf("grant after down/up: account %q, %v; want the column back empty", got.Account, err)
			}
			if _, err := v.Delegate(c, app.ID, g.ID, "worker"); err != nil {
				t.Fatalf("delegate after down/up: %v", err)
			}
		})
	}
}
