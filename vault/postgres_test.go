package vault_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/storetest"
	"github.com/google/go-cmp/cmp"
)

// testMaxConns keeps each test's pool small: many packages' tests share one
// PostgreSQL server and its connection limit.
const testMaxConns = 4

// openPostgres migrates a fresh schema of the test database and opens a
// store on it; both go away when t ends.
func openPostgres(t *testing.T) *vault.Postgres {
	t.Helper()
	url, schema := storetest.PostgresSchema(t)
	opts := vault.PostgresOptions{Schema: schema, MaxConns: testMaxConns}
	if err := vault.MigratePostgres(t.Context(), url, opts); err != nil {
		t.Fatalf("MigratePostgres: %v", err)
	}
	p, err := vault.OpenPostgres(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vault.Store { return openPostgres(t) })
}

// postgresVersions lists the versions of the PostgreSQL migration files on
// disk, so the tests follow files added later.
func postgresVersions(t *testing.T) []int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "postgres", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	var out []int64
	for _, f := range files {
		var v int64
		if _, err := fmt.Sscanf(filepath.Base(f), "%05d_", &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, v)
	}
	return out
}

// appliedVersions reads goose's bookkeeping: every applied version, in the
// order applied, once per application.
func appliedVersions(t *testing.T, p *vault.Postgres) []int64 {
	t.Helper()
	rows, err := p.DB().QueryContext(t.Context(),
		`SELECT version_id FROM goose_db_version WHERE version_id > 0 AND is_applied ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPostgresMigrateConcurrently starts several migrations on one fresh
// schema at once, as replicas starting together do: all succeed, and the
// schema is created and every migration applied exactly once. The schema
// either does not exist yet or exists empty (created by an operator).
func TestPostgresMigrateConcurrently(t *testing.T) {
	for _, precreate := range []bool{false, true} {
		t.Run(fmt.Sprintf("schema exists %v", precreate), func(t *testing.T) {
			url, schema := storetest.PostgresSchema(t)
			if precreate {
				root := openRoot(t, url)
				if _, err := root.DB().ExecContext(t.Context(), `CREATE SCHEMA `+schema); err != nil {
					t.Fatal(err)
				}
			}
			migrateConcurrently(t, url, vault.PostgresOptions{Schema: schema, MaxConns: testMaxConns})
		})
	}
}

func migrateConcurrently(t *testing.T, url string, opts vault.PostgresOptions) {
	const replicas = 8
	start := make(chan struct{})
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			<-start
			errs[i] = vault.MigratePostgres(t.Context(), url, opts)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: MigratePostgres: %v", i, err)
		}
	}
	p, err := vault.OpenPostgres(t.Context(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if d := cmp.Diff(postgresVersions(t), appliedVersions(t, p)); d != "" {
		t.Fatalf("applied migrations (-want +got):\n%s", d)
	}
	if _, err := p.CreateApp(t.Context(), vault.App{Name: "after-race"}); err != nil {
		t.Fatalf("schema not usable after concurrent migration: %v", err)
	}
}

// openRoot opens a store on the test database's default schema, for
// catalog queries; it is closed when t ends.
func openRoot(t *testing.T, url string) *vault.Postgres {
	t.Helper()
	root, err := vault.OpenPostgres(t.Context(), url, vault.PostgresOptions{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

func TestPostgresMigrationStatus(t *testing.T) {
	url, schema := storetest.PostgresSchema(t)
	opts := vault.PostgresOptions{Schema: schema}
	want := postgresVersions(t)
	check := func(t *testing.T, applied bool) {
		t.Helper()
		st, err := vault.PostgresMigrationStatus(t.Context(), url, opts)
		if err != nil {
			t.Fatalf("PostgresMigrationStatus: %v", err)
		}
		var versions []int64
		for _, s := range st {
			versions = append(versions, s.Version)
			if s.Applied != applied || s.AppliedAt.IsZero() == applied {
				t.Errorf("version %d: applied %v at %v, want applied %v", s.Version, s.Applied, s.AppliedAt, applied)
			}
			if !strings.HasPrefix(s.Source, fmt.Sprintf("%05d_", s.Version)) || !strings.HasSuffix(s.Source, ".sql") {
				t.Errorf("version %d: source %q is not its file name", s.Version, s.Source)
			}
		}
		if d := cmp.Diff(want, versions); d != "" {
			t.Errorf("versions (-want +got):\n%s", d)
		}
	}
	t.Run("missing schema", func(t *testing.T) { check(t, false) })
	// Status must not have created the schema.
	root := openRoot(t, url)
	var exists bool
	if err := root.DB().QueryRowContext(t.Context(),
		`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("PostgresMigrationStatus created the schema")
	}
	if err := vault.MigratePostgres(t.Context(), url, opts); err != nil {
		t.Fatal(err)
	}
	t.Run("migrated", func(t *testing.T) { check(t, true) })
	if err := vault.MigratePostgres(t.Context(), url, opts); err != nil {
		t.Fatalf("second MigratePostgres: %v", err)
	}
	t.Run("migrated twice", func(t *testing.T) { check(t, true) })
}

