package vault_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

const secretMarker = "S3CRET-marker"

func TestPutSecretValidation(t *testing.T) {
	env := newEnv(t)
	env.agent(t, "worker")
	for _, tc := range []struct {
		name                      string
		app, provider, kind, prin string
		m                         vault.Material
		want                      error
	}{
		{"bad provider", "", "Open AI", "api_key", "system", vault.Material{Token: secretMarker}, vault.ErrInvalid},
		{"bad principal", "", "openai", "api_key", "root", vault.Material{Token: secretMarker}, vault.ErrInvalid},
		{"empty group principal", "", "openai", "api_key", "group:", vault.Material{Token: secretMarker}, vault.ErrInvalid},
		{"group principal with space", "", "openai", "api_key", "group:eng team", vault.Material{Token: secretMarker}, vault.ErrInvalid},
		{"bad kind", "", "openai", "oauth2", "system", vault.Material{Token: secretMarker}, vault.ErrInvalid},
		{"api_key without token", "", "openai", "api_key", "system", vault.Material{}, vault.ErrInvalid},
		{"api_key with password", "", "openai", "api_key", "system", vault.Material{Token: "t", Password: secretMarker}, vault.ErrInvalid},
		{"basic without username", "", "jira", "basic", "system", vault.Material{Password: secretMarker}, vault.ErrInvalid},
		{"basic with colon", "", "jira", "basic", "system", vault.Material{Username: "a:" + secretMarker}, vault.ErrInvalid},
		{"basic with token", "", "jira", "basic", "system", vault.Material{Username: "u", Token: secretMarker}, vault.ErrInvalid},
		{"header injection", "", "openai", "api_key", "system", vault.Material{Token: secretMarker + "\r\nX-Evil: 1"}, vault.ErrInvalid},
		{"nul in password", "", "jira", "basic", "system", vault.Material{Username: "u", Password: secretMarker + "\x00"}, vault.ErrInvalid},
		{"unknown agent", "", "openai", "api_key", "agent:ghost", vault.Material{Token: secretMarker}, vault.ErrNotFound},
		{"agent of another app", env.other.ID, "openai", "api_key", "agent:worker", vault.Material{Token: secretMarker}, vault.ErrNotFound},
		{"missing app", "0195f6a2-0000-7000-8000-00000000dead", "openai", "api_key", "system", vault.Material{Token: secretMarker}, vault.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := tc.app
			if app == "" {
				app = env.app.ID
			}
			_, _, err := env.v.PutSecret(t.Context(), app, tc.provider, tc.kind, tc.prin, tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("PutSecret = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), secretMarker) {
				t.Fatalf("error leaks material: %v", err)
			}
		})
	}
	gs, err := env.store.ListGrants(t.Context(), env.app.ID, vault.GrantFilter{})
	if err != nil || len(gs) != 0 {
		t.Fatalf("failed PutSecret calls left grants: %v, %v", gs, err)
	}
}

