package vault

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"time"
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
	// CacheTTL is how long Authenticate, Grant, GrantsFor and Material
	// results are cached in process. Default 5s; negative disables caching.
	CacheTTL time.Duration
	// CacheSize bounds each cache's entries. Default 10000.
	CacheSize int
	// Now is the clock for timestamps and cache expiry. Default time.Now.
	Now func() time.Time
}

// Vault is the service the proxy and the admin API use: caller keys,
// secrets and grants on top of a Store, with envelope encryption and
// in-process caches. Every write made through the Vault invalidates the
// affected cache entries before it returns, so this process refuses a
// revoked key or grant on the very next call. Writes made on Store()
// directly are seen once cached entries expire (CacheTTL).
type Vault struct {
	store  Store
	keys   *Keyring
	pepper []byte
	now    func() time.Time

	epochs    epochs
	keyCache  *cached[string, Key]
	grants    *cached[grantKey, Grant]
	grantsFor *cached[grantsForKey, []Grant]
	material  *cached[materialKey, Material]
}

// New returns a Vault over store. keys seals and opens credentials; pepper
// keys the HMAC of caller keys (at least MinPepperLen bytes; it is copied).
func New(store Store, keys *Keyring, pepper []byte, opts Options) *Vault {
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	clk := clock{now: opts.Now}
	return &Vault{
		store:     store,
		keys:      keys,
		pepper:    append([]byte(nil), pepper...),
		now:       opts.Now,
		keyCache:  newCached[string, Key](opts.CacheTTL, opts.CacheSize, clk),
		grants:    newCached[grantKey, Grant](opts.CacheTTL, opts.CacheSize, clk),
		grantsFor: newCached[grantsForKey, []Grant](opts.CacheTTL, opts.CacheSize, clk),
		material:  newCached[materialKey, Material](opts.CacheTTL, opts.CacheSize, clk),
	}
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

// Close stops the caches' background goroutines, if any. It does not close
// the store, which belongs to the caller.
func (v *Vault) Close() {
	v.keyCache.stop()
	v.grants.stop()
	v.grantsFor.stop()
	v.material.stop()
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
// a revoked one (only after its secret matched) ErrKeyRevoked. Lookups are
// cached by key id.
func (v *Vault) Authenticate(ctx context.Context, plaintext string) (Key, error) {
	if err := v.checkPepper(); err != nil {
		return Key{}, err
	}
	kind, id, err := ParseKey(plaintext)
	if err != nil {
		return Key{}, ErrKeyInvalid
	}
	k, err := v.keyCache.get(ctx, id, func(ctx context.Context) (Key, error) {
		return v.store.GetKey(ctx, id)
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
	if k.Status != KeyActive {
		return Key{}, ErrKeyRevoked
	}
	return k, nil
}

// CheckKey re-checks a key that Authenticate accepted earlier, by its id,
// through the same cache: nil while it is active, ErrKeyRevoked once it was
// revoked (or deleted with its agent). The proxy calls it for every request
// inside a tunnel, so revoking a key also stops tunnels already open with it.
func (v *Vault) CheckKey(ctx context.Context, keyID string) error {
	k, err := v.keyCache.get(ctx, keyID, func(ctx context.Context) (Key, error) {
		return v.store.GetKey(ctx, keyID)
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrKeyRevoked
	case err != nil:
		return fmt.Errorf("check key: %w", err)
	case k.Status != KeyActive:
		return ErrKeyRevoked
	}
	return nil
}

// RevokeKey revokes the app's key and drops it from the cache, so the next
// Authenticate with it fails with ErrKeyRevoked.
func (v *Vault) RevokeKey(ctx context.Context, appID, keyID string) error {
	err := v.store.RevokeKey(ctx, appID, keyID)
	// Invalidate even after an error: the revocation may have committed.
	v.keyCache.invalidate(keyID)
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	return nil
}

// DeleteAgent deletes the agent, revoking its keys and its "agent:<name>"
// grants (Store.DeleteAgent), and drops all of them from the caches.
func (v *Vault) DeleteAgent(ctx context.Context, appID, agentID string) error {
	err := v.store.DeleteAgent(ctx, appID, agentID)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete agent: %w", err)
	}
	// Also on other errors: the transaction may have committed.
	v.epochs.bump(appID)
	keys, lerr := v.store.ListKeys(ctx, appID)
	if lerr != nil {
		// Without the list the agent's keys cannot be named: drop every
		// cached key rather than serve a revoked one.
		v.invalidateAllKeys()
		return errors.Join(err, fmt.Errorf("delete agent: list keys: %w", lerr))
	}
	for _, k := range keys {
		if k.AgentID == agentID {
			v.keyCache.invalidate(k.ID)
		}
	}
	if err != nil {
		return fmt.Errorf("delete agent: %w", err)
	}
	return nil
}

func (v *Vault) invalidateAllKeys() {
	if v.keyCache != nil {
		v.keyCache.c.InvalidateAll()
	}
}
