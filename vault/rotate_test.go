package vault_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// rotateBackends are the stores the end-to-end rotation tests run on.
var rotateBackends = []struct {
	name string
	open func(t *testing.T) vault.Store
}{
	{"sqlite", func(t *testing.T) vault.Store { return openSQLite(t) }},
	{"postgres", func(t *testing.T) vault.Store { return openPostgres(t) }},
}

// rotateEnv is a store with secrets sealed under KEK "a" and the KEKs a
// test needs.
type rotateEnv struct {
	store  vault.Store
	keks   map[string][]byte // id → KEK bytes: "a", "b", "z"
	apps   []vault.App
	grants []vault.Grant
	want   map[string]vault.Material // grant id → material
	clock  *fakeClock
	pepper []byte
}

// newRotateEnv opens a SQLite store with the given number of secrets.
func newRotateEnv(t *testing.T, secrets int) *rotateEnv {
	t.Helper()
	return newRotateEnvOn(t, openSQLite(t), secrets)
}

func newRotateEnvOn(t *testing.T, store vault.Store, secrets int) *rotateEnv {
	t.Helper()
	e := &rotateEnv{
		store:  store,
		keks:   map[string][]byte{"a": randomKEK(t), "b": randomKEK(t), "z": randomKEK(t)},
		want:   map[string]vault.Material{},
		clock:  &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)},
		pepper: randomKEK(t),
	}
	for _, name := range []string{"acme", "globex"} {
		a, err := e.store.CreateApp(t.Context(), vault.App{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		e.apps = append(e.apps, a)
	}
	va := e.vault(t, -1, "a", "a")
	for i := range secrets {
		e.put(t, va, e.apps[i%2].ID, i)
	}
	return e
}

// keyring holds the named KEKs with active first.
func (e *rotateEnv) keyring(t *testing.T, active string, ids ...string) *vault.Keyring {
	t.Helper()
	m := map[string][]byte{}
	for _, id := range append(ids, active) {
		m[id] = e.keks[id]
	}
	return newKeyring(t, active, m)
}

// vault returns a Vault over the env's store with the given KEKs
// (cacheTTL < 0 disables caching, so every read reaches the store).
func (e *rotateEnv) vault(t *testing.T, cacheTTL time.Duration, active string, ids ...string) *vault.Vault {
	t.Helper()
	v := vault.New(e.store, e.keyring(t, active, ids...), e.pepper, vault.Options{CacheTTL: cacheTTL, Now: e.clock.Now})
	t.Cleanup(v.Close)
	return v
}

// put stores secret number i in appID and remembers its material.
func (e *rotateEnv) put(t *testing.T, v *vault.Vault, appID string, i int) vault.Grant {
	t.Helper()
	m := vault.Material{Token: fmt.Sprintf("sk-%03d-%s", i, strings.Repeat("x", i%7))}
	kind := vault.KindAPIKey
	if i%3 == 0 {
		m, kind = vault.Material{Username: fmt.Sprintf("user%03d", i), Password: fmt.Sprintf("pw-%03d", i)}, vault.KindBasic
	}
	g, _, err := v.PutSecret(t.Context(), appID, fmt.Sprintf("provider%d", i%4), kind, vault.PrincipalSystem, m)
	if err != nil {
		t.Fatalf("PutSecret %d: %v", i, err)
	}
	e.grants = append(e.grants, g)
	e.want[g.ID] = m
	return g
}

// rows returns the stored credential of every grant, by grant id.
func (e *rotateEnv) rows(t *testing.T) map[string]vault.Credential {
	t.Helper()
	out := map[string]vault.Credential{}
	for _, g := range e.grants {
		c, err := e.store.GetCredential(t.Context(), g.AppID, g.CredentialID)
		if err != nil {
			t.Fatalf("GetCredential: %v", err)
		}
		out[g.ID] = c
	}
	return out
}

// checkMaterial requires every grant to decrypt to its expected material
// through v.
func (e *rotateEnv) checkMaterial(t *testing.T, v *vault.Vault) {
	t.Helper()
	for _, g := range e.grants {
		got, err := v.Material(t.Context(), g)
		if err != nil {
			t.Fatalf("Material %s: %v", g.ID, err)
		}
		if d := cmp.Diff(e.want[g.ID], got, ignoreVersion); d != "" {
			t.Fatalf("grant %s decrypts to other material than was stored", g.ID)
		}
	}
}

// ignoreWrap compares rows without the fields a rewrap changes.
var ignoreWrap = cmpopts.IgnoreFields(vault.Credential{}, "KEKID", "WrappedKey", "UpdatedAt")

func TestRotateKEK(t *testing.T) {
	for _, b := range rotateBackends {
		t.Run(b.name, func(t *testing.T) { testRotateKEK(t, newRotateEnvOn(t, b.open(t), 23)) })
	}
}

// testRotateKEK: secrets under "a", "b" active with "a" still loaded →
// every credential ends under "b", decrypts with "b" alone, and nothing but
// the wrap changed; a dry run and a second run change nothing.
func testRotateKEK(t *testing.T, e *rotateEnv) {
	secrets := len(e.grants)
	before := e.rows(t)
	keys := e.keyring(t, "b", "a")

	dry, err := vault.RotateKEK(t.Context(), e.store, keys, vault.RotateOptions{DryRun: true, BatchSize: 5})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	wantDry := vault.RotateReport{
		ActiveKEK: "b", DryRun: true, Scanned: secrets, Rewrapped: secrets,
		Missing: []vault.CredentialRef{}, MissingKEKIDs: []string{}, Failures: []vault.CredentialRef{},
		ByKEK: map[string]int{"a": secrets},
	}
	if d := cmp.Diff(wantDry, dry); d != "" {
		t.Fatalf("dry-run report (-want +got):\n%s", d)
	}
	if d := cmp.Diff(before, e.rows(t)); d != "" {
		t.Fatalf("dry run changed rows (-want +got):\n%s", d)
	}

	var pages []int
	rewrapAt := e.clock.Now().Add(time.Hour)
	rep, err := vault.RotateKEK(t.Context(), e.store, keys, vault.RotateOptions{
		BatchSize: 5,
		Now:       func() time.Time { return rewrapAt },
		Progress:  func(r vault.RotateReport) { pages = append(pages, r.Scanned) },
	})
	if err != nil {
		t.Fatalf("RotateKEK: %v", err)
	}
	want := wantDry
	want.DryRun = false
	if d := cmp.Diff(want, rep); d != "" {
		t.Fatalf("report (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{5, 10, 15, 20, 23}, pages); d != "" {
		t.Fatalf("progress after each page (-want +got):\n%s", d)
	}

	after := e.rows(t)
	for id, c := range after {
		if c.KEKID != "b" || !c.UpdatedAt.Equal(rewrapAt) {
			t.Fatalf("grant %s: kek %q updated %s, want b at %s", id, c.KEKID, c.UpdatedAt, rewrapAt)
		}
		if string(c.WrappedKey) == string(before[id].WrappedKey) {
			t.Fatalf("grant %s: wrapped key unchanged", id)
		}
	}
	// Version, ciphertext and everything else untouched: data is not re-encrypted.
	if d := cmp.Diff(before, after, ignoreWrap); d != "" {
		t.Fatalf("rotation changed more than the wrap (-before +after):\n%s", d)
	}
	// Only KEK "b" is needed from now on.
	e.checkMaterial(t, e.vault(t, -1, "b"))
	counts, err := vault.CountNotUnder(t.Context(), e.store, "b")
	if err != nil || len(counts) != 0 {
		t.Fatalf("CountNotUnder(b) = %v, %v; want none", counts, err)
	}

	// Idempotent: a second run finds nothing and writes nothing.
	again, err := vault.RotateKEK(t.Context(), e.store, keys, vault.RotateOptions{})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	wantAgain := vault.RotateReport{
		ActiveKEK: "b", Missing: []vault.CredentialRef{}, MissingKEKIDs: []string{},
		Failures: []vault.CredentialRef{}, ByKEK: map[string]int{},
	}
	if d := cmp.Diff(wantAgain, again); d != "" {
		t.Fatalf("second report (-want +got):\n%s", d)
	}
	if d := cmp.Diff(after, e.rows(t)); d != "" {
		t.Fatalf("second run changed rows (-want +got):\n%s", d)
	}
}

// TestRotateKEKMissingKEK: a credential under a KEK that is not loaded
// fails with ErrKeyMissing (never garbage), is reported and left untouched
// by rotation, and is rewrapped by a rerun once its KEK is loaded.
func TestRotateKEKMissingKEK(t *testing.T) {
	e := newRotateEnv(t, 4)
	lost := e.put(t, e.vault(t, -1, "z", "z"), e.apps[1].ID, 99)
	before := e.rows(t)

	serving := e.vault(t, -1, "b", "a")
	if _, err := serving.Material(t.Context(), lost); !errors.Is(err, vault.ErrKeyMissing) {
		t.Fatalf("Material under unloaded KEK z = %v, want ErrKeyMissing", err)
	}

	rep, err := vault.RotateKEK(t.Context(), e.store, e.keyring(t, "b", "a"), vault.RotateOptions{BatchSize: 2})
	if !errors.Is(err, vault.ErrRotationIncomplete) || !errors.Is(err, vault.ErrKeyMissing) {
		t.Fatalf("RotateKEK = %v, want ErrRotationIncomplete and ErrKeyMissing", err)
	}
	if !strings.Contains(err.Error(), "(z)") {
		t.Errorf("error %q does not name the missing KEK", err)
	}
	want := vault.RotateReport{
		ActiveKEK: "b", Scanned: 5, Rewrapped: 4, MissingKEK: 1,
		Missing:       []vault.CredentialRef{{AppID: lost.AppID, CredentialID: lost.CredentialID, KEKID: "z"}},
		MissingKEKIDs: []string{"z"}, Failures: []vault.CredentialRef{},
		ByKEK: map[string]int{"a": 4, "z": 1},
	}
	if d := cmp.Diff(want, rep); d != "" {
		t.Fatalf("report (-want +got):\n%s", d)
	}
	if d := cmp.Diff(before[lost.ID], e.rows(t)[lost.ID]); d != "" {
		t.Fatalf("credential under the missing KEK was touched (-want +got):\n%s", d)
	}
	if _, err := serving.Material(t.Context(), lost); !errors.Is(err, vault.ErrKeyMissing) {
		t.Fatalf("Material after rotation = %v, want ErrKeyMissing", err)
	}

	// The operator restores KEK z: a rerun finishes the job.
	rep, err = vault.RotateKEK(t.Context(), e.store, e.keyring(t, "b", "z"), vault.RotateOptions{})
	if err != nil || rep.Rewrapped != 1 || rep.Scanned != 1 {
		t.Fatalf("rerun with z loaded: %+v, %v; want 1 rewrapped", rep, err)
	}
	e.checkMaterial(t, e.vault(t, -1, "b"))
}

// TestRotateKEKUndecryptable: a wrapped key that does not authenticate is
// reported as failed and never written.
func TestRotateKEKUndecryptable(t *testing.T) {
	e := newRotateEnv(t, 3)
	broken := e.rows(t)[e.grants[1].ID]
	tampered := broken
	tampered.WrappedKey = append([]byte(nil), broken.WrappedKey...)
	tampered.WrappedKey[len(tampered.WrappedKey)-1] ^= 1
	if err := e.store.RewrapCredential(t.Context(), tampered, "a"); err != nil {
		t.Fatal(err)
	}
	rep, err := vault.RotateKEK(t.Context(), e.store, e.keyring(t, "b", "a"), vault.RotateOptions{})
	if !errors.Is(err, vault.ErrRotationIncomplete) || errors.Is(err, vault.ErrKeyMissing) {
		t.Fatalf("RotateKEK = %v, want ErrRotationIncomplete without ErrKeyMissing", err)
	}
	if rep.Failed != 1 || rep.Rewrapped != 2 || len(rep.Failures) != 1 || rep.Failures[0].CredentialID != broken.ID {
		t.Fatalf("report %+v, want credential %s failed and 2 rewrapped", rep, broken.ID)
	}
	got, err := e.store.GetCredential(t.Context(), broken.AppID, broken.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.KEKID != "a" || string(got.WrappedKey) != string(tampered.WrappedKey) {
		t.Fatal("the undecryptable credential was written")
	}
}

func TestRotateKEKValidates(t *testing.T) {
	e := newRotateEnv(t, 0)
	for _, tc := range []struct {
		name  string
		store vault.Store
		keys  *vault.Keyring
	}{
		{"no store", nil, e.keyring(t, "b")},
		{"no keyring", e.store, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := vault.RotateKEK(t.Context(), tc.store, tc.keys, vault.RotateOptions{}); !errors.Is(err, vault.ErrInvalid) {
				t.Fatalf("RotateKEK = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestRotateKEKCancelled(t *testing.T) {
	e := newRotateEnv(t, 6)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rep, err := vault.RotateKEK(ctx, e.store, e.keyring(t, "b", "a"), vault.RotateOptions{
		BatchSize: 2,
		Progress:  func(vault.RotateReport) { cancel() },
	})
	if !errors.Is(err, context.Canceled) || rep.Rewrapped != 2 || rep.Scanned != 2 {
		t.Fatalf("cancelled after the first page: %+v, %v; want 2 rewrapped and context.Canceled", rep, err)
	}
	// What is left is found by the next run.
	rep, err = vault.RotateKEK(t.Context(), e.store, e.keyring(t, "b", "a"), vault.RotateOptions{})
	if err != nil || rep.Rewrapped != 4 {
		t.Fatalf("rerun: %+v, %v; want 4 rewrapped", rep, err)
	}
}
