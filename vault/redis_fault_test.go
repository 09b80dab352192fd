package vault_test

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

// TestRedisDown: with Redis unreachable (a closed port) every read is
// answered from the store, every write succeeds, the vault stays ready and
// the outage is logged once, not per request.
func TestRedisDown(t *testing.T) {
	e := newCacheEnv(t)
	logs := newLogCounter()
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t))
	layer := vault.NewRedisLayer(newTestRedis(t, url), vault.RedisOptions{Log: slogFor(logs)})
	v := e.vault(t, vault.Options{Redis: layer})
	ctx := t.Context()

	f := e.fixture(t, v, "worker") // writes publish nothing, and succeed
	for range 3 {
		warm(t, v, f)
		e.clock.Advance(vault.DefaultCacheTTL) // every round reloads
	}
	if err := v.RevokeGrant(ctx, e.app.ID, f.grant.ID); err != nil {
		t.Fatalf("RevokeGrant with Redis down: %v", err)
	}
	if err := hotPaths[2].read(ctx, v, f); err == nil {
		t.Fatal("the revoked grant is still active in the process that revoked it")
	}

	s := v.Stats()
	if s.StoreReads < 3*uint64(len(hotPaths)) || s.RedisErrors == 0 || s.RedisHits != 0 {
		t.Fatalf("stats %+v: want every read from the store and Redis errors", s)
	}
	want := vault.Health{Store: vault.HealthOK, Redis: vault.HealthError, Ready: true}
	if d := cmp.Diff(want, v.Health(ctx)); d != "" {
		t.Fatalf("Health (-want +got):\n%s", d)
	}
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready with Redis down: %v", err)
	}
	if n := logs.count(logRedisDown); n != 1 {
		t.Fatalf("the outage was logged %d times, want once", n)
	}
}

// TestStaleNeedsSubscription: with Redis configured, entries are served
// stale (store down) only while the invalidation subscription is up;
// otherwise a revocation made on another replica may have been missed.
func TestStaleNeedsSubscription(t *testing.T) {
	for _, tc := range []struct {
		name       string
		url        func(t *testing.T) string
		subscribed bool
	}{
		{"subscribed", func(*testing.T) string { return testRedisURL() }, true},
		{"subscription down", func(t *testing.T) string { return fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t)) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newCacheEnv(t)
			prefix := testPrefix(t)
			rdb := newTestRedis(t, tc.url(t))
			v := e.vault(t, vault.Options{Redis: vault.NewRedisLayer(rdb, vault.RedisOptions{Prefix: prefix})})
			ctx := t.Context()
			if tc.subscribed {
				waitFor(t, "the subscription", func() bool { return v.Health(ctx).Subscribed })
			}
			f := e.fixture(t, v, "worker")
			warm(t, v, f)
			if tc.subscribed { // so that the reload cannot be answered by Redis
				for _, k := range scanKeys(t, ctx, rdb, prefix) {
					rdb.Del(ctx, k)
				}
			}
			e.store.down.Store(true)
			e.clock.Advance(vault.DefaultCacheTTL)
			err := hotPaths[2].read(ctx, v, f)
			if tc.subscribed && (err != nil || v.Stats().StaleServed != 1) {
				t.Fatalf("subscribed: Grant = %v, %+v; want it served stale", err, v.Stats())
			}
			if !tc.subscribed && !errors.Is(err, errStoreDown) {
				t.Fatalf("not subscribed: Grant = %v, want the store's error", err)
			}
			if h := v.Health(ctx); h.ServingStale != tc.subscribed || h.Ready != tc.subscribed {
				t.Fatalf("Health = %+v, want serving stale and ready = %v", h, tc.subscribed)
			}
		})
	}
}

