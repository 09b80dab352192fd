package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// requireClean scans what this instance wrote for every secret the test
// handed over: the server's stdout and stderr (also for the admin token)
// and every file of the data dir, which may hold them only encrypted or
// hashed. Every test runs it at cleanup, after the final stop.
func (g *gatehouse) requireClean(when string) {
	g.t.Helper()
	logSecrets := map[string]string{}
	for k, v := range g.secrets {
		logSecrets[k] = v
	}
	if tok, err := os.ReadFile(filepath.Join(g.dataDir, "admin-token")); err == nil {
		logSecrets["admin token"] = strings.TrimSpace(string(tok))
	}
	requireNoSecrets(g.t, "server output ("+when+")", g.log(), logSecrets)
	if _, err := os.Stat(g.dataDir); err == nil {
		scanDir(g.t, g.dataDir, g.secrets, when)
	}
}

// requireNoSecrets fails for every secret found in text.
func requireNoSecrets(t *testing.T, where, text string, secrets map[string]string) {
	t.Helper()
	names := make([]string, 0, len(secrets))
	for name := range secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if v := secrets[name]; v != "" && strings.Contains(text, v) {
			t.Errorf("%s contains the %s in plaintext", where, name)
		}
	}
}

// scanDir checks every file under dir (database, WAL, keys, CA) for
// plaintext secrets; at least the database must be there to scan.
func scanDir(t *testing.T, dir string, secrets map[string]string, when string) {
	t.Helper()
	scanned := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		requireNoSecrets(t, "data file "+filepath.Base(path)+" ("+when+")", string(b), secrets)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 3 {
		t.Errorf("only %d files in the data dir to scan", scanned)
	}
}
