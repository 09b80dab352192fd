package certs

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadOrCreateCA_CreateThenReload(t *testing.T) {
	ca, dir := newTestCA(t)

	t.Run("modes", func(t *testing.T) {
		got := map[string]os.FileMode{
			"dir":  fileMode(t, dir),
			"key":  fileMode(t, filepath.Join(dir, KeyFile)),
			"cert": fileMode(t, filepath.Join(dir, CertFile)),
		}
		want := map[string]os.FileMode{"dir": 0o700, "key": 0o600, "cert": 0o644}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("file modes (-want +got):\n%s", diff)
		}
	})

	t.Run("certificate shape", func(t *testing.T) {
		c := ca.Certificate()
		type shape struct {
			IsCA, BasicConstraintsValid, MaxPathLenZero bool
			MaxPathLen                                  int
			KeyUsage                                    x509.KeyUsage
			Curve                                       string
			NotAfter                                    time.Time
			SelfSigned                                  bool
		}
		pub, _ := c.PublicKey.(*ecdsa.PublicKey)
		curve := ""
		if pub != nil {
			curve = pub.Curve.Params().Name
		}
		got := shape{
			IsCA: c.IsCA, BasicConstraintsValid: c.BasicConstraintsValid, MaxPathLenZero: c.MaxPathLenZero,
			MaxPathLen: c.MaxPathLen, KeyUsage: c.KeyUsage, Curve: curve, NotAfter: c.NotAfter,
			SelfSigned: c.CheckSignatureFrom(c) == nil,
		}
		want := shape{
			IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, MaxPathLen: 0,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, Curve: "P-256",
			NotAfter: t0.Add(10 * 365 * 24 * time.Hour), SelfSigned: true,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("CA certificate (-want +got):\n%s", diff)
		}
		suffix, ok := strings.CutPrefix(c.Subject.CommonName, "Gatehouse Local CA ")
		if !ok || suffix == "" {
			t.Errorf("CommonName = %q, want \"Gatehouse Local CA <random>\"", c.Subject.CommonName)
		}
	})

	t.Run("fingerprint and PEM", func(t *testing.T) {
		block, _ := pem.Decode(ca.CertPEM())
		if block == nil {
			t.Fatal("CertPEM is not PEM")
		}
		sum := sha256.Sum256(block.Bytes)
		if diff := cmp.Diff(hex.EncodeToString(sum[:]), ca.Fingerprint()); diff != "" {
			t.Errorf("Fingerprint (-want +got):\n%s", diff)
		}
		onDisk, err := os.ReadFile(filepath.Join(dir, CertFile))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(onDisk), string(ca.CertPEM())); diff != "" {
			t.Errorf("CertPEM differs from ca.pem (-want +got):\n%s", diff)
		}
		mutated := ca.CertPEM()
		mutated[0] = 'X'
		if ca.CertPEM()[0] == 'X' {
			t.Error("CertPEM returned the CA's own slice")
		}
	})

	t.Run("reload keeps the same CA", func(t *testing.T) {
		again, err := LoadOrCreateCA(dir, func() time.Time { return t0.Add(time.Hour) })
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		if diff := cmp.Diff(ca.Fingerprint(), again.Fingerprint()); diff != "" {
			t.Errorf("fingerprint changed on reload (-want +got):\n%s", diff)
		}
		if !again.key.Equal(ca.key) {
			t.Error("key changed on reload")
		}
	})

	t.Run("two fresh CAs differ", func(t *testing.T) {
		other, _ := newTestCA(t)
		if other.Fingerprint() == ca.Fingerprint() || other.Certificate().Subject.CommonName == ca.Certificate().Subject.CommonName {
			t.Error("independently created CAs share a fingerprint or name")
		}
	})
}

func TestLoadOrCreateCA_LeavesExistingDirMode(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir, nil); err != nil {
		t.Fatal(err)
	}
	if got := fileMode(t, dir); got != 0o750 {
		t.Errorf("existing dir mode = %04o, want untouched 0750", got)
	}
}

