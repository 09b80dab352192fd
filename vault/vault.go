package vault

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Authentication errors. Authenticate returns exactly one of these for a key
// that is malformed, unknown, mismatched or revoked, and a different error
// (the store's) when the vault cannot decide, which callers map to
// vault_unavailable.
var (
	ErrKeyInvalid = errors.New("key invalid")
	ErrKeyRevoked = errors.New("key revoked")
)

// MinPepperLen is the shortest pepper New accepts for key hashing; a shorter
// one makes IssueKey and Authenticate fail closed.
const MinPepperLen = 16

// Options tunes a Vault.
type Options struct {
	// CacheTTL is how long Authenticate, CheckKey, Grant, GrantsFor,
	// DelegatedGrants, AccessGrants, IdentityProvider, Material, App and
	// Agent results are cached in process. Default 5s;
	// negative disables caching.
	CacheTTL time.Duration
	// CacheSize bounds each cache's entries. Default 10000.
	CacheSize int
	// StaleIfError is how long past CacheTTL a cached entry is still served
	// when reloading it fails because the store (or the network) is down.
	// Invalidated entries are never served, and with Redis nothing is
	// served stale while the invalidation subscription is down (another
	// replica's revocation may have been missed). Default 5m; negative
	// disables.
	StaleIfError time.Duration
	// Redis, when set, is the shared cache between the in-process caches
	// and the store, and carries invalidations to the other replicas. Nil:
	// in-process caches only. The Vault subscribes to its channel until
	// Close.
	Redis *RedisLayer
	// Now is the clock for timestamps and cache expiry. Default time.Now.
	Now func() time.Time
}

// Vault is the service the proxy and the admin API use: caller keys,
// secrets and grants on top of a Store, with envelope encryption and
// caches: in process (CacheTTL) → Redis (optional, rows only) → store.
//
// Every write made through the Vault invalidates the affected entries in
// this process before it returns, orphans them in Redis and publishes the
// invalidation, which every other Vault on the same Redis applies on
// receipt; so every replica refuses a revoked key or grant on its next call
// once the message arrived. Writes made on Store() directly are seen once
// cached entries expire.
type Vault struct {
	store  Store
	keys   *Keyring
	pepper []byte
	macKey []byte
	now    func() time.Time

	cacheTTL, staleIfError time.Duration
	redis                  *RedisLayer
	sub                    *subscription
	st                     counters
	lastFill               atomic.Int64 // UnixNano of the last cache fill

	epochs    epochs
	keyCache  *cached[string, Key]
	grants    *cached[grantKey, Grant]
	grantsFor *cached[grantsForKey, []Grant]
	delegated *cached[delegatedKey, []Grant]
	material  *cached[materialKey, Material]
	apps      *cached[appKey, App]
	agents    *cached[agentKey, Agent]
	idps      *cached[appKey, IdentityProvider]
	access    *cached[accessKey, []Grant]

	seen       *otter.Cache[userKey, struct{}] // SeeUser's write throttle
	policyHook policyHook
}

