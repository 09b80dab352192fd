package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/storetest"
)

// migrationFiles lists the versions of vault's PostgreSQL migrations.
func migrationFiles(t *testing.T) []int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "vault", "migrations", "postgres", "*.sql"))
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

func TestMigrateWithoutDatabaseURL(t *testing.T) {
	clearGatehouseEnv(t)
	for _, sub := range []string{"up", "status"} {
		t.Run(sub, func(t *testing.T) {
			r := ghJSON(t, exitUsage, nil, "", "--data-dir", t.TempDir(), "migrate", sub)
			if code := errorCode(t, r); code != codeUsage {
				t.Errorf("error code %q, want %q", code, codeUsage)
			}
			for _, want := range []string{"database.url", "GATEHOUSE_DATABASE_URL", "SQLite"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("message %q does not mention %s", r.stderr, want)
				}
			}
		})
	}
	if r := gh(t, "", "migrate"); r.code != exitUsage {
		t.Errorf("migrate without subcommand: exit %d, want %d", r.code, exitUsage)
	}
}

func TestMigrateRejectsBadDatabaseConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		key  string
	}{
		{"url", map[string]string{"GATEHOUSE_DATABASE_URL": "postgres://u:s3cr3t-pw@host:notaport/db"}, "database.url"},
		{"schema", map[string]string{"GATEHOUSE_DATABASE_SCHEMA": "Bad-Schema"}, "database.schema"},
		{"max conns", map[string]string{"GATEHOUSE_DATABASE_MAX_CONNS": "0"}, "database.max_conns"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearGatehouseEnv(t)
			t.Setenv("GATEHOUSE_DATABASE_URL", storetest.PostgresURL())
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := gh(t, "", "--data-dir", t.TempDir(), "migrate", "status")
			if r.code != exitError || !strings.Contains(r.stderr, tc.key) {
				t.Errorf("exit %d, stderr %q; want exit %d naming %s", r.code, r.stderr, exitError, tc.key)
			}
			if strings.Contains(r.stderr, "s3cr3t-pw") {
				t.Errorf("the password leaked: %q", r.stderr)
			}
			// serve validates the same keys.
			cfg, err := loadConfig("", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("Validate = %v, want a problem with %s", err, tc.key)
			}
		})
	}
}

func TestMigrateUpAndStatus(t *testing.T) {
	clearGatehouseEnv(t)
	url, schema := storetest.PostgresSchema(t)
	t.Setenv("GATEHOUSE_DATABASE_URL", url)
	t.Setenv("GATEHOUSE_DATABASE_SCHEMA", schema)
	dataDir := t.TempDir()
	all := migrationFiles(t)
	last := all[len(all)-1]

	type report struct {
		Version    int64                   `json:"version"`
		Applied    []vault.MigrationStatus `json:"applied"`
		Migrations []vault.MigrationStatus `json:"migrations"`
	}
	versions := func(ms []vault.MigrationStatus, applied bool) []int64 {
		var out []int64
		for _, m := range ms {
			if m.Applied == applied {
				out = append(out, m.Version)
			}
		}
		return out
	}
	steps := []struct {
		name        string
		args        []string
		wantVersion int64
		wantApplied []int64 // up: applied by this run
		wantDone    []int64 // status: applied
		wantPending []int64 // status: pending
	}{
		{"status before", []string{"migrate", "status"}, 0, nil, nil, all},
		{"up", []string{"migrate", "up"}, last, all, nil, nil},
		{"up again", []string{"migrate", "up"}, last, nil, nil, nil},
		{"status after", []string{"migrate", "status"}, last, nil, all, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var r report
			ghJSON(t, 0, &r, "", append([]string{"--data-dir", dataDir}, st.args...)...)
			if r.Version != st.wantVersion {
				t.Errorf("version %d, want %d", r.Version, st.wantVersion)
			}
			if d := cmp.Diff(st.wantApplied, versions(r.Applied, true)); d != "" {
				t.Errorf("applied by this run (-want +got):\n%s", d)
			}
			if d := cmp.Diff(st.wantDone, versions(r.Migrations, true)); d != "" {
				t.Errorf("status applied (-want +got):\n%s", d)
			}
			if d := cmp.Diff(st.wantPending, versions(r.Migrations, false)); d != "" {
				t.Errorf("status pending (-want +got):\n%s", d)
			}
		})
	}
	r := gh(t, "", "--data-dir", dataDir, "migrate", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "VERSION") || !strings.Contains(r.stdout, "00001_init.sql") ||
		!strings.Contains(r.stdout, "applied") {
		t.Errorf("text status = %d %q", r.code, r.stdout)
	}
	r = gh(t, "", "--data-dir", dataDir, "migrate", "up")
	if r.code != 0 || !strings.Contains(r.stdout, "already up to date") {
		t.Errorf("text up = %d %q", r.code, r.stdout)
	}
}

