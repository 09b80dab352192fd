package vault_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

// TestStaleIfError: with the store down, entries past CacheTTL are served
// for up to StaleIfError more, then refused with the store's error (the
// proxy's vault_unavailable); what was never cached is refused at once.
func TestStaleIfError(t *testing.T) {
	for _, p := range hotPaths {
		t.Run(p.name, func(t *testing.T) {
			e := newCacheEnv(t)
			v := e.vault(t, vault.Options{StaleIfError: time.Minute})
			f := e.fixture(t, v, "worker")
			app2, err := e.store.CreateApp(t.Context(), vault.App{Name: "globex"})
			if err != nil {
				t.Fatal(err)
			}
			other := e.fixtureIn(t, v, app2.ID, "other") // never read: not cached
			ctx := t.Context()
			if err := p.read(ctx, v, f); err != nil {
				t.Fatal(err)
			}
			e.store.down.Store(true)

			e.clock.Advance(vault.DefaultCacheTTL + time.Second)
			before := v.Stats()
			if err := p.read(ctx, v, f); err != nil {
				t.Fatalf("within StaleIfError: %v", err)
			}
			if got := v.Stats().StaleServed - before.StaleServed; got != 1 {
				t.Fatalf("StaleServed grew by %d, want 1", got)
			}
			if err := p.read(ctx, v, other); !errors.Is(err, errStoreDown) {
				t.Fatalf("uncached read with the store down = %v, want the store's error", err)
			}

			e.clock.Advance(time.Minute)
			if err := p.read(ctx, v, f); !errors.Is(err, errStoreDown) {
				t.Fatalf("past StaleIfError = %v, want the store's error", err)
			}

			e.store.down.Store(false)
			if err := p.read(ctx, v, f); err != nil {
				t.Fatalf("after the store recovered: %v", err)
			}
		})
	}
}

// TestStaleIfErrorDisabled: a negative StaleIfError refuses as soon as the
// entry is past its TTL.
func TestStaleIfErrorDisabled(t *testing.T) {
	e := newCacheEnv(t)
	v := e.vault(t, vault.Options{StaleIfError: -1})
	f := e.fixture(t, v, "worker")
	warm(t, v, f)
	e.store.down.Store(true)
	e.clock.Advance(vault.DefaultCacheTTL)
	for _, p := range hotPaths {
		if err := p.read(t.Context(), v, f); !errors.Is(err, errStoreDown) {
			t.Errorf("%s = %v, want the store's error", p.name, err)
		}
	}
}

// TestStaleNeverResurrectsRevocation: entries a write invalidated are gone;
// with the store down they are refused, never served stale.
func TestStaleNeverResurrectsRevocation(t *testing.T) {
	tests := []struct {
		name  string
		write func(ctx context.Context, v *vault.Vault, f fixture) error
		read  func(ctx context.Context, v *vault.Vault, f fixture) error
	}{
		{"revoked grant", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.RevokeGrant(ctx, f.grant.AppID, f.grant.ID)
		}, hotPaths[2].read},
		{"revoked grant in lists", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.RevokeGrant(ctx, f.grant.AppID, f.grant.ID)
		}, hotPaths[3].read},
		{"revoked key", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.RevokeKey(ctx, f.grant.AppID, f.appKeyID)
		}, hotPaths[1].read},
		{"deleted agent", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.DeleteAgent(ctx, f.agent.AppID, f.agent.ID)
		}, hotPaths[0].read},
		{"deleted secret", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.DeleteSecret(ctx, f.grant.AppID, f.grant.ID)
		}, hotPaths[4].read},
		{"removed delegation", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.RemoveDelegation(ctx, f.delegation.AppID, f.delegation.ID)
		}, hotPaths[pathDelegated].read},
		{"revoked delegated grant", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.RevokeGrant(ctx, f.oauth.AppID, f.oauth.ID)
		}, hotPaths[pathDelegated].read},
		{"refreshed tokens", refreshTokens, hotPaths[pathOAuth].read},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newCacheEnv(t)
			v := e.vault(t, vault.Options{})
			f := e.fixture(t, v, "worker")
			warm(t, v, f)
			if err := tc.write(t.Context(), v, f); err != nil {
				t.Fatal(err)
			}
			e.store.down.Store(true)
			// Within the TTL and past it: the invalidated entry is gone.
			for _, step := range []time.Duration{0, vault.DefaultCacheTTL} {
				e.clock.Advance(step)
				if err := tc.read(t.Context(), v, f); !errors.Is(err, errStoreDown) {
					t.Fatalf("after +%v: read = %v, want the store's error", step, err)
				}
			}
		})
	}
}

