package vault_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

// TestRedisHotPathStaysInProcess shows, with counters, that within the TTL
// the cached hot path touches neither Redis nor the store, and that a
// replica's cold reads are answered by Redis without the store.
func TestRedisHotPathStaysInProcess(t *testing.T) {
	e := newCacheEnv(t)
	prefix := testPrefix(t)
	a := e.redisVault(t, testRedisURL(), prefix, nil)
	f := e.fixture(t, a, "worker")
	warm(t, a, f) // fills the in-process cache and Redis

	before := a.Stats()
	const rounds = 100
	for range rounds {
		warm(t, a, f)
	}
	want := before
	want.LocalHits += rounds * uint64(len(hotPaths))
	if d := cmp.Diff(want, a.Stats()); d != "" {
		t.Fatalf("stats after %d cached rounds (-want +got):\n%s", rounds, d)
	}

	b := e.redisVault(t, testRedisURL(), prefix, nil)
	warm(t, b, f)
	n := uint64(len(hotPaths))
	got := b.Stats()
	if got.StoreReads != 0 || got.RedisReads != n || got.RedisHits != n || got.LocalMisses != n {
		t.Fatalf("cold replica: %+v, want %d Redis reads, all hits, no store reads", got, n)
	}
}

// TestRedisHoldsNoPlaintext reads every raw value the vault wrote to Redis:
// no plaintext credential or caller key, credentials only as ciphertext, and
// every entry expires within the layer's TTL.
func TestRedisHoldsNoPlaintext(t *testing.T) {
	e := newCacheEnv(t)
	prefix := testPrefix(t)
	v := e.redisVault(t, testRedisURL(), prefix, nil)
	f := e.fixture(t, v, "worker")
	basic := vault.Material{Username: "svc", Password: "pw-" + secretMarker}
	g, _, err := v.PutSecret(t.Context(), e.app.ID, "jira", vault.KindBasic, "system", basic)
	if err != nil {
		t.Fatal(err)
	}
	warm(t, v, f)
	if m, err := v.Material(t.Context(), g); err != nil || !cmp.Equal(m, basic, ignoreVersion) {
		t.Fatalf("Material(basic) = %v", err)
	}

	rdb := newTestRedis(t, testRedisURL())
	ctx := t.Context()
	var items []string
	for _, k := range scanKeys(t, ctx, rdb, prefix) {
		val, err := rdb.Get(ctx, k).Bytes()
		if err != nil {
			t.Fatalf("GET %s: %v", k, err)
		}
		for _, secret := range []string{secretMarker, f.appKey, f.agentKey, f.appKey[len(f.appKey)-52:]} {
			if bytes.Contains(val, []byte(secret)) || strings.Contains(k, secret) {
				t.Fatalf("Redis key %s holds a plaintext secret", k)
			}
		}
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		rest, isEntry := strings.CutPrefix(k, prefix+"c:")
		if !isEntry {
			if ttl <= vault.DefaultRedisTTL {
				t.Errorf("generation key %s expires in %v, want longer than the entries", k, ttl)
			}
			continue
		}
		if ttl <= 0 || ttl > vault.DefaultRedisTTL {
			t.Errorf("entry %s expires in %v, want within %v", k, ttl, vault.DefaultRedisTTL)
		}
		item := rest[strings.LastIndex(rest, ":")+1:]
		if strings.Contains(rest, ":cred:") {
			item = "cred"
			if !bytes.Contains(val, []byte(`"ciphertext":`)) || !bytes.Contains(val, []byte(`"wrapped_key":`)) {
				t.Errorf("credential entry %s is not a ciphertext row", k)
			}
		}
		items = append(items, item)
	}
	slices.Sort(items)
	// Two key rows, the grant, the grant list (its item ends in the
	// principal's name), three credentials (API key, basic, OAuth), the
	// app, the agent and the delegated-grant list (its item ends in the
	// provider).
	want := []string{"app", "cred", "cred", "cred", f.agent.ID, f.grant.ID, "row", "row", "worker", "slack"}
	slices.Sort(want)
	if d := cmp.Diff(want, items); d != "" {
		t.Fatalf("Redis entries (-want +got):\n%s", d)
	}
}

