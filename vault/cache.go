package vault

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Cache defaults (Options).
const (
	DefaultCacheTTL  = 5 * time.Second
	DefaultCacheSize = 10000
)

// cached is one in-process read-through cache. A nil *cached (caching
// disabled) calls the loader every time.
type cached[K comparable, V any] struct {
	c *otter.Cache[K, V]
}

func newCached[K comparable, V any](ttl time.Duration, size int, clock otter.Clock) *cached[K, V] {
	if ttl < 0 {
		return nil
	}
	return &cached[K, V]{c: otter.Must(&otter.Options[K, V]{
		MaximumSize:      size,
		ExpiryCalculator: otter.ExpiryWriting[K, V](ttl),
		Clock:            clock,
	})}
}

// get returns the cached value for k or loads it. Errors are not cached.
// otter discards a load that an Invalidate of the same key overlapped, so a
// value read before a write never lands in the cache after it.
func (c *cached[K, V]) get(ctx context.Context, k K, load func(ctx context.Context) (V, error)) (V, error) {
	if c == nil {
		return load(ctx)
	}
	return c.c.Get(ctx, k, otter.LoaderFunc[K, V](func(ctx context.Context, _ K) (V, error) {
		return load(ctx)
	}))
}

func (c *cached[K, V]) invalidate(k K) {
	if c != nil {
		c.c.Invalidate(k)
	}
}

func (c *cached[K, V]) stop() {
	if c != nil {
		c.c.StopAllGoroutines()
	}
}

// epochs hands out a per-app generation number that is part of every
// grant, grant-list and material cache key. A write bumps its app's epoch
// after it commits, so every later read misses the old entries (which expire
// on their own) and loads the committed state; no list of affected keys is
// needed and no in-flight load can resurrect a stale value under the new key.
type epochs struct {
	m sync.Map // app id → *atomic.Uint64
}

func (e *epochs) get(appID string) uint64 {
	return e.counter(appID).Load()
}

func (e *epochs) bump(appID string) {
	e.counter(appID).Add(1)
}

func (e *epochs) counter(appID string) *atomic.Uint64 {
	if v, ok := e.m.Load(appID); ok {
		return v.(*atomic.Uint64)
	}
	v, _ := e.m.LoadOrStore(appID, new(atomic.Uint64))
	return v.(*atomic.Uint64)
}

// clock adapts Options.Now to otter's Clock so cache expiry follows the
// injected time. It has no ticks: expired entries are dropped lazily by the
// cache's maintenance on reads and writes, so no background goroutine runs.
type clock struct{ now func() time.Time }

func (c clock) NowNano() int64                    { return c.now().UnixNano() }
func (clock) Tick(time.Duration) <-chan time.Time { return nil }

// Cache keys. Grant-derived keys carry the app's epoch.
type (
	grantKey struct {
		epoch   uint64
		app, id string
	}
	grantsForKey struct {
		epoch                    uint64
		app, provider, principal string
	}
	materialKey struct {
		epoch     uint64
		app, cred string
	}
)
