package vault_test

import (
	"database/sql"
	"os"
	"testing"
	"time"

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

// TestIdentityMigrationDownUp takes migration 00004 (identity and policy)
// down and up again on both stores with rows in its tables: a deprecated
// key is revoked on the way down (never made active again), and the store
// works again afterwards.
func TestIdentityMigrationDownUp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dialect goose.Dialect
		dir     string
		query   string
		open    func(t *testing.T) (vault.Store, *sql.DB)
	}{
		{"sqlite", goose.DialectSQLite3, "migrations/sqlite", `SELECT status, revoked_at IS NOT NULL FROM keys WHERE id = ?`,
			func(t *testing.T) (vault.Store, *sql.DB) {
				s := openSQLite(t)
				return s, s.DB()
			}},
		{"postgres", goose.DialectPostgres, "migrations/postgres", `SELECT status, revoked_at IS NOT NULL FROM keys WHERE id = $1`,
			func(t *testing.T) (vault.Store, *sql.DB) {
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
			agent, err := store.CreateAgent(c, vault.Agent{AppID: app.ID, Name: "worker"})
			if err != nil {
				t.Fatal(err)
			}
			_, old, err := v.IssueKey(c, app.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := v.RotateKey(c, app.ID, old.ID, time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, err := v.SetIdentityProvider(c, vault.IdentityProvider{AppID: app.ID, Issuer: "https://i", Audience: "a"}); err != nil {
				t.Fatal(err)
			}
			if _, err := v.PutAppPolicy(c, app.ID, "rules: []\n"); err != nil {
				t.Fatal(err)
			}
			if _, err := v.AddAgentAccess(c, app.ID, agent.ID, "slack", ""); err != nil {
				t.Fatal(err)
			}
			if err := v.SeeUser(c, app.ID, "alice", []string{"eng"}); err != nil {
				t.Fatal(err)
			}

			p, err := goose.NewProvider(tc.dialect, db, os.DirFS(tc.dir), goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.DownTo(c, 3); err != nil {
				t.Fatalf("down to 3: %v", err)
			}
			var status string
			var revoked bool
			if err := db.QueryRowContext(c, tc.query, old.ID).Scan(&status, &revoked); err != nil {
				t.Fatal(err)
			}
			if status != vault.KeyRevoked || !revoked {
				t.Fatalf("deprecated key after down: status %q, revoked_at set %v; want revoked", status, revoked)
			}
			if _, err := p.Up(c); err != nil {
				t.Fatalf("up again: %v", err)
			}
			if k, err := store.GetKey(c, old.ID); err != nil || k.Status != vault.KeyRevoked {
				t.Fatalf("key after down/up: %+v, %v", k, err)
			}
			if us, err := store.ListUsers(c, app.ID); err != nil || len(us) != 0 {
				t.Fatalf("users after down/up: %v, %v; want the table back empty", us, err)
			}
			if _, err := v.AddAgentAccess(c, app.ID, agent.ID, "slack", ""); err != nil {
				t.Fatalf("add agent access after down/up: %v", err)
			}
		})
	}
}