// TestRedisRestart stops a private redis-server under two replicas and
// starts it again. While it is down writes succeed and reads use the
// store. Once it is back the replicas resubscribe by themselves and flush
// what they cached: B refuses a grant revoked during the outage by D, a
// replica without Redis whose write nobody published. A publishes the
// invalidation it could not send, and reads go through Redis again.
func TestRedisRestart(t *testing.T) {
	e := newCacheEnv(t)
	port := freePort(t)
	srv := startRedisServer(t, port)
	logs := newLogCounter()
	a := e.redisVault(t, srv.url(), "gatehouse:", nil)
	b := e.redisVault(t, srv.url(), "gatehouse:", slogFor(logs))
	d := e.vault(t, vault.Options{})
	ctx := t.Context()
	f := e.fixture(t, a, "worker")
	cold := e.fixture(t, a, "cold") // not read by B before the outage
	settle(t, a, b)
	warm(t, b, f)

	srv.stop()
	waitFor(t, "B to notice the lost subscription", func() bool { return !b.Health(ctx).Subscribed })
	if err := d.RevokeGrant(ctx, e.app.ID, f.grant.ID); err != nil {
		t.Fatal(err)
	}
	published := a.Stats().InvalidationsPublished
	if err := a.RevokeKey(ctx, e.app.ID, f.appKeyID); err != nil {
		t.Fatalf("RevokeKey with Redis down: %v", err)
	}
	if err := hotPaths[2].read(ctx, b, f); err != nil {
		t.Fatalf("B within its TTL, no message: %v (want the cached grant)", err)
	}
	before := b.Stats()
	warm(t, b, cold) // the app is cached from f: one local hit
	if s := b.Stats(); s.StoreReads-before.StoreReads != uint64(len(hotPaths)-1) || s.RedisHits != before.RedisHits {
		t.Fatalf("cold reads with Redis down: %+v → %+v, want all from the store", before, s)
	}

	startRedisServer(t, port)
	waitFor(t, "B to resubscribe", func() bool { return b.Health(ctx).Subscribed })
	if err := hotPaths[2].read(ctx, b, f); err == nil {
		t.Fatal("B serves the grant revoked during the outage after resubscribing")
	}
	// A replays what it could not publish as soon as its own subscription
	// is back. B receives it only if it resubscribed first; if not, B's
	// flush on resubscribing already dropped the entry (checked above), so
	// only A's publication is a guaranteed event.
	waitFor(t, "A to publish its late invalidation", func() bool {
		return a.Stats().InvalidationsPublished > published
	})

	e.clock.Advance(vault.DefaultCacheTTL)
	before = b.Stats()
	warm(t, b, cold) // refills Redis
	if s := b.Stats(); s.RedisReads-before.RedisReads != uint64(len(hotPaths)) || s.RedisErrors != before.RedisErrors {
		t.Fatalf("B after the restart: %+v → %+v, want every read through Redis, no errors", before, s)
	}
	c := e.redisVault(t, srv.url(), "gatehouse:", nil)
	warm(t, c, cold)
	if s := c.Stats(); s.StoreReads != 0 || s.RedisHits != uint64(len(hotPaths)) {
		t.Fatalf("a replica after the restart: %+v, want every read from Redis", s)
	}
	for msg, want := range map[string]int{logRedisDown: 1, logRedisUp: 1, logSubLost: 1, logSubUp: 2} {
		if n := logs.count(msg); n != want {
			t.Errorf("B logged %q %d times, want %d", msg, n, want)
		}
	}
}

// TestPropagationLatency measures how long a grant revocation through
// replica A takes to reach replica B (one store, one Redis): from the start
// of RevokeGrant on A to B having applied the message, after which B's next
// Grant refuses it.
func TestPropagationLatency(t *testing.T) {
	const n = 50
	e := newCacheEnv(t)
	prefix := testPrefix(t)
	a := e.redisVault(t, testRedisURL(), prefix, nil)
	b := e.redisVault(t, testRedisURL(), prefix, nil)
	ctx := t.Context()
	grants := make([]vault.Grant, n)
	for i := range grants {
		var err error
		grants[i], _, err = a.PutSecret(ctx, e.app.ID, fmt.Sprintf("p%d", i), vault.KindAPIKey, "system", vault.Material{Token: "t"})
		if err != nil {
			t.Fatal(err)
		}
	}
	settle(t, a, b)
	var total, afterReturn []time.Duration
	for _, g := range grants {
		if _, err := b.Grant(ctx, g.AppID, g.ID); err != nil {
			t.Fatal(err)
		}
		seen := a.Stats().InvalidationsPublished
		start := time.Now()
		if err := a.RevokeGrant(ctx, g.AppID, g.ID); err != nil {
			t.Fatal(err)
		}
		returned := time.Now()
		deadline := returned.Add(10 * time.Second)
		for b.Stats().InvalidationsReceived <= seen {
			if time.Now().After(deadline) {
				t.Fatal("the invalidation never reached B")
			}
			runtime.Gosched()
		}
		applied := time.Now()
		if got, err := b.Grant(ctx, g.AppID, g.ID); err != nil || got.Status != vault.StatusRevoked {
			t.Fatalf("B's next Grant = %q, %v; want revoked", got.Status, err)
		}
		total = append(total, applied.Sub(start))
		afterReturn = append(afterReturn, applied.Sub(returned))
	}
	t.Logf("revocation A→B over %d grants: %s", n, summary(total))
	t.Logf("of which after RevokeGrant returned on A: %s", summary(afterReturn))
}

// summary formats the median, 90th percentile and maximum of ds.
func summary(ds []time.Duration) string {
	slices.Sort(ds)
	at := func(q float64) string { return elapsed(ds[int(q*float64(len(ds)-1))]) }
	return "p50 " + at(0.5) + ", p90 " + at(0.9) + ", max " + at(1)
}
