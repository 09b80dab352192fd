package vault

import (
	"context"
	"time"
)

// Contract stubs for issue 5 (identity, app policies, access sets, key
// rotation); the vault engineer replaces the bodies.

// SetIdentityProvider stores the app's identity provider (validated by the
// caller with identity.Provider.Validate) and invalidates it everywhere.
func (v *Vault) SetIdentityProvider(ctx context.Context, p IdentityProvider) (IdentityProvider, error) {
	return IdentityProvider{}, errTODO5
}

// IdentityProvider returns the app's identity provider, cached (the proxy
// reads it for every request carrying Gatehouse-User). ErrNotFound when the
// app has none.
func (v *Vault) IdentityProvider(ctx context.Context, appID string) (IdentityProvider, error) {
	return IdentityProvider{}, errTODO5
}

// RemoveIdentityProvider deletes the app's identity provider.
func (v *Vault) RemoveIdentityProvider(ctx context.Context, appID string) error { return errTODO5 }

// PutAppPolicy stores the app's policy document (validated by the caller)
// and announces the change to every replica (OnPolicyChange).
func (v *Vault) PutAppPolicy(ctx context.Context, appID, document string) (AppPolicy, error) {
	return AppPolicy{}, errTODO5
}

// DeleteAppPolicy removes the app's policy document and announces it.
func (v *Vault) DeleteAppPolicy(ctx context.Context, appID string) error { return errTODO5 }

// OnPolicyChange registers fn, called (in its own goroutine) after any
// replica changed an app policy, including this one. One function; a later
// call replaces it.
func (v *Vault) OnPolicyChange(fn func()) {}

// AddAgentAccess adds an entry to the agent's access set (exactly one of
// providerID, grantID) and invalidates the agent's cached access set.
func (v *Vault) AddAgentAccess(ctx context.Context, appID, agentID, providerID, grantID string) (AgentAccess, error) {
	return AgentAccess{}, errTODO5
}

// RemoveAgentAccess removes an entry of an access set.
func (v *Vault) RemoveAgentAccess(ctx context.Context, appID, id string) error { return errTODO5 }

// AccessGrants returns the active grants the agent's access set reaches
// for providerID (named grants of that provider, and the system grants of
// listed providers), cached (the proxy's hot path for agents).
func (v *Vault) AccessGrants(ctx context.Context, appID, agentID, providerID string) ([]Grant, error) {
	return nil, errTODO5
}

// SeeUser records that the app's identity provider vouched for user id
// with groups (first sight creates it). Writes at most once per user per
// hour per process; the proxy calls it on every request with
// Gatehouse-User.
func (v *Vault) SeeUser(ctx context.Context, appID, id string, groups []string) error { return errTODO5 }

// RotateKey issues a new key for the same app or agent as keyID and marks
// keyID deprecated: it keeps authenticating until now+grace, then counts as
// revoked. grace 0 revokes it at once.
func (v *Vault) RotateKey(ctx context.Context, appID, keyID string, grace time.Duration) (string, Key, error) {
	return "", Key{}, errTODO5
}
