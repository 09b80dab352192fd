package vault_test

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func TestLoadOrCreateKeyFile(t *testing.T) {
	old := setUmask(0)
	t.Cleanup(func() { setUmask(old) })
	path := filepath.Join(t.TempDir(), "kek")
	first, err := vault.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != vault.KEKSize {
		t.Fatalf("key has %d bytes", len(first))
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %04o, want 0600", st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(raw)) != base64.StdEncoding.EncodeToString(first) {
		t.Fatal("file does not hold the base64 key")
	}
	second, err := vault.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(first, second); d != "" {
		t.Fatal("key not reused on restart")
	}
	other, err := vault.LoadOrCreateKeyFile(filepath.Join(t.TempDir(), "kek"))
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Equal(first, other) {
		t.Fatal("two new key files hold the same key")
	}
}

func TestLoadOrCreateKeyFileRefuses(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
	}{
		{"group readable", secret, 0o640},
		{"world readable", secret, 0o604},
		{"group writable", secret, 0o620},
		{"empty", "", 0o600},
		{"short", base64.StdEncoding.EncodeToString(make([]byte, 16)), 0o600},
		{"not base64", "this is not a key!", 0o600},
		{"too large", strings.Repeat("A", 4096), 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := vault.LoadOrCreateKeyFile(path)
			if !errors.Is(err, vault.ErrInvalid) {
				t.Fatalf("LoadOrCreateKeyFile = %v, want ErrInvalid", err)
			}
			if tc.content != "" && strings.Contains(err.Error(), tc.content) {
				t.Fatal("error quotes the file content")
			}
			after, err := os.ReadFile(path)
			if err != nil || string(after) != tc.content {
				t.Fatal("a refused key file was modified")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		if _, err := vault.LoadOrCreateKeyFile(t.TempDir()); err == nil {
			t.Fatal("a directory was accepted as a key file")
		}
	})
}
