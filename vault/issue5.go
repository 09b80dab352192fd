package vault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/maypok86/otter/v2"
)

// Issue 5 services: identity providers, app policies, agents' access sets
// and the users an identity provider vouched for. Key rotation is in
// key_rotate.go.

// SeeUserInterval is how often SeeUser writes one user to the store, per
// process: the proxy calls it on every request with Gatehouse-User.
const SeeUserInterval = time.Hour

// policyScope is the invalidation scope that announces an app policy
// change. It names no cached row: every replica that receives it runs its
// OnPolicyChange hook. Replicas older than this scope drop all their
// caches on it instead, which is harmless.
const policyScope = "policy"

// Items within an app scope (see cache_rows.go).
const idpItem = "idp"

func accessItem(agentID, provider string) string {
	return "access:" + strconv.Itoa(len(agentID)) + ":" + agentID + ":" + provider
}

// Cache keys of the issue 5 caches. App-scoped keys carry the app's epoch.
type (
	accessKey struct {
		epoch                uint64
		app, agent, provider string
	}
	userKey struct{ app, id string }
)

// newSeenCache returns SeeUser's throttle: the users written in the last
// SeeUserInterval, at most size of them (an evicted user is written again
// on its next sight, which only costs a write).
func newSeenCache(size int, now func() time.Time) *otter.Cache[userKey, struct{}] {
	return otter.Must(&otter.Options[userKey, struct{}]{
		MaximumSize:      size,
		ExpiryCalculator: otter.ExpiryWriting[userKey, struct{}](SeeUserInterval),
		Clock:            clock{now: now},
	})
}

