package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis layer defaults (RedisOptions).
const (
	DefaultRedisPrefix    = "gatehouse:"
	DefaultRedisTTL       = 5 * time.Minute
	DefaultRedisOpTimeout = 500 * time.Millisecond
)

// redisRetryInterval is how long the layer skips Redis after a failed call
// before it tries again. It keeps a dead or black-holed Redis from adding a
// dial timeout to every request: while Redis is down the vault reads the
// store at store speed.
const redisRetryInterval = time.Second

// maxPendingScopes bounds the invalidations remembered while Redis is
// unreachable; past it the layer remembers one "invalidate everything".
const maxPendingScopes = 10000

// scopeAll invalidates every cached entry, locally and in Redis.
const scopeAll = "*"

// RedisOptions tunes a RedisLayer.
type RedisOptions struct {
	// Prefix starts every key and the invalidation channel
	// (<Prefix>invalidate). Replicas sharing a vault must share it; tests
	// use a unique one each. Default "gatehouse:".
	Prefix string
	// TTL bounds how long a row stays in Redis when no write invalidates
	// it (the worst case when an invalidation could not be published).
	// Default 5m.
	TTL time.Duration
	// OpTimeout bounds one Redis call on the request path; a slower Redis
	// counts as down. Default 500ms.
	OpTimeout time.Duration
	// Log receives Redis state changes (one line per change, never per
	// request). Default: discard.
	Log *slog.Logger
}

// RedisLayer is the shared cache between the in-process caches and the
// store, and the channel that carries invalidations to every replica. It
// holds store rows only, as authenticated JSON: keys (their HMAC, never a
// plaintext key), grants, grant lists, apps, agents, and credentials as
// ciphertext plus wrapped data key. Decrypted material never leaves the
// process.
//
// Keys are namespaced by generation: an entry lives under
// <prefix>c:<scope>:<global gen>.<scope gen>:<item>, where scope is
// "key:<id>" or "app:<id>". A write replaces the scope's generation with a
// random value, so every entry of the scope is orphaned at once (it expires
// by TTL) and a reader that loaded from the store before the write can only
// store its stale row under the dead generation. Every Redis failure is a
// cache miss; the client reconnects by itself.
type RedisLayer struct {
	client    *redis.Client
	prefix    string
	ttl       time.Duration
	opTimeout time.Duration
	log       *slog.Logger

	reads, hits, errs, published atomic.Uint64

	mu       sync.Mutex
	down     bool // last call failed
	retryAt  time.Time
	pending  map[string]struct{} // scopes whose invalidation was not published
	overflow bool                // pending overflowed: invalidate everything
}