func TestSecretLifecycle(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	env.agent(t, "worker")
	m := vault.Material{Token: "sk-" + secretMarker}
	g, cred, err := env.v.PutSecret(c, env.app.ID, "openai", vault.KindAPIKey, "agent:worker", m)
	if err != nil {
		t.Fatal(err)
	}
	want := vault.Grant{
		ID: g.ID, AppID: env.app.ID, CredentialID: cred.ID, ProviderID: "openai", Principal: "agent:worker",
		Status: vault.StatusActive, CreatedAt: env.clock.Now(), UpdatedAt: env.clock.Now(),
	}
	if d := cmp.Diff(want, g); d != "" {
		t.Fatalf("grant (-want +got):\n%s", d)
	}
	stored, err := env.store.GetCredential(c, env.app.ID, cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Version != 1 || stored.Kind != vault.KindAPIKey || bytes.Contains(stored.Ciphertext, []byte(secretMarker)) {
		t.Fatalf("stored credential: version %d kind %s", stored.Version, stored.Kind)
	}

	got, err := env.v.Grant(c, env.app.ID, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(g, got); d != "" {
		t.Fatalf("Grant (-want +got):\n%s", d)
	}
	list, err := env.v.GrantsFor(c, env.app.ID, "openai", "agent:worker")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]vault.Grant{g}, list); d != "" {
		t.Fatalf("GrantsFor (-want +got):\n%s", d)
	}
	list[0].Status = "tampered" // the caller's copy; must not reach the cache
	gotM, err := env.v.Material(c, g)
	if err != nil {
		t.Fatal(err)
	}
	wantM := m
	wantM.Version = 1
	if d := cmp.Diff(wantM, gotM); d != "" {
		t.Fatalf("Material (-want +got):\n%s", d)
	}

	// Cached: no further store reads.
	before := [3]int64{env.store.getGrant.Load(), env.store.listGrants.Load(), env.store.getCredential.Load()}
	for range 3 {
		if _, err := env.v.Grant(c, env.app.ID, g.ID); err != nil {
			t.Fatal(err)
		}
		l, err := env.v.GrantsFor(c, env.app.ID, "openai", "agent:worker")
		if err != nil || l[0].Status != vault.StatusActive {
			t.Fatalf("GrantsFor from cache: %v, %v", l, err)
		}
		if _, err := env.v.Material(c, g); err != nil {
			t.Fatal(err)
		}
	}
	after := [3]int64{env.store.getGrant.Load(), env.store.listGrants.Load(), env.store.getCredential.Load()}
	if before != after {
		t.Fatalf("cached reads hit the store: %v → %v", before, after)
	}

	// Rotation is visible on the next call.
	rotated := vault.Material{Token: "sk-rotated"}
	cred2, err := env.v.RotateSecret(c, env.app.ID, g.ID, rotated)
	if err != nil {
		t.Fatal(err)
	}
	if cred2.Version != 2 {
		t.Fatalf("rotated version %d, want 2", cred2.Version)
	}
	gotM, err = env.v.Material(c, g)
	if err != nil {
		t.Fatal(err)
	}
	wantM = rotated
	wantM.Version = 2
	if d := cmp.Diff(wantM, gotM); d != "" {
		t.Fatalf("Material after rotate (-want +got):\n%s", d)
	}
	if _, err := env.v.RotateSecret(c, env.app.ID, g.ID, vault.Material{Username: "u"}); !errors.Is(err, vault.ErrInvalid) {
		t.Fatalf("rotate with basic material on api_key = %v, want ErrInvalid", err)
	}

	// Revocation is visible on the next call.
	if err := env.v.RevokeGrant(c, env.app.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	got, err = env.v.Grant(c, env.app.ID, g.ID)
	if err != nil || got.Status != vault.StatusRevoked {
		t.Fatalf("Grant after revoke: %s, %v", got.Status, err)
	}
	list, err = env.v.GrantsFor(c, env.app.ID, "openai", "agent:worker")
	if err != nil || len(list) != 0 {
		t.Fatalf("GrantsFor after revoke: %v, %v", list, err)
	}
	if _, err := env.v.RotateSecret(c, env.app.ID, g.ID, rotated); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("rotate revoked grant = %v, want ErrConflict", err)
	}
	if err := env.v.SetGrantStatus(c, env.app.ID, g.ID, vault.StatusActive); !errors.Is(err, vault.ErrConflict) {
		t.Fatalf("reactivate revoked grant = %v, want ErrConflict", err)
	}
}

func TestDeleteSecret(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	g, cred, err := env.v.PutSecret(c, env.app.ID, "jira", vault.KindBasic, "user:alice@example.com",
		vault.Material{Username: "alice", Password: secretMarker})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.v.Material(c, g); err != nil {
		t.Fatal(err)
	}
	if err := env.v.DeleteSecret(c, env.other.ID, g.ID); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("foreign DeleteSecret = %v, want ErrNotFound", err)
	}
	if _, err := env.v.Material(c, g); err != nil {
		t.Fatalf("foreign DeleteSecret changed something: %v", err)
	}
	if err := env.v.DeleteSecret(c, env.app.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.store.GetCredential(c, env.app.ID, cred.ID); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("credential after delete: %v", err)
	}
	if _, err := env.v.Material(c, g); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Material after delete = %v, want ErrNotFound", err)
	}
	got, err := env.v.Grant(c, env.app.ID, g.ID)
	if err != nil || got.Status != vault.StatusRevoked {
		t.Fatalf("grant after delete: %s, %v", got.Status, err)
	}
	if err := env.v.DeleteSecret(c, env.app.ID, g.ID); err != nil {
		t.Fatalf("second DeleteSecret: %v", err)
	}
}