// TestServeReplicasOnPostgres opens two servers on one fresh PostgreSQL
// schema at the same moment (replicas starting together: both migrate, one
// waits for the other's lock), then checks that they share the vault and
// the audit log: what is written through one is read through the other.
func TestServeReplicasOnPostgres(t *testing.T) {
	clearGatehouseEnv(t)
	url, schema := storetest.PostgresSchema(t)
	shared := t.TempDir() // KEK and pepper: every replica needs the same ones
	var cfgs [2]Config
	for i := range cfgs {
		cfg := testConfig(t, filepath.Join(t.TempDir(), "data"))
		cfg.Database = DatabaseConfig{URL: url, Schema: schema, MaxConns: 4}
		cfg.Vault.KEKFiles = map[string]string{"dev": filepath.Join(shared, "kek-dev.key")}
		cfg.Vault.PepperFile = filepath.Join(shared, "pepper.key")
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		cfgs[i] = cfg
	}
	// The active KEK's file is generated when missing: create it once here
	// so both replicas load the same key instead of racing to create it.
	for _, f := range []string{cfgs[0].Vault.KEKFiles["dev"], cfgs[0].Vault.PepperFile} {
		if _, err := vault.LoadOrCreateKeyFile(f); err != nil {
			t.Fatal(err)
		}
	}

	var (
		servers [2]*server
		errs    [2]error
		wg      sync.WaitGroup
	)
	start := make(chan struct{})
	for i := range servers {
		wg.Go(func() {
			<-start
			servers[i], errs[i] = openServer(t.Context(), cfgs[i], slog.New(slog.DiscardHandler))
		})
	}
	close(start)
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatalf("replica %d: openServer: %v", i, errs[i])
		}
		s.start()
		t.Cleanup(func() {
			if err := s.shutdown(); err != nil {
				t.Errorf("replica %d: shutdown: %v", i, err)
			}
		})
	}
	a, b := servers[0], servers[1]
	on := func(i int, args ...string) []string {
		return append([]string{"--data-dir", cfgs[i].DataDir, "--server", servers[i].adminURL()}, args...)
	}

	ghJSON(t, 0, nil, "", on(0, "app", "create", "demo")...)
	var sec struct {
		GrantID string `json:"grant_id"`
	}
	ghJSON(t, 0, &sec, "sk-shared\n", on(0, "secret", "put", "--app", "demo", "--provider", "openai", "--principal", "system")...)
	if err := a.audit.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	app, err := b.store.GetAppByName(t.Context(), "demo")
	if err != nil {
		t.Fatalf("replica B does not see replica A's app: %v", err)
	}
	g, err := b.vault.Grant(t.Context(), app.ID, sec.GrantID)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := b.vault.Material(t.Context(), g); err != nil || m.Token != "sk-shared" {
		t.Errorf("replica B cannot decrypt replica A's secret to its value (err %v)", err)
	}
	var events []struct{ Action string }
	ghJSON(t, 0, &events, "", on(1, "audit", "list", "--app", "demo", "--kind", "admin")...)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if d := cmp.Diff([]string{"app.create", "secret.put"}, actions); d != "" {
		t.Errorf("admin events of replica A listed by replica B (-want +got):\n%s", d)
	}
	if _, ok := b.store.(*vault.Postgres); !ok {
		t.Errorf("store is %T, want *vault.Postgres", b.store)
	}
}