// TestPostgresSchemasAreSeparate checks that Schema really scopes every
// table: an app created in one schema does not exist in another.
func TestPostgresSchemasAreSeparate(t *testing.T) {
	a, b := openPostgres(t), openPostgres(t)
	app, err := a.CreateApp(t.Context(), vault.App{Name: "only-in-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetApp(t.Context(), app.ID); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("GetApp in the other schema = %v, want ErrNotFound", err)
	}
	if _, err := b.CreateApp(t.Context(), vault.App{Name: "only-in-a"}); err != nil {
		t.Fatalf("same name in the other schema: %v", err)
	}
	var n int
	if err := a.DB().QueryRowContext(t.Context(), `SELECT count(*) FROM apps`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("DB() sees %d apps (%v), want the store's 1", n, err)
	}
}

func TestPostgresRejectsBadOptions(t *testing.T) {
	url := storetest.PostgresURL()
	tests := []struct {
		name string
		url  string
		opts vault.PostgresOptions
	}{
		{"schema with quote", url, vault.PostgresOptions{Schema: `a"b`}},
		{"schema upper case", url, vault.PostgresOptions{Schema: "Tenant"}},
		{"schema with dot", url, vault.PostgresOptions{Schema: "a.b"}},
		{"schema too long", url, vault.PostgresOptions{Schema: strings.Repeat("s", 64)}},
		{"negative max conns", url, vault.PostgresOptions{MaxConns: -1}},
		{"malformed url", "postgres://user:s3cr3t-pw@host:notaport/db", vault.PostgresOptions{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := map[string]error{
				"OpenPostgres":    func() error { _, err := vault.OpenPostgres(t.Context(), tc.url, tc.opts); return err }(),
				"MigratePostgres": vault.MigratePostgres(t.Context(), tc.url, tc.opts),
				"PostgresMigrationStatus": func() error {
					_, err := vault.PostgresMigrationStatus(t.Context(), tc.url, tc.opts)
					return err
				}(),
			}
			for name, err := range calls {
				if !errors.Is(err, vault.ErrInvalid) {
					t.Errorf("%s = %v, want ErrInvalid", name, err)
				}
				if err != nil && strings.Contains(err.Error(), "s3cr3t-pw") {
					t.Errorf("%s error leaks the password: %v", name, err)
				}
			}
		})
	}
}

// TestPostgresUnstorableText covers strings PostgreSQL text cannot hold
// (NUL, invalid UTF-8): lookups answer ErrNotFound as SQLite does, writes
// ErrInvalid, never a raw database error.
func TestPostgresUnstorableText(t *testing.T) {
	p := openPostgres(t)
	ctx := t.Context()
	app, err := p.CreateApp(ctx, vault.App{Name: "text"})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"nul\x00byte", "bad\xffutf8"} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			lookups := map[string]error{
				"GetApp":         func() error { _, err := p.GetApp(ctx, bad); return err }(),
				"GetAppByName":   func() error { _, err := p.GetAppByName(ctx, bad); return err }(),
				"GetAgent":       func() error { _, err := p.GetAgent(ctx, app.ID, bad); return err }(),
				"GetKey":         func() error { _, err := p.GetKey(ctx, bad); return err }(),
				"GetCredential":  func() error { _, err := p.GetCredential(ctx, bad, bad); return err }(),
				"GetGrant":       func() error { _, err := p.GetGrant(ctx, app.ID, bad); return err }(),
				"RevokeKey":      p.RevokeKey(ctx, app.ID, bad),
				"SetGrantStatus": p.SetGrantStatus(ctx, bad, bad, vault.StatusRevoked),
				"SetAppEgress":   p.SetAppEgress(ctx, bad, nil),
				"CreateAgent":    func() error { _, err := p.CreateAgent(ctx, vault.Agent{AppID: bad, Name: "x"}); return err }(),
			}
			for name, err := range lookups {
				if !errors.Is(err, vault.ErrNotFound) {
					t.Errorf("%s = %v, want ErrNotFound", name, err)
				}
			}
			grants, err := p.ListGrants(ctx, app.ID, vault.GrantFilter{Principal: bad})
			if err != nil || len(grants) != 0 {
				t.Errorf("ListGrants = %v, %v; want none", grants, err)
			}
			c := vault.Credential{
				ID: "0192f0c1-0000-7000-8000-000000000001", AppID: app.ID, ProviderID: bad, Kind: vault.KindAPIKey,
				Version: 1, KEKID: "k1", WrappedKey: []byte{1}, Ciphertext: []byte{2},
			}
			if err := p.CreateCredential(ctx, c); !errors.Is(err, vault.ErrInvalid) {
				t.Errorf("CreateCredential with provider %q = %v, want ErrInvalid", bad, err)
			}
		})
	}
}