// SetIdentityProvider stores the app's identity provider (validated by the
// caller with identity.Provider.Validate; the store checks bounds) and
// invalidates it everywhere. It returns the stored row (CreatedAt is the
// first configuration's). A missing app is ErrNotFound.
func (v *Vault) SetIdentityProvider(ctx context.Context, p IdentityProvider) (IdentityProvider, error) {
	const op = "set identity provider"
	now := v.stamp()
	p.CreatedAt, p.UpdatedAt = now, now
	p.Algorithms = nilIfEmpty(slices.Clone(p.Algorithms))
	err := v.store.PutIdentityProvider(ctx, p)
	if mayHaveCommitted(err) {
		v.invalidate(ctx, appScope(p.AppID))
	}
	if err != nil {
		return IdentityProvider{}, fmt.Errorf("%s: %w", op, err)
	}
	out, err := v.store.GetIdentityProvider(ctx, p.AppID)
	if err != nil {
		return IdentityProvider{}, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// IdentityProvider returns the app's identity provider, cached like App
// (the proxy reads it for every request carrying Gatehouse-User).
// ErrNotFound when the app has none. The result is the caller's to keep.
func (v *Vault) IdentityProvider(ctx context.Context, appID string) (IdentityProvider, error) {
	k := appKey{epoch: v.epochs.get(appID), app: appID}
	p, err := v.idps.get(ctx, k, func(ctx context.Context) (IdentityProvider, error) {
		spec := rowSpec[IdentityProvider, IdentityProvider]{
			scope: appScope(appID), item: idpItem, toWire: same[IdentityProvider], fromWire: same[IdentityProvider],
		}
		p, _, err := readThrough(ctx, v, spec, false, func(ctx context.Context) (IdentityProvider, error) {
			return v.store.GetIdentityProvider(ctx, appID)
		})
		return p, err
	})
	if err != nil {
		return IdentityProvider{}, fmt.Errorf("identity provider: %w", err)
	}
	p.Algorithms = slices.Clone(p.Algorithms)
	return p, nil
}

// RemoveIdentityProvider deletes the app's identity provider and
// invalidates it everywhere; ErrNotFound when it has none.
func (v *Vault) RemoveIdentityProvider(ctx context.Context, appID string) error {
	err := v.store.DeleteIdentityProvider(ctx, appID)
	if mayHaveCommitted(err) {
		v.invalidate(ctx, appScope(appID))
	}
	if err != nil {
		return fmt.Errorf("remove identity provider: %w", err)
	}
	return nil
}

// PutAppPolicy stores the app's policy document (validated by the caller
// with policy.Parse and policy.Compile; the store checks size and
// encoding) at the next version, and announces the change to every
// replica (OnPolicyChange). A missing app is ErrNotFound.
func (v *Vault) PutAppPolicy(ctx context.Context, appID, document string) (AppPolicy, error) {
	p, err := v.store.PutAppPolicy(ctx, AppPolicy{AppID: appID, Document: document, UpdatedAt: v.stamp()})
	if mayHaveCommitted(err) {
		v.invalidate(ctx, policyScope)
	}
	if err != nil {
		return AppPolicy{}, fmt.Errorf("put app policy: %w", err)
	}
	return p, nil
}

// DeleteAppPolicy removes the app's policy document and announces it;
// ErrNotFound when it has none.
func (v *Vault) DeleteAppPolicy(ctx context.Context, appID string) error {
	err := v.store.DeleteAppPolicy(ctx, appID)
	if mayHaveCommitted(err) {
		v.invalidate(ctx, policyScope)
	}
	if err != nil {
		return fmt.Errorf("delete app policy: %w", err)
	}
	return nil
}

// OnPolicyChange registers fn, called in its own goroutine after any
// replica changed an app policy, including this one, and whenever this
// replica may have missed such a change (its Redis subscription was
// re-established, or it received an "invalidate everything"). Calls are
// serialised and coalesced: changes that arrive while fn runs lead to one
// more call once it returns, so fn always runs after the latest change.
// One function; a later call replaces it, nil removes it. Close waits for
// a running fn.
func (v *Vault) OnPolicyChange(fn func()) { v.policyHook.set(fn) }

// AddAgentAccess adds an entry to the agent's access set: the app's grant
// grantID, or the app's system grants for providerID (exactly one of them,
// else ErrInvalid), and invalidates the app's cached access sets
// everywhere. The agent and the grant must exist in the app (ErrNotFound);
// a revoked grant, or an entry the set already has, is ErrConflict.
func (v *Vault) AddAgentAccess(ctx context.Context, appID, agentID, providerID, grantID string) (AgentAccess, error) {
	const op = "add agent access"
	if (providerID == "") == (grantID == "") {
		return AgentAccess{}, fmt.Errorf("%s: name exactly one of a provider and a grant: %w", op, ErrInvalid)
	}
	if providerID != "" {
		if err := ValidateName("provider", providerID); err != nil {
			return AgentAccess{}, err
		}
	}
	if !IsCanonicalUUID(agentID) {
		return AgentAccess{}, fmt.Errorf("%s: agent: %w", op, ErrNotFound)
	}
	if grantID != "" {
		g, err := v.store.GetGrant(ctx, appID, grantID)
		if err != nil {
			return AgentAccess{}, fmt.Errorf("%s: grant: %w", op, err)
		}
		if g.Status == StatusRevoked {
			return AgentAccess{}, fmt.Errorf("%s: grant is revoked: %w", op, ErrConflict)
		}
	}
	id, err := newID()
	if err != nil {
		return AgentAccess{}, err
	}
	a := AgentAccess{ID: id, AppID: appID, AgentID: agentID, ProviderID: providerID, GrantID: grantID, CreatedAt: v.stamp()}
	err = v.store.AddAgentAccess(ctx, a)
	if mayHaveCommitted(err) {
		v.invalidate(ctx, appScope(appID))
	}
	if err != nil {
		return AgentAccess{}, fmt.Errorf("%s: %w", op, err)
	}
	return a, nil
}

// RemoveAgentAccess removes an entry of an access set and invalidates the
// app's cached access sets everywhere.
func (v *Vault) RemoveAgentAccess(ctx context.Context, appID, id string) error {
	err := v.store.RemoveAgentAccess(ctx, appID, id)
	if mayHaveCommitted(err) {
		v.invalidate(ctx, appScope(appID))
	}
	if err != nil {
		return fmt.Errorf("remove agent access: %w", err)
	}
	return nil
}

// AccessGrants returns the active grants the agent's access set reaches
// for providerID (named grants of that provider, and the system grants of
// listed providers), oldest first, without duplicates; cached like
// DelegatedGrants (the proxy's hot path for agents). Every write through
// the Vault that changes the answer (access entries, a grant's status,
// DeleteAgent) invalidates it. The slice is the caller's to keep.
func (v *Vault) AccessGrants(ctx context.Context, appID, agentID, providerID string) ([]Grant, error) {
	k := accessKey{epoch: v.epochs.get(appID), app: appID, agent: agentID, provider: providerID}
	gs, err := v.access.get(ctx, k, func(ctx context.Context) ([]Grant, error) {
		spec := rowSpec[[]Grant, []Grant]{
			scope: appScope(appID), item: accessItem(agentID, providerID),
			toWire: same[[]Grant], fromWire: same[[]Grant],
		}
		gs, _, err := readThrough(ctx, v, spec, false, func(ctx context.Context) ([]Grant, error) {
			return v.loadAccessGrants(ctx, appID, agentID, providerID)
		})
		return gs, err
	})
	if err != nil {
		return nil, fmt.Errorf("access grants: %w", err)
	}
	return slices.Clone(gs), nil
}

// loadAccessGrants resolves an access set against the store.
func (v *Vault) loadAccessGrants(ctx context.Context, appID, agentID, providerID string) ([]Grant, error) {
	entries, err := v.store.ListAgentAccess(ctx, appID, agentID)
	if err != nil {
		return nil, err
	}
	out := []Grant{}
	seen := map[string]bool{}
	add := func(g Grant) {
		if g.ProviderID == providerID && g.Status == StatusActive && !seen[g.ID] {
			seen[g.ID] = true
			out = append(out, g)
		}
	}
	systemDone := false
	for _, e := range entries {
		switch {
		case e.ProviderID != "":
			if e.ProviderID != providerID || systemDone {
				continue
			}
			systemDone = true
			gs, err := v.store.ListGrants(ctx, appID, GrantFilter{ProviderID: providerID, Principal: PrincipalSystem, Status: StatusActive})
			if err != nil {
				return nil, err
			}
			for _, g := range gs {
				add(g)
			}
		case e.GrantID != "":
			g, err := v.store.GetGrant(ctx, appID, e.GrantID)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			add(g)
		}
	}
	slices.SortFunc(out, func(a, b Grant) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// SeeUser records that the app's identity provider vouched for user id
// with groups: the first sight creates the user, later ones update its
// groups and LastSeen. It writes at most once per user per
// SeeUserInterval in this process (always on the first sight here);
// concurrent first sights share one write. A failed write is not
// remembered, so the next call tries again. An id that does not fit a
// "user:<id>" principal is ErrInvalid.
func (v *Vault) SeeUser(ctx context.Context, appID, id string, groups []string) error {
	if err := validateUserID(id); err != nil {
		return err
	}
	u := User{AppID: appID, ID: id, Groups: nilIfEmpty(slices.Clone(groups))}
	if err := checkUser(u); err != nil {
		return err
	}
	_, err := v.seen.Get(ctx, userKey{app: appID, id: id}, otter.LoaderFunc[userKey, struct{}](
		func(ctx context.Context, _ userKey) (struct{}, error) {
			now := v.stamp()
			u.FirstSeen, u.LastSeen = now, now
			return struct{}{}, v.store.TouchUser(ctx, u)
		}))
	if err != nil {
		return fmt.Errorf("see user: %w", err)
	}
	return nil
}