// TestStaleNotOnNotFound: a reload that says the row is gone is an answer,
// not an outage; the old entry is not served.
func TestStaleNotOnNotFound(t *testing.T) {
	e := newCacheEnv(t)
	v := e.vault(t, vault.Options{})
	f := e.fixture(t, v, "worker")
	warm(t, v, f)
	// Deleted behind the vault's back: only expiry can show it.
	if err := e.store.DeleteCredential(t.Context(), f.grant.AppID, f.grant.CredentialID); err != nil {
		t.Fatal(err)
	}
	if err := hotPaths[4].read(t.Context(), v, f); err != nil {
		t.Fatalf("within the TTL the cached material is served: %v", err)
	}
	e.clock.Advance(vault.DefaultCacheTTL)
	if err := hotPaths[4].read(t.Context(), v, f); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Material after the row was deleted = %v, want ErrNotFound", err)
	}
}

// TestLocalHotPathStaysInProcess: within the TTL, repeated reads answer from
// the in-process cache only.
func TestLocalHotPathStaysInProcess(t *testing.T) {
	e := newCacheEnv(t)
	v := e.vault(t, vault.Options{})
	f := e.fixture(t, v, "worker")
	warm(t, v, f)
	before := v.Stats()
	const rounds = 50
	for range rounds {
		warm(t, v, f)
	}
	got := v.Stats()
	want := before
	want.LocalHits += rounds * uint64(len(hotPaths))
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("stats after %d cached rounds (-want +got):\n%s", rounds, d)
	}
}

// blockingStore pauses GetKey after it read the row, until released, so a
// test can revoke the key while a load holds the old row.
type blockingStore struct {
	vault.Store
	read, release chan struct{}
}

func (s *blockingStore) GetKey(ctx context.Context, id string) (vault.Key, error) {
	k, err := s.Store.GetKey(ctx, id)
	if s.read != nil {
		s.read <- struct{}{}
		<-s.release
	}
	return k, err
}

// TestLoadOverlappingRevocationNotCached: a load that read the key before
// it was revoked must not put the old row in the cache.
func TestLoadOverlappingRevocationNotCached(t *testing.T) {
	e := newCacheEnv(t)
	bs := &blockingStore{Store: e.store}
	v := vault.New(bs, e.keys, e.pepper, vault.Options{Now: e.clock.Now})
	t.Cleanup(v.Close)
	f := e.fixture(t, v, "worker")

	bs.read, bs.release = make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- v.CheckKey(context.Background(), f.appKeyID) }()
	<-bs.read // the load holds the active row
	bs.read = nil
	if err := v.RevokeKey(t.Context(), e.app.ID, f.appKeyID); err != nil {
		t.Fatal(err)
	}
	close(bs.release)
	if err := <-done; err != nil {
		t.Fatalf("the overlapping read = %v, want the row it read (active)", err)
	}
	if err := v.CheckKey(t.Context(), f.appKeyID); !errors.Is(err, vault.ErrKeyRevoked) {
		t.Fatalf("CheckKey after the revocation = %v, want ErrKeyRevoked", err)
	}
}

// TestReadyAndHealth covers Ready and Health without Redis: ready while
// the store answers or stale serving is within its bound.
func TestReadyAndHealth(t *testing.T) {
	e := newCacheEnv(t)
	v := e.vault(t, vault.Options{StaleIfError: time.Minute})
	ctx := t.Context()
	check := func(step string, want vault.Health) {
		t.Helper()
		if d := cmp.Diff(want, v.Health(ctx)); d != "" {
			t.Fatalf("%s: Health (-want +got):\n%s", step, d)
		}
		if err := v.Ready(ctx); (err == nil) != want.Ready {
			t.Fatalf("%s: Ready = %v, want ready=%v", step, err, want.Ready)
		}
	}
	check("store up", vault.Health{Store: vault.HealthOK, Redis: vault.HealthDisabled, Ready: true})
	e.store.down.Store(true)
	check("store down, nothing cached", vault.Health{Store: vault.HealthError, Redis: vault.HealthDisabled})

	e.store.down.Store(false)
	f := e.fixture(t, v, "worker")
	warm(t, v, f)
	e.store.down.Store(true)
	stale := vault.Health{Store: vault.HealthError, Redis: vault.HealthDisabled, ServingStale: true, Ready: true}
	check("store down, entries cached", stale)
	e.clock.Advance(vault.DefaultCacheTTL + time.Minute - time.Nanosecond)
	check("store down, at the stale bound", stale)
	e.clock.Advance(time.Nanosecond)
	check("store down, past the stale bound", vault.Health{Store: vault.HealthError, Redis: vault.HealthDisabled})
	e.store.down.Store(false)
	check("store back", vault.Health{Store: vault.HealthOK, Redis: vault.HealthDisabled, Ready: true})
}
