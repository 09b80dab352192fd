package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// maxLeafLifetime is what "short-lived" means for a minted leaf.
const maxLeafLifetime = 7 * 24 * time.Hour

// TestDataDirPermissions covers invariant 10 on what serve wrote: the
// directory is 0700, every secret-bearing file 0600, nothing is group- or
// world-writable, the CA is ECDSA P-256 and minted leaves are short-lived.
// Checked while serving (WAL present) and again after a clean stop.
func TestDataDirPermissions(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", openaiKey)
	c := g.goClient(t, tn.agent.Key)
	requireOK(t, goDo(t, c, "GET", "https://api.openai.com/v1/models", nil))

	t.Run("serving", func(t *testing.T) { requireModes(t, g.dataDir) })
	t.Run("CA", func(t *testing.T) { requireP256CA(t, g.dataDir) })
	t.Run("leaf", func(t *testing.T) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", "https://api.openai.com/v1/models", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
			t.Fatal("no TLS state on a proxied https response")
		}
		leaf := resp.TLS.PeerCertificates[0]
		if life := leaf.NotAfter.Sub(leaf.NotBefore); life > maxLeafLifetime {
			t.Errorf("leaf for %v lives %s, want at most %s", leaf.DNSNames, life, maxLeafLifetime)
		}
		if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
			t.Errorf("leaf key is %T, want ECDSA", leaf.PublicKey)
		}
	})
	g.stop()
	t.Run("stopped", func(t *testing.T) { requireModes(t, g.dataDir) })
}

// requireModes checks the modes under dataDir and that the expected files
// exist: the database, the CA and its key, a KEK, the pepper and the admin
// token.
func requireModes(t *testing.T, dataDir string) {
	t.Helper()
	st, err := os.Stat(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != 0o700 {
		t.Errorf("data dir mode %#o, want 0700", m)
	}
	found := map[string]bool{}
	err = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dataDir, path)
		m := info.Mode().Perm()
		if d.IsDir() {
			if m&0o022 != 0 {
				t.Errorf("%s/ mode %#o is group- or world-writable", rel, m)
			}
			return nil
		}
		name := d.Name()
		switch {
		case name == "ca.pem":
			found["ca.pem"] = true
			if m != 0o644 && m != 0o600 {
				t.Errorf("ca.pem mode %#o, want 0644 or 0600", m)
			}
			return nil
		case name == "ca-key.pem":
			found["ca-key.pem"] = true
		case name == "admin-token":
			found["admin-token"] = true
		case strings.Contains(name, "kek"):
			found["kek"] = true
		case strings.Contains(name, "pepper"):
			found["pepper"] = true
		case strings.Contains(name, ".db"):
			found["database"] = true
		}
		if m != 0o600 {
			t.Errorf("%s mode %#o, want 0600", rel, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ca.pem", "ca-key.pem", "admin-token", "kek", "pepper", "database"} {
		if !found[want] {
			t.Errorf("no %s file in the data dir", want)
		}
	}
}

// requireP256CA checks ca.pem is a CA certificate with an ECDSA P-256 key
// and ca-key.pem holds the matching private key.
func requireP256CA(t *testing.T, dataDir string) {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(dataDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatal("ca.pem holds no CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("CA key is %T, want ECDSA P-256", cert.PublicKey)
	}
	if !cert.IsCA {
		t.Error("ca.pem is not a CA certificate")
	}
	keyPEM, err := os.ReadFile(filepath.Join(dataDir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		t.Fatal("ca-key.pem holds no PEM block")
	}
	var priv any
	if priv, err = x509.ParseECPrivateKey(kb.Bytes); err != nil {
		if priv, err = x509.ParsePKCS8PrivateKey(kb.Bytes); err != nil {
			t.Fatalf("ca-key.pem: %v", err)
		}
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok || !ec.PublicKey.Equal(pub) {
		t.Error("ca-key.pem is not the private key of ca.pem")
	}
}
