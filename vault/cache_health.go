package vault

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// counters are the vault's cache statistics (Stats).
type counters struct {
	localHits, localMisses, staleServed atomic.Uint64
	storeReads, storeErrors             atomic.Uint64
	invalidationsSeen                   atomic.Uint64
}

// Stats are cumulative counters of where the vault's cached reads were
// answered. They show that the hot path stays in process: within CacheTTL,
// repeated Authenticate, CheckKey, Grant, GrantsFor and Material calls add
// only LocalHits.
type Stats struct {
	// LocalHits are reads answered by a fresh in-process entry.
	LocalHits uint64 `json:"local_hits"`
	// LocalMisses are reads that had to load (from Redis or the store).
	LocalMisses uint64 `json:"local_misses"`
	// StaleServed are reads answered by an entry past CacheTTL because the
	// reload failed (Options.StaleIfError).
	StaleServed uint64 `json:"stale_served"`
	// StoreReads are store calls made to fill a cache; StoreErrors those
	// that failed with something other than not-found.
	StoreReads  uint64 `json:"store_reads"`
	StoreErrors uint64 `json:"store_errors"`
	// RedisReads are cache lookups sent to Redis, RedisHits those that
	// found a valid entry, RedisErrors failed Redis calls of any kind.
	RedisReads  uint64 `json:"redis_reads"`
	RedisHits   uint64 `json:"redis_hits"`
	RedisErrors uint64 `json:"redis_errors"`
	// InvalidationsPublished counts invalidation messages this vault's
	// Redis layer published; InvalidationsReceived those this vault applied
	// from the channel (its own included).
	InvalidationsPublished uint64 `json:"invalidations_published"`
	InvalidationsReceived  uint64 `json:"invalidations_received"`
}

// Stats returns the current counters.
func (v *Vault) Stats() Stats {
	s := Stats{
		LocalHits:             v.st.localHits.Load(),
		LocalMisses:           v.st.localMisses.Load(),
		StaleServed:           v.st.staleServed.Load(),
		StoreReads:            v.st.storeReads.Load(),
		StoreErrors:           v.st.storeErrors.Load(),
		InvalidationsReceived: v.st.invalidationsSeen.Load(),
	}
	if v.redis != nil {
		s.RedisReads = v.redis.reads.Load()
		s.RedisHits = v.redis.hits.Load()
		s.RedisErrors = v.redis.errs.Load()
		s.InvalidationsPublished = v.redis.published.Load()
	}
	return s
}

// Health states.
const (
	HealthOK       = "ok"
	HealthError    = "error"
	HealthDisabled = "disabled"
)

// Health is the state of the vault's dependencies, for /readyz.
type Health struct {
	// Store is "ok" when the store answered a ping, else "error".
	Store string `json:"store"`
	// Redis is "ok", "error", or "disabled" when no Redis is configured.
	Redis string `json:"redis"`
	// Subscribed reports whether the invalidation subscription is
	// established (always false without Redis).
	Subscribed bool `json:"subscribed"`
	// ServingStale reports that the store is down and cached entries are
	// served past their TTL (within Options.StaleIfError).
	ServingStale bool `json:"serving_stale,omitempty"`
	// Ready is Ready's verdict: the store answers, or stale serving is
	// still within its bound.
	Ready bool `json:"ready"`
}

// Health pings the store and Redis (concurrently) and reports both.
func (v *Vault) Health(ctx context.Context) Health {
	h := Health{Redis: HealthDisabled, Subscribed: v.sub.subscribed()}
	var (
		wg       sync.WaitGroup
		redisErr error
	)
	if v.redis != nil {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, v.redis.opTimeout)
			defer cancel()
			redisErr = v.redis.Ping(ctx)
		})
	}
	storeErr := v.pingStore(ctx)
	wg.Wait()
	if v.redis != nil {
		h.Redis = HealthOK
		if redisErr != nil {
			h.Redis = HealthError
		}
	}
	h.Store = HealthOK
	if storeErr != nil {
		h.Store = HealthError
		h.ServingStale = v.canServeStale()
	}
	h.Ready = storeErr == nil || h.ServingStale
	return h
}

// Ready returns nil when the vault can serve: the store answers a ping, or
// it does not but entries loaded within CacheTTL+StaleIfError are still
// being served. Redis is optional and not part of readiness (see Health).
func (v *Vault) Ready(ctx context.Context) error {
	err := v.pingStore(ctx)
	if err == nil || v.canServeStale() {
		return nil
	}
	return fmt.Errorf("vault not ready: %w", err)
}

func (v *Vault) pingStore(ctx context.Context) error {
	if err := v.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// canServeStale reports whether some cached entry may still be served: one
// was filled less than CacheTTL+StaleIfError ago. Invalidated entries are
// gone, so this can overstate what is left, never understate it.
func (v *Vault) canServeStale() bool {
	if v.staleIfError <= 0 || v.cacheTTL < 0 || !v.staleSafe() {
		return false
	}
	last := v.lastFill.Load()
	return last != 0 && v.now().UnixNano()-last < int64(v.cacheTTL+v.staleIfError)
}

// staleSafe reports whether entries past their TTL may be served when the
// store fails: without Redis every write goes through this process (one
// replica) and invalidates here; with Redis only while the invalidation
// subscription is up, because otherwise another replica's revocation may
// have been missed and must not be served for StaleIfError more.
func (v *Vault) staleSafe() bool { return v.redis == nil || v.sub.subscribed() }

// noteFill records that a cache entry was loaded now.
func (v *Vault) noteFill() { v.lastFill.Store(v.now().UnixNano()) }