// TestRedisRejectsForgedValues: Redis values are authenticated, so write
// access to Redis cannot un-revoke a grant, by editing a row or by
// replaying one from before the revocation.
func TestRedisRejectsForgedValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		forge func(old, cur []byte) []byte
	}{
		{"edited", func(_, cur []byte) []byte {
			return bytes.Replace(cur, []byte(`"status":"revoked"`), []byte(`"status":"active"`), 1)
		}},
		{"replayed from an older generation", func(old, _ []byte) []byte { return old }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCacheEnv(t)
			prefix := testPrefix(t)
			a := e.redisVault(t, testRedisURL(), prefix, nil)
			f := e.fixture(t, a, "worker")
			rdb := newTestRedis(t, testRedisURL())
			ctx := t.Context()
			slot := func() string {
				t.Helper()
				gens, err := rdb.MGet(ctx, prefix+"gen:*", prefix+"gen:app:"+e.app.ID).Result()
				if err != nil {
					t.Fatal(err)
				}
				g := []string{"0", "0"}
				for i, x := range gens {
					if s, ok := x.(string); ok {
						g[i] = s
					}
				}
				return prefix + "c:app:" + e.app.ID + ":" + g[0] + "." + g[1] + ":grant:" + f.grant.ID
			}

			warm(t, a, f)
			old, err := rdb.Get(ctx, slot()).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if err := a.RevokeGrant(ctx, e.app.ID, f.grant.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Grant(ctx, e.app.ID, f.grant.ID); err != nil {
				t.Fatal(err)
			}
			cur, err := rdb.Get(ctx, slot()).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			forged := tc.forge(old, cur)
			if bytes.Equal(forged, cur) {
				t.Fatal("the forgery changed nothing")
			}
			if err := rdb.Set(ctx, slot(), forged, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}

			b := e.redisVault(t, testRedisURL(), prefix, nil)
			g, err := b.Grant(ctx, e.app.ID, f.grant.ID)
			if err != nil || g.Status != vault.StatusRevoked {
				t.Fatalf("Grant through a forged Redis value = %v, %v; want revoked", g.Status, err)
			}
			if s := b.Stats(); s.RedisHits != 0 || s.StoreReads != 1 {
				t.Fatalf("stats %+v: the forged value must count as a miss", s)
			}
		})
	}
}