// NewRedisLayer returns a layer over client. The client (and its Close)
// stays the caller's.
func NewRedisLayer(client *redis.Client, opts RedisOptions) *RedisLayer {
	if opts.Prefix == "" {
		opts.Prefix = DefaultRedisPrefix
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultRedisTTL
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = DefaultRedisOpTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &RedisLayer{
		client: client, prefix: opts.Prefix, ttl: opts.TTL, opTimeout: opts.OpTimeout,
		log: opts.Log, pending: make(map[string]struct{}),
	}
}

// String keeps the client's options (which may hold a password) out of logs.
func (l *RedisLayer) String() string { return "vault.RedisLayer(" + l.prefix + ")" }

// Channel is the pub/sub channel invalidations are published on.
func (l *RedisLayer) Channel() string { return l.prefix + "invalidate" }

// Ping checks that Redis answers.
func (l *RedisLayer) Ping(ctx context.Context) error {
	if err := l.client.Ping(ctx).Err(); err != nil {
		l.fail(err)
		return fmt.Errorf("redis: %w", err)
	}
	l.ok()
	return nil
}

// genTTL keeps a generation key well past the life of any entry written
// under it, so an entry of an older generation has always expired by the
// time an expired generation key makes the default generation current
// again.
func (l *RedisLayer) genTTL() time.Duration { return max(24*time.Hour, 10*l.ttl) }

func (l *RedisLayer) genKey(scope string) string { return l.prefix + "gen:" + scope }

// readScript returns the current generation of a scope and the entry
// stored under it, in one round trip.
var readScript = redis.NewScript(`
local g = (redis.call('GET', KEYS[1]) or '0') .. '.' .. (redis.call('GET', KEYS[2]) or '0')
return {g, redis.call('GET', ARGV[1] .. g .. ARGV[2])}
`)

// slot is where a loaded row goes: the entry key under the generation seen
// before the store read. An empty slot means Redis was not reachable.
type slot string

// get returns the entry for item of scope, if any, and the slot to store a
// freshly loaded row in. Every failure is a miss with an empty slot.
func (l *RedisLayer) get(ctx context.Context, scope, item string) ([]byte, slot) {
	if !l.allow() {
		return nil, ""
	}
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	l.reads.Add(1)
	base := l.prefix + "c:" + scope + ":"
	res, err := readScript.Run(ctx, l.client, []string{l.genKey(scopeAll), l.genKey(scope)}, base, ":"+item).Slice()
	if err == nil && len(res) != 2 {
		err = errors.New("unexpected reply from the read script")
	}
	if err != nil {
		l.fail(err)
		return nil, ""
	}
	l.ok()
	gen, _ := res[0].(string)
	s := slot(base + gen + ":" + item)
	val, ok := res[1].(string)
	if !ok {
		return nil, s
	}
	return []byte(val), s // hits are counted once the value authenticated
}

// set stores val in s for ttl (bounded by the layer's TTL).
func (l *RedisLayer) set(ctx context.Context, s slot, val []byte, ttl time.Duration) {
	if s == "" || ttl <= 0 || !l.allow() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	if err := l.client.Set(ctx, string(s), val, min(ttl, l.ttl)).Err(); err != nil {
		l.fail(err)
		return
	}
	l.ok()
}

// boundTTL returns how long a row may stay in Redis: the layer's TTL, but
// never past expires (zero: no known expiry). A row that has already
// expired gets 0 and is not stored.
func boundTTL(ttl time.Duration, now, expires time.Time) time.Duration {
	if expires.IsZero() {
		return ttl
	}
	return max(0, min(ttl, expires.Sub(now)))
}

// invalidate orphans the scopes' entries and tells every replica to drop
// them. When Redis cannot be reached the scopes are remembered and
// published once it is back (replay); until then other replicas see the
// change when their entries expire. It returns the Redis error, if any,
// for the caller to log; the write it follows has succeeded regardless.
func (l *RedisLayer) invalidate(ctx context.Context, scopes []string) error {
	l.mu.Lock()
	batch := l.takePendingLocked()
	l.mu.Unlock()
	batch = append(batch, scopes...)
	if err := l.publish(ctx, batch); err != nil {
		l.remember(batch)
		return err
	}
	return nil
}

// replay publishes the invalidations that failed while Redis was down.
func (l *RedisLayer) replay(ctx context.Context) {
	l.mu.Lock()
	batch := l.takePendingLocked()
	l.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := l.publish(ctx, batch); err != nil {
		l.remember(batch)
		return
	}
	l.log.Info("redis: published the invalidations made while it was unreachable", "scopes", len(batch))
}

func (l *RedisLayer) takePendingLocked() []string {
	if l.overflow {
		l.overflow = false
		clear(l.pending)
		return []string{scopeAll}
	}
	batch := make([]string, 0, len(l.pending))
	for s := range l.pending {
		batch = append(batch, s)
	}
	clear(l.pending)
	return batch
}

func (l *RedisLayer) remember(scopes []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range scopes {
		if s == scopeAll || len(l.pending) >= maxPendingScopes {
			l.overflow = true
			continue
		}
		l.pending[s] = struct{}{}
	}
}

// publish bumps each scope's generation and publishes one message, in one
// pipeline. It is tried even while reads skip Redis: an invalidation is
// worth a dial.
func (l *RedisLayer) publish(ctx context.Context, scopes []string) error {
	if len(scopes) == 0 {
		return nil
	}
	msg, err := encodeInvalidation(scopes)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	_, err = l.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, s := range scopes {
			p.Set(ctx, l.genKey(s), newGeneration(), l.genTTL())
		}
		p.Publish(ctx, l.Channel(), msg)
		return nil
	})
	if err != nil {
		l.fail(err)
		return fmt.Errorf("redis: publish invalidation: %w", err)
	}
	l.ok()
	l.published.Add(1)
	return nil
}

// newGeneration returns a random generation. Random rather than counted so
// that a generation key that expired and came back can never reproduce an
// old namespace.
func newGeneration() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// allow reports whether to try Redis now: always while it answers, once per
// redisRetryInterval while it does not.
func (l *RedisLayer) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down || !time.Now().Before(l.retryAt)
}

// fail records a failed call: the first failure after success logs once.
func (l *RedisLayer) fail(err error) {
	l.errs.Add(1)
	l.mu.Lock()
	was := l.down
	l.down, l.retryAt = true, time.Now().Add(redisRetryInterval)
	l.mu.Unlock()
	if !was {
		l.log.Warn("redis unavailable: reading from the store; revocations reach other replicas only when their cache entries expire, until redis is back", "err", err)
	}
}

// ok records a successful call: the first success after a failure logs once.
func (l *RedisLayer) ok() {
	l.mu.Lock()
	was := l.down
	l.down = false
	l.mu.Unlock()
	if was {
		l.log.Info("redis available again")
	}
}