// New returns a Vault over store. keys seals and opens credentials; pepper
// keys the HMAC of caller keys (at least MinPepperLen bytes; it is copied)
// and, through a derived key, authenticates what the vault stores in Redis.
// Call Close to stop the Redis subscription.
func New(store Store, keys *Keyring, pepper []byte, opts Options) *Vault {
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	switch {
	case opts.StaleIfError == 0:
		opts.StaleIfError = DefaultStaleIfError
	case opts.StaleIfError < 0:
		opts.StaleIfError = 0
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &Vault{
		store:        store,
		keys:         keys,
		pepper:       append([]byte(nil), pepper...),
		macKey:       redisMACKey(pepper),
		now:          opts.Now,
		cacheTTL:     opts.CacheTTL,
		staleIfError: opts.StaleIfError,
		redis:        opts.Redis,
	}
	ttl, stale, size, now, ok := opts.CacheTTL, opts.StaleIfError, opts.CacheSize, opts.Now, v.staleSafe
	v.keyCache = newCached[string, Key](ttl, stale, size, now, &v.st, ok)
	v.grants = newCached[grantKey, Grant](ttl, stale, size, now, &v.st, ok)
	v.grantsFor = newCached[grantsForKey, []Grant](ttl, stale, size, now, &v.st, ok)
	v.delegated = newCached[delegatedKey, []Grant](ttl, stale, size, now, &v.st, ok)
	v.material = newCached[materialKey, Material](ttl, stale, size, now, &v.st, ok)
	v.apps = newCached[appKey, App](ttl, stale, size, now, &v.st, ok)
	v.agents = newCached[agentKey, Agent](ttl, stale, size, now, &v.st, ok)
	v.idps = newCached[appKey, IdentityProvider](ttl, stale, size, now, &v.st, ok)
	v.access = newCached[accessKey, []Grant](ttl, stale, size, now, &v.st, ok)
	v.seen = newSeenCache(size, now)
	if v.redis != nil {
		v.sub = v.redis.subscribe(v.applyInvalidation, v.resetLocal)
	}
	return v
}

// String implements fmt.Stringer so printing a Vault never shows the pepper.
func (v *Vault) String() string { return "vault.Vault" }

// GoString implements fmt.GoStringer for %#v.
func (v *Vault) GoString() string { return "vault.Vault" }

// Store returns the underlying store, for reads and for writes that no
// cache depends on (apps, agents).
func (v *Vault) Store() Store { return v.store }

// Keyring returns the keyring the vault seals with.
func (v *Vault) Keyring() *Keyring { return v.keys }

// Close stops the Redis subscription and the caches' background
// goroutines, if any. It does not close the store or the Redis client,
// which belong to the caller.
func (v *Vault) Close() {
	if v.sub != nil {
		v.sub.stop()
	}
	v.keyCache.stop()
	v.grants.stop()
	v.grantsFor.stop()
	v.delegated.stop()
	v.material.stop()
	v.apps.stop()
	v.agents.stop()
	v.idps.stop()
	v.access.stop()
	v.seen.StopAllGoroutines()
	v.policyHook.close()
}

func (v *Vault) checkPepper() error {
	if len(v.pepper) < MinPepperLen {
		return fmt.Errorf("vault pepper is shorter than %d bytes", MinPepperLen)
	}
	return nil
}

// IssueKey creates a caller key for the app (agentID empty) or for one of
// its agents and returns the plaintext, which is never stored and cannot be
// shown again, with its stored form. A missing app or agent is ErrNotFound.
func (v *Vault) IssueKey(ctx context.Context, appID, agentID string) (string, Key, error) {
	if err := v.checkPepper(); err != nil {
		return "", Key{}, err
	}
	kind := KeyKindApp
	if agentID != "" {
		kind = KeyKindAgent
	}
	plaintext, id, err := newKey(kind)
	if err != nil {
		return "", Key{}, err
	}
	k := Key{
		ID:        id,
		AppID:     appID,
		AgentID:   agentID,
		Hash:      hashKey(v.pepper, plaintext),
		Status:    KeyActive,
		CreatedAt: v.now().UTC().Truncate(time.Microsecond),
	}
	if err := v.store.CreateKey(ctx, k); err != nil {
		return "", Key{}, fmt.Errorf("issue key: %w", err)
	}
	return plaintext, k, nil
}

// Authenticate resolves a plaintext caller key. The stored HMAC is compared
// in constant time. A malformed, unknown or mismatched key is ErrKeyInvalid;
// a revoked one, or a deprecated one past its grace period (only after its
// secret matched), ErrKeyRevoked. Lookups are cached by key id.
func (v *Vault) Authenticate(ctx context.Context, plaintext string) (Key, error) {
	if err := v.checkPepper(); err != nil {
		return Key{}, err
	}
	kind, id, err := ParseKey(plaintext)
	if err != nil {
		return Key{}, ErrKeyInvalid
	}
	k, err := v.keyCache.get(ctx, id, func(ctx context.Context) (Key, error) {
		return v.loadKey(ctx, id)
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return Key{}, ErrKeyInvalid
	case err != nil:
		return Key{}, fmt.Errorf("authenticate: %w", err)
	}
	if !hmac.Equal(k.Hash, hashKey(v.pepper, plaintext)) {
		return Key{}, ErrKeyInvalid
	}
	if (kind == KeyKindAgent) != (k.AgentID != "") {
		return Key{}, ErrKeyInvalid
	}
	if !v.keyUsable(k) {
		return Key{}, ErrKeyRevoked
	}
	return k, nil
}

// CheckKey re-checks a key that Authenticate accepted earlier, by its id,
// through the same cache: nil while it is active or deprecated within its
// grace period, ErrKeyRevoked once it was revoked, deleted with its agent,
// or its grace period ended. The proxy calls it for every request
// inside a tunnel, so revoking a key also stops tunnels already open with it.
func (v *Vault) CheckKey(ctx context.Context, keyID string) error {
	k, err := v.keyCache.get(ctx, keyID, func(ctx context.Context) (Key, error) {
		return v.loadKey(ctx, keyID)
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrKeyRevoked
	case err != nil:
		return fmt.Errorf("check key: %w", err)
	case !v.keyUsable(k):
		return ErrKeyRevoked
	}
	return nil
}

// RevokeKey revokes the app's key and invalidates it everywhere, so the
// next Authenticate or CheckKey with it fails with ErrKeyRevoked.
func (v *Vault) RevokeKey(ctx context.Context, appID, keyID string) error {
	err := v.store.RevokeKey(ctx, appID, keyID)
	// Invalidate even after an error: the revocation may have committed.
	v.invalidate(ctx, keyScope(keyID))
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	return nil
}

// DeleteAgent deletes the agent, revoking its keys and its "agent:<name>"
// grants and deleting its delegations and access entries
// (Store.DeleteAgent), and invalidates all of them everywhere.
func (v *Vault) DeleteAgent(ctx context.Context, appID, agentID string) error {
	err := v.store.DeleteAgent(ctx, appID, agentID)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete agent: %w", err)
	}
	// Also on other errors: the transaction may have committed.
	scopes := []string{appScope(appID)}
	keys, lerr := v.store.ListKeys(ctx, appID)
	if lerr != nil {
		// Without the list the agent's keys cannot be named: drop every
		// cached entry rather than serve a revoked key.
		scopes = []string{scopeAll}
	}
	for _, k := range keys {
		if k.AgentID == agentID {
			scopes = append(scopes, keyScope(k.ID))
		}
	}
	v.invalidate(ctx, scopes...)
	if err != nil || lerr != nil {
		return fmt.Errorf("delete agent: %w", errors.Join(err, lerr))
	}
	return nil
}