func TestCrossAppVaultReads(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	g, _, err := env.v.PutSecret(c, env.app.ID, "openai", vault.KindAPIKey, "system", vault.Material{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Grant", func() error { _, err := env.v.Grant(c, env.other.ID, g.ID); return err }},
		{"Material", func() error { f := g; f.AppID = env.other.ID; _, err := env.v.Material(c, f); return err }},
		{"RotateSecret", func() error {
			_, err := env.v.RotateSecret(c, env.other.ID, g.ID, vault.Material{Token: "x"})
			return err
		}},
		{"RevokeGrant", func() error { return env.v.RevokeGrant(c, env.other.ID, g.ID) }},
		{"malformed grant id", func() error { _, err := env.v.Grant(c, env.app.ID, "gatehouse_grant_x"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, vault.ErrNotFound) {
				t.Fatalf("= %v, want ErrNotFound", err)
			}
		})
	}
	list, err := env.v.GrantsFor(c, env.other.ID, "openai", "system")
	if err != nil || len(list) != 0 {
		t.Fatalf("GrantsFor other app: %v, %v", list, err)
	}
	if got, err := env.v.Grant(c, env.app.ID, g.ID); err != nil || got.Status != vault.StatusActive {
		t.Fatalf("owner's grant after foreign calls: %s, %v", got.Status, err)
	}
	if _, err := env.v.GrantsFor(c, env.app.ID, "openai", "root"); !errors.Is(err, vault.ErrInvalid) {
		t.Fatalf("GrantsFor bad principal = %v, want ErrInvalid", err)
	}
}

func TestConcurrentRotations(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	g, _, err := env.v.PutSecret(c, env.app.ID, "openai", vault.KindAPIKey, "system", vault.Material{Token: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	const racers = 8
	creds := make([]vault.Credential, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			creds[i], errs[i] = env.v.RotateSecret(c, env.app.ID, g.ID, vault.Material{Token: "racer-" + string(rune('a'+i))})
		}()
	}
	close(start)
	wg.Wait()
	wins, last := 0, -1
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			if last < 0 || creds[i].Version > creds[last].Version {
				last = i
			}
		case !errors.Is(err, vault.ErrConflict):
			t.Fatalf("racer %d: %v", i, err)
		}
	}
	if wins == 0 {
		t.Fatal("no rotation won")
	}
	if creds[last].Version != int64(1+wins) {
		t.Fatalf("final version %d after %d wins, want %d", creds[last].Version, wins, 1+wins)
	}
	m, err := env.v.Material(c, g)
	if err != nil || m.Token != "racer-"+string(rune('a'+last)) {
		t.Fatalf("material is not the last winner's: %v", err)
	}
}

func TestCacheDisabled(t *testing.T) {
	env := newEnv(t)
	v := vault.New(env.store, env.keys, randomKEK(t), vault.Options{CacheTTL: -1})
	g, _, err := v.PutSecret(t.Context(), env.app.ID, "openai", vault.KindAPIKey, "system", vault.Material{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	before := env.store.getGrant.Load()
	for range 3 {
		if _, err := v.Grant(t.Context(), env.app.ID, g.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := env.store.getGrant.Load() - before; n != 3 {
		t.Fatalf("%d store reads with caching disabled, want 3", n)
	}
}

func TestMaterialUnknownKEK(t *testing.T) {
	env := newEnv(t)
	g, _, err := env.v.PutSecret(t.Context(), env.app.ID, "openai", vault.KindAPIKey, "system", vault.Material{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	other := vault.New(env.store, newKeyring(t, "k9", map[string][]byte{"k9": randomKEK(t)}), randomKEK(t), vault.Options{})
	defer other.Close()
	if _, err := other.Material(t.Context(), g); !errors.Is(err, vault.ErrKeyMissing) {
		t.Fatalf("Material with unknown KEK = %v, want ErrKeyMissing", err)
	}
}