func TestLoadOrCreateCA_AcceptsOpenSSLCA(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o400} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			copyFixture(t, "openssl-ca.pem", filepath.Join(dir, CertFile), 0o644)
			copyFixture(t, "p256-sec1-key.pem", filepath.Join(dir, KeyFile), mode)
			ca, err := LoadOrCreateCA(dir, func() time.Time { return t0 })
			if err != nil {
				t.Fatalf("load openssl CA: %v", err)
			}
			if diff := cmp.Diff("Openssl Test CA", ca.Certificate().Subject.CommonName); diff != "" {
				t.Errorf("loaded CA (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadOrCreateCA_Refuses(t *testing.T) {
	// Each case prepares dir and returns the substrings the error must carry.
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) []string
		now   time.Time
	}{
		{
			name: "world-readable key",
			setup: func(t *testing.T, dir string) []string {
				mustCreate(t, dir)
				chmod(t, filepath.Join(dir, KeyFile), 0o644)
				return []string{filepath.Join(dir, KeyFile), "chmod 600", "0644"}
			},
		},
		{
			name: "group-readable key",
			setup: func(t *testing.T, dir string) []string {
				mustCreate(t, dir)
				chmod(t, filepath.Join(dir, KeyFile), 0o640)
				return []string{filepath.Join(dir, KeyFile), "chmod 600"}
			},
		},
		{
			name: "RSA key",
			setup: func(t *testing.T, dir string) []string {
				copyFixture(t, "openssl-ca.pem", filepath.Join(dir, CertFile), 0o644)
				copyFixture(t, "rsa-key.pem", filepath.Join(dir, KeyFile), 0o600)
				return []string{"rsa.PrivateKey", "ECDSA P-256"}
			},
		},
		{
			name: "Ed25519 key",
			setup: func(t *testing.T, dir string) []string {
				copyFixture(t, "openssl-ca.pem", filepath.Join(dir, CertFile), 0o644)
				copyFixture(t, "ed25519-key.pem", filepath.Join(dir, KeyFile), 0o600)
				return []string{"ed25519.PrivateKey", "ECDSA P-256"}
			},
		},
		{
			name: "P-384 key",
			setup: func(t *testing.T, dir string) []string {
				copyFixture(t, "openssl-ca.pem", filepath.Join(dir, CertFile), 0o644)
				copyFixture(t, "p384-key.pem", filepath.Join(dir, KeyFile), 0o600)
				return []string{"P-384", "ECDSA P-256"}
			},
		},
		{
			name: "certificate and key mismatch",
			setup: func(t *testing.T, dir string) []string {
				mustCreate(t, dir)
				otherDir := filepath.Join(t.TempDir(), "other")
				mustCreate(t, otherDir)
				key, err := os.ReadFile(filepath.Join(otherDir, KeyFile))
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, KeyFile), key, 0o600)
				return []string{"does not match"}
			},
		},
		{
			name: "certificate is not a CA",
			setup: func(t *testing.T, dir string) []string {
				copyFixture(t, "openssl-leaf.pem", filepath.Join(dir, CertFile), 0o644)
				copyFixture(t, "p256-sec1-key.pem", filepath.Join(dir, KeyFile), 0o600)
				return []string{"not a CA"}
			},
		},
		{
			name: "certificate without key",
			setup: func(t *testing.T, dir string) []string {
				copyFixture(t, "openssl-ca.pem", filepath.Join(dir, CertFile), 0o644)
				return []string{KeyFile + " is missing"}
			},
		},
		{
			name: "key without certificate",
			setup: func(t *testing.T, dir string) []string {
				copyFixture(t, "p256-sec1-key.pem", filepath.Join(dir, KeyFile), 0o600)
				return []string{CertFile + " is missing"}
			},
		},
		{
			name: "garbage certificate",
			setup: func(t *testing.T, dir string) []string {
				mustCreate(t, dir)
				writeFile(t, filepath.Join(dir, CertFile), []byte("not pem\n"), 0o644)
				return []string{"no PEM CERTIFICATE"}
			},
		},
		{
			name: "expired CA",
			now:  t0.Add(11 * 365 * 24 * time.Hour),
			setup: func(t *testing.T, dir string) []string {
				mustCreate(t, dir)
				return []string{"expired"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			want := tt.setup(t, dir)
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			ca, err := LoadOrCreateCA(dir, func() time.Time { return now })
			if err == nil {
				t.Fatalf("LoadOrCreateCA succeeded (CA %s), want an error", ca.Fingerprint())
			}
			for _, s := range want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

func TestReadKey_NeverEchoesKeyMaterial(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, "rsa-key.pem", filepath.Join(dir, KeyFile), 0o600)
	_, err := readKey(filepath.Join(dir, KeyFile))
	if err == nil {
		t.Fatal("readKey accepted an RSA key")
	}
	pemText, readErr := os.ReadFile(filepath.Join("testdata", "rsa-key.pem"))
	if readErr != nil {
		t.Fatal(readErr)
	}
	lines := strings.Split(strings.TrimSpace(string(pemText)), "\n")
	for _, line := range lines[1 : len(lines)-1] {
		if strings.Contains(err.Error(), line) {
			t.Fatalf("error leaks key material: %q", err)
		}
	}
}

func TestWriteKeyFile_RefusesExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	writeFile(t, path, []byte("old"), 0o600)
	if err := writeKeyFile(path, []byte("new")); err == nil {
		t.Fatal("writeKeyFile overwrote an existing file")
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("old", string(got)); diff != "" {
		t.Errorf("existing key file changed (-want +got):\n%s", diff)
	}
}

func TestRandomSerial(t *testing.T) {
	a, b := randomSerial(), randomSerial()
	if a.BitLen() != 128 || b.BitLen() != 128 {
		t.Errorf("serial bit lengths = %d, %d; want 128", a.BitLen(), b.BitLen())
	}
	if a.Cmp(b) == 0 {
		t.Error("two random serials are equal")
	}
}

func mustCreate(t *testing.T, dir string) {
	t.Helper()
	if _, err := LoadOrCreateCA(dir, func() time.Time { return t0 }); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
