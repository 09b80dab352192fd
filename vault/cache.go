package vault

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Cache defaults (Options).
const (
	DefaultCacheTTL     = 5 * time.Second
	DefaultCacheSize    = 10000
	DefaultStaleIfError = 5 * time.Minute
)

// loadTimeout bounds one cache load (Redis and store). A load is shared by
// every caller waiting for the same entry, so it runs detached from the first
// caller's context: a client that hangs up must not fail the others.
const loadTimeout = 10 * time.Second

// entry is a cached value and the vault-clock time its load started, which
// decides freshness (CacheTTL) and how long it may be served stale.
type entry[V any] struct {
	v  V
	at int64 // UnixNano
}

// flightKey names one load: an entry key at one invalidation generation, so
// a caller arriving after an invalidation never joins a load that began
// before it.
type flightKey[K comparable] struct {
	k   K
	gen uint64
}

// flight is one load in progress; done is closed once v and err are set.
type flight[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// cached is one in-process read-through cache with stale-if-error serving.
// A nil *cached (caching disabled) calls the loader every time.
//
// Entries are fresh for ttl after their load started. Past that, a read
// reloads; when the reload fails with anything but ErrNotFound (the store or
// the network is down) the old value is served for up to stale more. An
// invalidated entry is removed, never served stale, and a load that
// overlapped the invalidation is not stored (gen).
type cached[K comparable, V any] struct {
	c          *otter.Cache[K, entry[V]]
	ttl, stale int64 // nanoseconds
	now        func() time.Time
	st         *counters
	// staleOK reports whether stale serving is safe right now (see
	// Vault.staleSafe); nil means always.
	staleOK func() bool

	// gen counts invalidations. A load records it before starting and
	// stores its result only if it is unchanged (see put), so a value read
	// before an invalidation never lands in the cache after it.
	gen     atomic.Uint64
	mu      sync.Mutex
	flights map[flightKey[K]]*flight[V]
}

func newCached[K comparable, V any](ttl, stale time.Duration, size int, now func() time.Time, st *counters, staleOK func() bool) *cached[K, V] {
	if ttl < 0 {
		return nil
	}
	return &cached[K, V]{
		c: otter.Must(&otter.Options[K, entry[V]]{
			MaximumSize:      size,
			ExpiryCalculator: otter.ExpiryWriting[K, entry[V]](ttl + stale),
			Clock:            clock{now: now},
		}),
		ttl:     int64(ttl),
		stale:   int64(stale),
		now:     now,
		st:      st,
		staleOK: staleOK,
		flights: make(map[flightKey[K]]*flight[V]),
	}
}

// get returns the fresh cached value for k, or loads it. Errors are not
// cached. When the load fails with a servable error and a value loaded less
// than ttl+stale ago is still present, that value is returned instead.
func (c *cached[K, V]) get(ctx context.Context, k K, load func(ctx context.Context) (V, error)) (V, error) {
	if c == nil {
		return load(ctx)
	}
	now := c.now().UnixNano()
	old, ok := c.c.GetIfPresent(k)
	if ok && now-old.at < c.ttl {
		c.st.localHits.Add(1)
		return old.v, nil
	}
	c.st.localMisses.Add(1)
	v, err := c.load(ctx, k, load)
	if err == nil || !ok || !servableStale(err) || now-old.at >= c.ttl+c.stale || (c.staleOK != nil && !c.staleOK()) {
		return v, err
	}
	// Serve the old value only if no invalidation removed or replaced it
	// while the load ran.
	if cur, ok := c.c.GetIfPresent(k); ok && cur.at == old.at {
		c.st.staleServed.Add(1)
		return cur.v, nil
	}
	return v, err
}

// servableStale reports whether a failed reload may fall back to the old
// value: yes for outages, no for answers (the row is gone, the input is
// bad, the key to decrypt it is not loaded).
func servableStale(err error) bool {
	return !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrKeyMissing)
}

// load runs one load per (key, generation) and shares its result.
func (c *cached[K, V]) load(ctx context.Context, k K, load func(ctx context.Context) (V, error)) (V, error) {
	gen := c.gen.Load()
	fk := flightKey[K]{k: k, gen: gen}
	c.mu.Lock()
	f, joined := c.flights[fk]
	if !joined {
		f = &flight[V]{done: make(chan struct{})}
		c.flights[fk] = f
	}
	c.mu.Unlock()
	if joined {
		select {
		case <-f.done:
			return f.v, f.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}

	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
	at := c.now().UnixNano()
	f.v, f.err = load(lctx)
	cancel()
	if f.err == nil {
		c.put(k, entry[V]{v: f.v, at: at}, gen)
	}
	c.mu.Lock()
	delete(c.flights, fk)
	c.mu.Unlock()
	close(f.done)
	return f.v, f.err
}

// put stores e unless an invalidation happened since generation gen. The
// check runs under otter's lock for k; invalidate bumps gen before it takes
// that lock, so either put sees the new generation or the invalidation runs
// after put and removes e.
func (c *cached[K, V]) put(k K, e entry[V], gen uint64) {
	c.c.Compute(k, func(old entry[V], found bool) (entry[V], otter.ComputeOp) {
		if c.gen.Load() != gen || (found && old.at > e.at) {
			return old, otter.CancelOp
		}
		return e, otter.WriteOp
	})
}

// invalidate drops k; loads in progress will not store their result.
func (c *cached[K, V]) invalidate(k K) {
	if c != nil {
		c.gen.Add(1)
		c.c.Invalidate(k)
	}
}

// invalidateAll drops every entry; loads in progress will not store.
func (c *cached[K, V]) invalidateAll() {
	if c != nil {
		c.gen.Add(1)
		c.c.InvalidateAll()
	}
}

func (c *cached[K, V]) stop() {
	if c != nil {
		c.c.StopAllGoroutines()
	}
}

// epochs hands out a per-app generation number that is part of every
// app-scoped cache key (grants, grant lists, material, app, agents). A write
// bumps its app's epoch after it commits, so every later read misses the old
// entries (which expire on their own and can no longer be served stale) and
// loads the committed state; no list of affected keys is needed and no
// in-flight load can resurrect a stale value under the new key.
type epochs struct {
	m sync.Map // app id → *atomic.Uint64
}

func (e *epochs) get(appID string) uint64 {
	if v, ok := e.m.Load(appID); ok {
		return v.(*atomic.Uint64).Load()
	}
	return 0
}

func (e *epochs) bump(appID string) {
	v, _ := e.m.LoadOrStore(appID, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// clock adapts Options.Now to otter's Clock so cache expiry follows the
// injected time. It has no ticks: expired entries are dropped lazily by the
// cache's maintenance on reads and writes, so no background goroutine runs.
type clock struct{ now func() time.Time }

func (c clock) NowNano() int64                    { return c.now().UnixNano() }
func (clock) Tick(time.Duration) <-chan time.Time { return nil }

// Cache keys. App-scoped keys carry the app's epoch.
type (
	grantKey struct {
		epoch   uint64
		app, id string
	}
	grantsForKey struct {
		epoch                    uint64
		app, provider, principal string
	}
	delegatedKey struct {
		epoch                uint64
		app, agent, provider string
	}
	materialKey struct {
		epoch     uint64
		app, cred string
	}
	appKey struct {
		epoch uint64
		app   string
	}
	agentKey struct {
		epoch   uint64
		app, id string
	}
)