// TestRevocationViaPubSubNotServedStale: once a replica applied an
// invalidation, the store going down does not bring the old entry back.
func TestRevocationViaPubSubNotServedStale(t *testing.T) {
	e := newCacheEnv(t)
	prefix := testPrefix(t)
	a := e.redisVault(t, testRedisURL(), prefix, nil)
	b := e.redisVault(t, testRedisURL(), prefix, nil)
	f := e.fixture(t, a, "worker")
	settle(t, a, b)
	warm(t, b, f)

	n := a.Stats().InvalidationsPublished
	if err := a.RevokeGrant(t.Context(), e.app.ID, f.grant.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invalidation on B", func() bool { return b.Stats().InvalidationsReceived > n })
	e.store.down.Store(true)
	for _, step := range []time.Duration{0, vault.DefaultCacheTTL} {
		e.clock.Advance(step)
		g, err := b.Grant(t.Context(), e.app.ID, f.grant.ID)
		if err == nil && g.Status == vault.StatusActive {
			t.Fatalf("after +%v: B serves the revoked grant as active", step)
		}
		if gs, err := b.GrantsFor(t.Context(), e.app.ID, "openai", f.grant.Principal); err == nil && len(gs) != 0 {
			t.Fatalf("after +%v: B lists the revoked grant", step)
		}
	}
}

// settle waits until b has applied every invalidation a published.
func settle(t *testing.T, a, b *vault.Vault) {
	t.Helper()
	waitFor(t, "pending invalidations", func() bool {
		return b.Stats().InvalidationsReceived >= a.Stats().InvalidationsPublished
	})
}

// errStillCached is what a propagation check returns while the replica
// still answers from its old entry.
var errStillCached = errors.New("the old state is still served")

// notActive turns "grant must not be usable" into a check.
func notActive(g vault.Grant, err error) error {
	if err == nil && g.Status == vault.StatusActive {
		return errStillCached
	}
	return nil
}

// revokedKey turns "key must be refused as revoked" into a check.
func revokedKey(err error) error {
	if !errors.Is(err, vault.ErrKeyRevoked) {
		return errStillCached
	}
	return nil
}

// noGrants turns "no grant listed" into a check.
func noGrants(gs []vault.Grant, err error) error {
	if err == nil && len(gs) != 0 {
		return errStillCached
	}
	return nil
}

// TestInvalidationPropagates: a write through replica A is seen by replica
// B's very next read once A's message arrived, while C (same store, no
// Redis) keeps serving its cached entry until the TTL, which shows that
// the message, not expiry, did it.
func TestInvalidationPropagates(t *testing.T) {
	rotated := vault.Material{Token: "sk-rotated"}
	tests := []struct {
		name  string
		write func(ctx context.Context, v *vault.Vault, f fixture) error
		sees  func(ctx context.Context, v *vault.Vault, f fixture) error
	}{
		{"revoke grant", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.RevokeGrant(ctx, f.grant.AppID, f.grant.ID)
		}, func(ctx context.Context, v *vault.Vault, f fixture) error {
			return errors.Join(notActive(v.Grant(ctx, f.grant.AppID, f.grant.ID)),
				noGrants(v.GrantsFor(ctx, f.grant.AppID, "openai", f.grant.Principal)))
		}},
		{"rotate secret", func(ctx context.Context, v *vault.Vault, f fixture) error {
			_, err := v.RotateSecret(ctx, f.grant.AppID, f.grant.ID, rotated)
			return err
		}, func(ctx context.Context, v *vault.Vault, f fixture) error {
			if m, err := v.Material(ctx, f.grant); err != nil || !cmp.Equal(m, rotated, ignoreVersion) {
				return errStillCached
			}
			return nil
		}},
		{"revoke key", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.RevokeKey(ctx, f.grant.AppID, f.appKeyID)
		}, func(ctx context.Context, v *vault.Vault, f fixture) error {
			_, err := v.Authenticate(ctx, f.appKey)
			return errors.Join(revokedKey(err), revokedKey(v.CheckKey(ctx, f.appKeyID)))
		}},
		{"delete agent", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.DeleteAgent(ctx, f.agent.AppID, f.agent.ID)
		}, func(ctx context.Context, v *vault.Vault, f fixture) error {
			_, err := v.Authenticate(ctx, f.agentKey)
			_, aerr := v.Agent(ctx, f.agent.AppID, f.agent.ID)
			if !errors.Is(aerr, vault.ErrNotFound) {
				aerr = errStillCached
			} else {
				aerr = nil
			}
			return errors.Join(revokedKey(err), aerr, noGrants(v.GrantsFor(ctx, f.grant.AppID, "openai", f.grant.Principal)))
		}},
		{"delete secret", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.DeleteSecret(ctx, f.grant.AppID, f.grant.ID)
		}, func(ctx context.Context, v *vault.Vault, f fixture) error {
			if _, err := v.Material(ctx, f.grant); !errors.Is(err, vault.ErrNotFound) {
				return errStillCached
			}
			return notActive(v.Grant(ctx, f.grant.AppID, f.grant.ID))
		}},
		{"update tokens", refreshTokens, func(ctx context.Context, v *vault.Vault, f fixture) error {
			if m, err := v.Material(ctx, f.oauth); err != nil || m.AccessToken != refreshedToken || m.Version != 2 {
				return errStillCached
			}
			return nil
		}},
		{"remove delegation", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.RemoveDelegation(ctx, f.delegation.AppID, f.delegation.ID)
		}, func(ctx context.Context, v *vault.Vault, f fixture) error {
			return noGrants(v.DelegatedGrants(ctx, f.agent.AppID, f.agent.ID, "slack"))
		}},
		{"revoke delegated grant", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.RevokeGrant(ctx, f.oauth.AppID, f.oauth.ID)
		}, func(ctx context.Context, v *vault.Vault, f fixture) error {
			return noGrants(v.DelegatedGrants(ctx, f.agent.AppID, f.agent.ID, "slack"))
		}},
		{"set app egress", func(ctx context.Context, v *vault.Vault, f fixture) error {
			return v.SetAppEgress(ctx, f.grant.AppID, []string{"changed.example"})
		}, func(ctx context.Context, v *vault.Vault, f fixture) error {
			if a, err := v.App(ctx, f.grant.AppID); err != nil || !slices.Equal(a.EgressAllow, []string{"changed.example"}) {
				return errStillCached
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newCacheEnv(t)
			prefix := testPrefix(t)
			a := e.redisVault(t, testRedisURL(), prefix, nil)
			b := e.redisVault(t, testRedisURL(), prefix, nil)
			c := e.vault(t, vault.Options{})
			ctx := t.Context()
			f := e.fixture(t, a, "worker")
			settle(t, a, b)
			warm(t, b, f)
			warm(t, c, f)

			n := a.Stats().InvalidationsPublished
			start := time.Now()
			if err := tc.write(ctx, a, f); err != nil {
				t.Fatal(err)
			}
			wrote := time.Now()
			waitFor(t, "the invalidation on B", func() bool { return b.Stats().InvalidationsReceived > n })
			seen := time.Now()
			if err := tc.sees(ctx, b, f); err != nil {
				t.Fatalf("B's next read after the message: %v", err)
			}
			if err := tc.sees(ctx, c, f); !errors.Is(err, errStillCached) {
				t.Fatalf("control C (no Redis) = %v, want it still serving its cached entry", err)
			}
			t.Logf("write through A %s, then applied on B after %s", elapsed(wrote.Sub(start)), elapsed(seen.Sub(wrote)))
		})
	}
}
