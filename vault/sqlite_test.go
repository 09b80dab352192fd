package vault_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/storetest"
	"github.com/google/go-cmp/cmp"
)

func openSQLite(t *testing.T) *vault.SQLite {
	t.Helper()
	s, err := vault.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) vault.Store { return openSQLite(t) })
}

func TestSQLiteFileModes(t *testing.T) {
	// A permissive umask must not widen any of the files.
	old := setUmask(0)
	t.Cleanup(func() { setUmask(old) })
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := vault.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateApp(t.Context(), vault.App{Name: "modes"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode %04o, want 0600", filepath.Base(name), got)
		}
	}
}

func TestSQLiteTightensExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := vault.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Fatalf("mode %04o, want 0600", got)
	}
}

func TestSQLiteReopenKeepsDataAndMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s, err := vault.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateApp(t.Context(), vault.App{Name: "persist"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = vault.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.GetApp(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, got); d != "" {
		t.Fatalf("after reopen (-want +got):\n%s", d)
	}
	// Every embedded migration ran exactly once, in order.
	want := migrationVersions(t)
	rows, err := s.DB().QueryContext(t.Context(),
		`SELECT version_id FROM goose_db_version WHERE version_id > 0 ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var applied []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		applied = append(applied, v)
	}
	if d := cmp.Diff(want, applied); d != "" {
		t.Fatalf("applied migrations (-want +got):\n%s", d)
	}
}

// migrationVersions lists the versions of the migration files on disk, so
// the test follows files other packages add.
func migrationVersions(t *testing.T) []int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "sqlite", "*.sql"))
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

func TestSQLiteRejectsBadPath(t *testing.T) {
	for _, p := range []string{"", ":memory:", "x.db?mode=ro", "x.db#frag"} {
		t.Run(p, func(t *testing.T) {
			_, err := vault.OpenSQLite(t.Context(), p)
			if !errors.Is(err, vault.ErrInvalid) {
				t.Fatalf("OpenSQLite(%q) = %v, want ErrInvalid", p, err)
			}
		})
	}
}

// TestSQLiteTwoHandlesConcurrentWriters writes through two independently
// opened stores on one file (as two processes would): the busy timeout and
// immediate transactions must keep SQLITE_BUSY from surfacing.
func TestSQLiteTwoHandlesConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	var stores [2]*vault.SQLite
	for i := range stores {
		s, err := vault.OpenSQLite(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	app, err := stores[0].CreateApp(t.Context(), vault.App{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	const perStore = 25
	start := make(chan struct{})
	errs := make(chan error, 2*perStore)
	var wg sync.WaitGroup
	for i, s := range stores {
		for j := 0; j < perStore; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := s.CreateAgent(t.Context(), vault.Agent{AppID: app.ID, Name: fmt.Sprintf("a-%d-%02d", i, j)})
				errs <- err
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	agents, err := stores[1].ListAgents(t.Context(), app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(agents) != 2*perStore {
		t.Fatalf("%d agents, want %d", len(agents), 2*perStore)
	}
}
