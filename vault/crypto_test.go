package vault_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

const (
	testApp  = "0195f6a2-0000-7000-8000-000000000001"
	testCred = "0195f6a2-0000-7000-8000-000000000002"
)

func randomKEK(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, vault.KEKSize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newKeyring(t *testing.T, active string, keks map[string][]byte) *vault.Keyring {
	t.Helper()
	k, err := vault.NewKeyring(active, keks)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

// sealed returns a credential row holding m sealed by k.
func sealed(t *testing.T, k *vault.Keyring, version int64, m vault.Material) vault.Credential {
	t.Helper()
	kekID, wrapped, ct, err := k.Seal(testApp, testCred, version, m)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return vault.Credential{ID: testCred, AppID: testApp, Version: version, KEKID: kekID, WrappedKey: wrapped, Ciphertext: ct}
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := newKeyring(t, "k1", map[string][]byte{"k1": randomKEK(t)})
	for _, m := range []vault.Material{
		{Token: "sk-live-123"},
		{Username: "alice", Password: "pä$$\"word"},
		{Username: "bob"},
		{
			AccessToken: "xoxp-access-123", RefreshToken: "xoxe-refresh-456", TokenType: "Bearer",
			Expiry: time.Date(2025, 6, 1, 13, 0, 0, 123456789, time.UTC), Scopes: []string{"chat:write", "users:read"},
			GrantType: vault.GrantAuthorizationCode,
		},
		{Token: "client-secret-789"},
		{AccessToken: "cc-token", GrantType: vault.GrantClientCredentials, Version: 42}, // Version is not sealed
	} {
		c := sealed(t, k, 3, m)
		if c.KEKID != "k1" {
			t.Fatalf("KEKID %q, want k1", c.KEKID)
		}
		for _, secret := range []string{m.Token, m.Password, m.AccessToken, m.RefreshToken} {
			if secret != "" && bytes.Contains(c.Ciphertext, []byte(secret)) {
				t.Fatal("ciphertext contains the plaintext")
			}
		}
		got, err := k.Open(c)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		want := m
		want.Version = 3 // the row's version, whatever the sealed value carried
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("round trip (-want +got):\n%s", d)
		}
	}
}

func TestSealUsesFreshDataKeys(t *testing.T) {
	k := newKeyring(t, "k1", map[string][]byte{"k1": randomKEK(t)})
	m := vault.Material{Token: "same"}
	a, b := sealed(t, k, 1, m), sealed(t, k, 1, m)
	if bytes.Equal(a.Ciphertext, b.Ciphertext) || bytes.Equal(a.WrappedKey, b.WrappedKey) {
		t.Fatal("two seals of the same material produced equal bytes")
	}
}

func TestOpenRejectsMovedOrTampered(t *testing.T) {
	k := newKeyring(t, "k1", map[string][]byte{"k1": randomKEK(t)})
	orig := sealed(t, k, 2, vault.Material{Token: "sk-live-123"})
	other := sealed(t, k, 2, vault.Material{Token: "sk-other"})
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0x01
		return b
	}
	for _, tc := range []struct {
		name string
		mut  func(c *vault.Credential)
	}{
		{"other credential id", func(c *vault.Credential) { c.ID = "0195f6a2-0000-7000-8000-000000000009" }},
		{"other app", func(c *vault.Credential) { c.AppID = "0195f6a2-0000-7000-8000-000000000008" }},
		{"older version", func(c *vault.Credential) { c.Version = 1 }},
		{"newer version", func(c *vault.Credential) { c.Version = 3 }},
		{"ciphertext bit flipped", func(c *vault.Credential) { c.Ciphertext = flip(c.Ciphertext, len(c.Ciphertext)-1) }},
		{"ciphertext nonce flipped", func(c *vault.Credential) { c.Ciphertext = flip(c.Ciphertext, 1) }},
		{"wrapped key bit flipped", func(c *vault.Credential) { c.WrappedKey = flip(c.WrappedKey, 20) }},
		{"format byte changed", func(c *vault.Credential) { c.Ciphertext = flip(c.Ciphertext, 0) }},
		{"ciphertext truncated", func(c *vault.Credential) { c.Ciphertext = c.Ciphertext[:10] }},
		{"ciphertext empty", func(c *vault.Credential) { c.Ciphertext = nil }},
		{"wrapped key empty", func(c *vault.Credential) { c.WrappedKey = nil }},
		{"wrapped key of another row", func(c *vault.Credential) { c.WrappedKey = other.WrappedKey }},
		{"ciphertext of another row", func(c *vault.Credential) { c.Ciphertext = other.Ciphertext }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := orig
			tc.mut(&c)
			m, err := k.Open(c)
			if !errors.Is(err, vault.ErrDecrypt) {
				t.Fatalf("Open = %v, want ErrDecrypt", err)
			}
			if d := cmp.Diff(vault.Material{}, m); d != "" {
				t.Fatal("Open returned material with an error")
			}
			if strings.Contains(err.Error(), "sk-") {
				t.Fatalf("error leaks material: %v", err)
			}
		})
	}
}

