package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureDataDir(t *testing.T) {
	base := t.TempDir()
	fresh := filepath.Join(base, "a", "b")
	if err := ensureDataDir(fresh); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("created with mode %04o, want no group/other bits", perm)
	}
	if err := ensureDataDir(fresh); err != nil {
		t.Errorf("existing 0700 dir refused: %v", err)
	}

	open := filepath.Join(base, "open dir")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	err = ensureDataDir(open)
	if err == nil || !strings.Contains(err.Error(), "chmod 700 '"+open+"'") {
		t.Errorf("ensureDataDir(0755) = %v, want a refusal with a quoted chmod hint", err)
	}

	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ensureDataDir(file); err == nil {
		t.Error("ensureDataDir(file) succeeded")
	}
}

func TestAdminToken(t *testing.T) {
	dir := t.TempDir()
	path := adminTokenPath(dir)
	tok, err := loadOrCreateAdminToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, adminTokenPrefix) || len(tok) != len(adminTokenPrefix)+52 || strings.ToLower(tok) != tok {
		t.Errorf("token %q has the wrong shape", tok)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("token file mode %04o, want 0600", perm)
	}
	again, err := loadOrCreateAdminToken(path)
	if err != nil || again != tok {
		t.Errorf("second load = %q, %v; want the same token", again, err)
	}
	other, err := loadOrCreateAdminToken(filepath.Join(dir, "other-token"))
	if err != nil || other == tok {
		t.Errorf("a second token file got %q, %v; want a different token", other, err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateAdminToken(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable token accepted: %v", err)
	}

	bad := filepath.Join(dir, "bad-token")
	if err := os.WriteFile(bad, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = loadOrCreateAdminToken(bad)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("malformed token file: err = %v (must fail without echoing the content)", err)
	}
}

func TestAdminURLFile(t *testing.T) {
	dir := t.TempDir()
	if got := publishedAdminURL(dir); got != "" {
		t.Fatalf("published URL before publishing = %q", got)
	}
	if err := publishAdminURL(dir, "http://127.0.0.1:1234"); err != nil {
		t.Fatal(err)
	}
	if got := publishedAdminURL(dir); got != "http://127.0.0.1:1234" {
		t.Errorf("published URL = %q", got)
	}
	withdrawAdminURL(dir, "http://127.0.0.1:9999") // not ours: stays
	if got := publishedAdminURL(dir); got != "http://127.0.0.1:1234" {
		t.Errorf("URL withdrawn by another server: %q", got)
	}
	withdrawAdminURL(dir, "http://127.0.0.1:1234")
	if got := publishedAdminURL(dir); got != "" {
		t.Errorf("URL after withdraw = %q", got)
	}
}
