package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/storetest"
)

// kekFixture is a data directory with KEK files "a", "b" and "z" and a
// database holding secrets sealed under "a" (and any added later).
type kekFixture struct {
	dir    string
	keks   map[string]string // id → file
	open   func(t *testing.T) vault.Store
	grants []vault.Grant
	want   map[string]vault.Material
	dbYAML string // database section of the config, empty for SQLite
}

func newKEKFixture(t *testing.T, open func(t *testing.T, dir string) vault.Store, dbYAML string) *kekFixture {
	t.Helper()
	clearGatehouseEnv(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := ensureDataDir(dir); err != nil {
		t.Fatal(err)
	}
	f := &kekFixture{
		dir: dir, keks: map[string]string{}, want: map[string]vault.Material{}, dbYAML: dbYAML,
		open: func(t *testing.T) vault.Store { return open(t, dir) },
	}
	for _, id := range []string{"a", "b", "z"} {
		f.keks[id] = filepath.Join(dir, "kek-"+id+".key")
		if _, err := vault.LoadOrCreateKeyFile(f.keks[id]); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// keyring loads the named KEK files, active first.
func (f *kekFixture) keyring(t *testing.T, active string, ids ...string) *vault.Keyring {
	t.Helper()
	m := map[string][]byte{}
	for _, id := range append(ids, active) {
		k, err := vault.LoadOrCreateKeyFile(f.keks[id])
		if err != nil {
			t.Fatal(err)
		}
		m[id] = k
	}
	kr, err := vault.NewKeyring(active, m)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// put stores n secrets sealed under KEK kek, in a store that is closed
// again before the CLI runs.
func (f *kekFixture) put(t *testing.T, kek string, n int) {
	t.Helper()
	s := f.open(t)
	defer s.Close()
	v := vault.New(s, f.keyring(t, kek), []byte("pepper-pepper-pepper"), vault.Options{})
	defer v.Close()
	app, err := s.GetAppByName(t.Context(), "acme")
	if errors.Is(err, vault.ErrNotFound) {
		app, err = s.CreateApp(t.Context(), vault.App{Name: "acme"})
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m := vault.Material{Token: fmt.Sprintf("sk-%s-%d", kek, i)}
		g, _, err := v.PutSecret(t.Context(), app.ID, "openai", vault.KindAPIKey, vault.PrincipalSystem, m)
		if err != nil {
			t.Fatal(err)
		}
		f.grants = append(f.grants, g)
		f.want[g.ID] = m
	}
}

// config writes a config file naming the given KEKs, with active active.
func (f *kekFixture) config(t *testing.T, active string, ids ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %q\n%svault:\n  active_kek: %s\n  kek_files:\n", f.dir, f.dbYAML, active)
	for _, id := range ids {
		fmt.Fprintf(&b, "    %s: %q\n", id, f.keks[id])
	}
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// credential returns grant g's stored credential row.
func (f *kekFixture) credential(t *testing.T, g vault.Grant) vault.Credential {
	t.Helper()
	s := f.open(t)
	defer s.Close()
	c, err := s.GetCredential(t.Context(), g.AppID, g.CredentialID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkMaterial requires every grant but skip to decrypt to its material
// with keys alone.
func (f *kekFixture) checkMaterial(t *testing.T, keys *vault.Keyring, skip string) {
	t.Helper()
	s := f.open(t)
	defer s.Close()
	v := vault.New(s, keys, []byte("pepper-pepper-pepper"), vault.Options{CacheTTL: -1})
	defer v.Close()
	for _, g := range f.grants {
		if g.ID == skip {
			continue
		}
		got, err := v.Material(t.Context(), g)
		if err != nil || !cmp.Equal(got, f.want[g.ID], cmpopts.IgnoreFields(vault.Material{}, "Version")) {
			t.Fatalf("grant %s after rotation: %v (or other material)", g.ID, err)
		}
	}
}

func sqliteAt(t *testing.T, dir string) vault.Store {
	t.Helper()
	s, err := vault.OpenSQLite(t.Context(), filepath.Join(dir, databaseFile))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVaultRotateKEKCommand(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testRotateKEKCommand(t, newKEKFixture(t, sqliteAt, ""))
	})
	t.Run("postgres", func(t *testing.T) {
		url, schema := storetest.PostgresSchema(t)
		opts := vault.PostgresOptions{Schema: schema, MaxConns: 2}
		if err := vault.MigratePostgres(t.Context(), url, opts); err != nil {
			t.Fatal(err)
		}
		open := func(t *testing.T, _ string) vault.Store {
			t.Helper()
			p, err := vault.OpenPostgres(context.WithoutCancel(t.Context()), url, opts)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		db := fmt.Sprintf("database:\n  url: %q\n  schema: %s\n  max_conns: 2\n", url, schema)
		testRotateKEKCommand(t, newKEKFixture(t, open, db))
	})
}

// testRotateKEKCommand: secrets under "a"; "b" made active with "a" kept →
// status shows them pending, a dry run writes nothing, rotate-kek moves them
// all and status is complete; a secret under an unconfigured "z" is reported
// (exit 1, rotation_incomplete) and left untouched.
func testRotateKEKCommand(t *testing.T, f *kekFixture) {
	f.put(t, "a", 3)
	cfg := f.config(t, "b", "a", "b")

	var st kekStatus
	ghJSON(t, 0, &st, "", "--config", cfg, "vault", "status")
	want := kekStatus{ActiveKEK: "b", ConfiguredKEKs: []string{"a", "b"}, Pending: 3, ByKEK: map[string]int{"a": 3}, UnconfiguredKEKs: []string{}}
	if d := cmp.Diff(want, st); d != "" {
		t.Fatalf("status before (-want +got):\n%s", d)
	}

	var rep vault.RotateReport
	ghJSON(t, 0, &rep, "", "--config", cfg, "vault", "rotate-kek", "--dry-run")
	if !rep.DryRun || rep.Rewrapped != 3 || f.credential(t, f.grants[0]).KEKID != "a" {
		t.Fatalf("dry run: %+v; want 3 to rewrap and nothing written", rep)
	}

	r := ghJSON(t, 0, &rep, "", "--config", cfg, "vault", "rotate-kek", "--batch-size", "2")
	wantRep := vault.RotateReport{
		ActiveKEK: "b", Scanned: 3, Rewrapped: 3, Missing: []vault.CredentialRef{}, MissingKEKIDs: []string{},
		Failures: []vault.CredentialRef{}, ByKEK: map[string]int{"a": 3},
	}
	if d := cmp.Diff(wantRep, rep); d != "" {
		t.Fatalf("rotate-kek report (-want +got):\n%s", d)
	}
	if !strings.Contains(r.stderr, "rotate-kek: 2 scanned") || !strings.Contains(r.stderr, "now under KEK b") {
		t.Errorf("progress notes missing from stderr: %q", r.stderr)
	}
	ghJSON(t, 0, &st, "", "--config", cfg, "vault", "status")
	if !st.Complete || st.Pending != 0 {
		t.Fatalf("status after: %+v; want complete", st)
	}
	f.checkMaterial(t, f.keyring(t, "b"), "")

	// Idempotent, in text mode.
	r = gh(t, "", "--config", cfg, "vault", "rotate-kek")
	if r.code != 0 || !strings.Contains(r.stdout, "scanned      0") || !strings.Contains(r.stderr, "already under KEK b") {
		t.Fatalf("second run = %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	// A credential under "z", which the config does not list.
	f.put(t, "z", 1)
	lost := f.grants[len(f.grants)-1]
	before := f.credential(t, lost)
	r = ghJSON(t, exitError, nil, "", "--config", cfg, "vault", "rotate-kek")
	if code := errorCode(t, r); code != codeRotationIncomplete {
		t.Fatalf("error code %q, want %s", code, codeRotationIncomplete)
	}
	for _, s := range []string{"(z)", lost.CredentialID, "add the missing KEK files"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr %q does not contain %q", r.stderr, s)
		}
	}
	if d := cmp.Diff(before, f.credential(t, lost)); d != "" {
		t.Fatalf("credential under the missing KEK changed (-want +got):\n%s", d)
	}
	r = gh(t, "", "--config", cfg, "vault", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "not configured   z") {
		t.Errorf("text status = %d %q, want z listed as not configured", r.code, r.stdout)
	}
	// Text mode prints the report, with the problem rows, before the error.
	r = gh(t, "", "--config", cfg, "vault", "rotate-kek")
	if r.code != exitError || !strings.Contains(r.stdout, lost.CredentialID) || !strings.Contains(r.stdout, "KEK not loaded") {
		t.Errorf("text rotate-kek = %d\nstdout: %s", r.code, r.stdout)
	}

	// With z configured, a rerun finishes; then only b is needed.
	ghJSON(t, 0, &rep, "", "--config", f.config(t, "b", "b", "z"), "vault", "rotate-kek")
	if rep.Rewrapped != 1 {
		t.Fatalf("rerun with z: %+v", rep)
	}
	f.checkMaterial(t, f.keyring(t, "b"), "")
}

func TestVaultCommandErrors(t *testing.T) {
	f := newKEKFixture(t, sqliteAt, "")
	empty := filepath.Join(t.TempDir(), "empty")
	newKEK := filepath.Join(f.dir, "kek-new.key")
	noFile := filepath.Join(t.TempDir(), "gatehouse.yaml")
	yaml := fmt.Sprintf("vault:\n  active_kek: new\n  kek_files:\n    a: %q\n    new: %q\n", f.keks["a"], newKEK)
	if err := os.WriteFile(noFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	f.put(t, "a", 1)
	tests := []struct {
		name string
		args []string
		exit int
		code string
		msg  string
	}{
		{"no database in data dir", []string{"--config", f.config(t, "b", "a", "b"), "--data-dir", empty, "vault", "rotate-kek"},
			exitNotFound, codeNotFound, "no database at"},
		{"status without database", []string{"--config", f.config(t, "b", "a", "b"), "--data-dir", empty, "vault", "status"},
			exitNotFound, codeNotFound, "no database at"},
		{"active KEK file missing", []string{"--config", noFile, "--data-dir", f.dir, "vault", "rotate-kek"},
			exitNotFound, codeNotFound, "never generates a KEK"},
		{"active KEK not configured", []string{"--config", f.config(t, "q", "a"), "vault", "rotate-kek"},
			exitUsage, codeUsage, "not an id in vault.kek_files"},
		{"bad batch size", []string{"--config", f.config(t, "b", "a", "b"), "vault", "rotate-kek", "--batch-size", "0"},
			exitUsage, codeUsage, "--batch-size"},
		{"no subcommand", []string{"vault"}, exitUsage, codeUsage, "needs a subcommand"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ghJSON(t, tc.exit, nil, "", tc.args...)
			if got := errorCode(t, r); got != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Fatalf("code %q stderr %q; want %s with %q", got, r.stderr, tc.code, tc.msg)
			}
		})
	}
	if _, err := os.Stat(newKEK); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rotate-kek created the missing active KEK file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, databaseFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rotate-kek created a database in the empty data dir: %v", err)
	}
}