func TestOpenUnknownKEK(t *testing.T) {
	k1 := newKeyring(t, "k1", map[string][]byte{"k1": randomKEK(t)})
	k2 := newKeyring(t, "k2", map[string][]byte{"k2": randomKEK(t)})
	c := sealed(t, k1, 1, vault.Material{Token: "t"})
	if _, err := k2.Open(c); !errors.Is(err, vault.ErrKeyMissing) {
		t.Fatalf("Open with unknown KEK = %v, want ErrKeyMissing", err)
	}
	// Same id, different key bytes: the wrap does not authenticate.
	impostor := newKeyring(t, "k1", map[string][]byte{"k1": randomKEK(t)})
	if _, err := impostor.Open(c); !errors.Is(err, vault.ErrDecrypt) {
		t.Fatalf("Open with a different k1 = %v, want ErrDecrypt", err)
	}
}

func TestKEKRotation(t *testing.T) {
	oldKEK, newKEK := randomKEK(t), randomKEK(t)
	before := newKeyring(t, "2024", map[string][]byte{"2024": oldKEK})
	oldCred := sealed(t, before, 1, vault.Material{Token: "old"})

	after := newKeyring(t, "2025", map[string][]byte{"2024": oldKEK, "2025": newKEK})
	if d := cmp.Diff([]string{"2024", "2025"}, after.IDs()); d != "" {
		t.Fatalf("IDs (-want +got):\n%s", d)
	}
	got, err := after.Open(oldCred)
	if err != nil || got.Token != "old" {
		t.Fatalf("old credential after rotation: %v", err)
	}
	newCred := sealed(t, after, 1, vault.Material{Token: "new"})
	if newCred.KEKID != "2025" {
		t.Fatalf("new credential sealed with %q, want 2025", newCred.KEKID)
	}
	if _, err := before.Open(newCred); !errors.Is(err, vault.ErrKeyMissing) {
		t.Fatalf("old keyring opening new credential = %v, want ErrKeyMissing", err)
	}

	// Rewrap moves the old credential to the new KEK without touching data.
	kekID, wrapped, err := after.Rewrap(oldCred)
	if err != nil {
		t.Fatal(err)
	}
	rewrapped := oldCred
	rewrapped.KEKID, rewrapped.WrappedKey = kekID, wrapped
	onlyNew := newKeyring(t, "2025", map[string][]byte{"2025": newKEK})
	got, err = onlyNew.Open(rewrapped)
	if err != nil || got.Token != "old" || kekID != "2025" {
		t.Fatalf("rewrapped credential: kek %q, %v", kekID, err)
	}
	// The wrap names its KEK: relabelling it as another KEK fails.
	relabelled := rewrapped
	relabelled.KEKID = "2024"
	if _, err := after.Open(relabelled); !errors.Is(err, vault.ErrDecrypt) {
		t.Fatalf("relabelled wrap = %v, want ErrDecrypt", err)
	}
}

func TestNewKeyringValidates(t *testing.T) {
	good := randomKEK(t)
	for _, tc := range []struct {
		name   string
		active string
		keks   map[string][]byte
	}{
		{"active missing", "k2", map[string][]byte{"k1": good}},
		{"no keys", "k1", nil},
		{"short key", "k1", map[string][]byte{"k1": good[:16]}},
		{"long key", "k1", map[string][]byte{"k1": append(bytes.Clone(good), 0)}},
		{"empty id", "", map[string][]byte{"": good}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := vault.NewKeyring(tc.active, tc.keks); !errors.Is(err, vault.ErrInvalid) {
				t.Fatalf("NewKeyring = %v, want ErrInvalid", err)
			}
		})
	}
}
