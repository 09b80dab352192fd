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

// dropLocal drops the in-process entries of scopes. The policy scope runs
// the OnPolicyChange hook. An unknown scope (from a newer replica) or
// scopeAll drops everything and runs the hook too: a policy change may be
// among what it stands for.
func (v *Vault) dropLocal(scopes []string) {
	for _, s := range scopes {
		if id, ok := strings.CutPrefix(s, "key:"); ok {
			v.keyCache.invalidate(id)
		} else if app, ok := strings.CutPrefix(s, "app:"); ok {
			v.epochs.bump(app)
		} else if s == policyScope {
			v.policyHook.trigger()
		} else {
			v.resetLocal()
		}
	}
}

// resetLocal drops every in-process cache and runs the OnPolicyChange
// hook. It runs when the Redis subscription is (re)established, since
// messages (policy changes among them) may have been missed while it was
// down.
func (v *Vault) resetLocal() {
	v.dropAllLocal()
	v.policyHook.trigger()
}

// dropAllLocal empties every in-process cache; the dropped entries cannot
// be served stale. SeeUser's throttle is kept: it caches no store row.
func (v *Vault) dropAllLocal() {
	v.keyCache.invalidateAll()
	v.grants.invalidateAll()
	v.grantsFor.invalidateAll()
	v.delegated.invalidateAll()
	v.material.invalidateAll()
	v.apps.invalidateAll()
	v.agents.invalidateAll()
	v.idps.invalidateAll()
	v.access.invalidateAll()
}
