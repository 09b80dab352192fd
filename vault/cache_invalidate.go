package vault

import (
	"context"
	"strings"
)

// invalidate runs after a write (committed or possibly committed): it drops
// the scopes' entries in this process, then orphans them in Redis and
// publishes the invalidation for the other replicas. A client that hung up
// does not stop it. When Redis is unreachable the layer remembers the scopes
// and publishes them once it is back; until then other replicas see the
// write when their entries expire.
func (v *Vault) invalidate(ctx context.Context, scopes ...string) {
	v.dropLocal(scopes)
	if v.redis != nil {
		_ = v.redis.invalidate(context.WithoutCancel(ctx), scopes) // the layer logs state changes
	}
}

// applyInvalidation handles a message from the invalidation channel.
func (v *Vault) applyInvalidation(scopes []string) {
	v.dropLocal(scopes)
	v.st.invalidationsSeen.Add(1)
}

// dropLocal drops the in-process entries of scopes. An unknown scope
// (from a newer replica) drops everything.
func (v *Vault) dropLocal(scopes []string) {
	for _, s := range scopes {
		if id, ok := strings.CutPrefix(s, "key:"); ok {
			v.keyCache.invalidate(id)
		} else if app, ok := strings.CutPrefix(s, "app:"); ok {
			v.epochs.bump(app)
		} else {
			v.dropAllLocal()
		}
	}
}

// dropAllLocal empties every in-process cache. It runs when the Redis
// subscription is (re)established, since messages may have been missed
// while it was down; the dropped entries cannot be served stale.
func (v *Vault) dropAllLocal() {
	v.keyCache.invalidateAll()
	v.grants.invalidateAll()
	v.grantsFor.invalidateAll()
	v.delegated.invalidateAll()
	v.material.invalidateAll()
	v.apps.invalidateAll()
	v.agents.invalidateAll()
}
