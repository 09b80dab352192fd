package main

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-dev/gatehouse/certs"
)

// Files inside the data directory.
const (
	adminTokenFile = "admin-token"
	adminURLFile   = "admin-url" // the running serve's admin API base URL
	databaseFile   = "gatehouse.db"
)

// adminTokenPrefix starts every admin token, so secret scanners can
// recognise a leaked one.
const adminTokenPrefix = "gatehouse_admin_"

// adminTokenBytes is the token's entropy.
const adminTokenBytes = 32

// caCertPath is where the CA certificate lives in dataDir.
func caCertPath(dataDir string) string { return filepath.Join(dataDir, certs.CertFile) }

// adminTokenPath is where serve keeps the admin token.
func adminTokenPath(dataDir string) string { return filepath.Join(dataDir, adminTokenFile) }

// adminURLPath is where a running serve publishes its admin API URL, so the
// CLI finds it even when the port was chosen at run time.
func adminURLPath(dataDir string) string { return filepath.Join(dataDir, adminURLFile) }

// publishAdminURL writes url to the data directory (replacing a stale file).
func publishAdminURL(dataDir, url string) error {
	tmp, err := os.CreateTemp(dataDir, ".admin-url-*")
	if err != nil {
		return fmt.Errorf("admin url: %w", err)
	}
	_, werr := tmp.WriteString(url + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("admin url: %w", err)
	}
	if err := os.Rename(tmp.Name(), adminURLPath(dataDir)); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("admin url: %w", err)
	}
	return nil
}

// withdrawAdminURL removes the published URL if it is still url (another
// serve may have replaced it).
func withdrawAdminURL(dataDir, url string) {
	path := adminURLPath(dataDir)
	if data, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(data)) == url {
		_ = os.Remove(path)
	}
}

// publishedAdminURL returns the URL a running serve published, or "".
func publishedAdminURL(dataDir string) string {
	data, err := os.ReadFile(adminURLPath(dataDir))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// ensureDataDir creates dir with mode 0700 if missing and refuses an
// existing one that group or others can access: it holds the CA key, the
// KEK and the admin token.
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data_dir: create %s: %w", dir, err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("data_dir: %s is not a directory", dir)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("data_dir: %s is accessible by group or others (mode %04o); it holds keys, so restrict it: chmod 700 %s",
			dir, perm, shellQuote(dir))
	}
	return nil
}

// loadOrCreateAdminToken returns the admin token stored at path, creating
// it (0600, random gatehouse_admin_<base32>) when missing. A token file
// readable by others is refused rather than trusted.
func loadOrCreateAdminToken(path string) (string, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return writeNewToken(f, path)
	case !errors.Is(err, fs.ErrExist):
		return "", fmt.Errorf("admin token: create %s: %w", path, err)
	}
	return readAdminToken(path)
}

// writeNewToken fills a freshly created token file.
func writeNewToken(f *os.File, path string) (token string, err error) {
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("admin token: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(path) // never leave an empty or partial token behind
		}
	}()
	buf := make([]byte, adminTokenBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	token = adminTokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(buf))
	if _, err := f.WriteString(token + "\n"); err != nil {
		return "", fmt.Errorf("admin token: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("admin token: sync %s: %w", path, err)
	}
	return token, nil
}

// readAdminToken reads an existing token file, refusing one that group or
// others can read and one that does not hold a token.
func readAdminToken(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("admin token: %s is accessible by group or others (mode %04o): chmod 600 %s",
			path, perm, shellQuote(path))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if !strings.HasPrefix(token, adminTokenPrefix) || len(token) < len(adminTokenPrefix)+32 || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("admin token: %s does not hold a gatehouse_admin_ token; delete it to generate a new one", path)
	}
	return token, nil
}

// shellQuote quotes s for a copy-pasteable shell hint.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
