package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// stamp returns the vault clock's time at the stored precision.
func (v *Vault) stamp() time.Time { return v.now().UTC().Truncate(time.Microsecond) }

// storedTime returns t at the stored precision (UTC, microseconds), zero
// staying zero, so a returned row equals the one read back.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// PutSecret stores m as a new credential (version 1) of kind for the
// provider and binds it to principal with a new active grant. Inputs are
// validated (ErrInvalid, with a message safe to show); an agent principal's
// agent must exist in the app (ErrNotFound), as must the app. The provider
// id is only checked for syntax: whether the provider accepts kind is the
// caller's (catalog's) decision. The OAuth kinds are refused: token sets
// come only through PutOAuthGrant, client secrets through
// ConfigureProvider.
func (v *Vault) PutSecret(ctx context.Context, appID, providerID, kind, principal string, m Material) (Grant, Credential, error) {
	if isOAuthKind(kind) {
		return Grant{}, Credential{}, fmt.Errorf(
			"credential kind %s cannot be stored as a secret: OAuth token sets come from connecting the provider, client secrets from its provider settings: %w",
			kind, ErrInvalid)
	}
	return v.putGrant(ctx, "put secret", appID, providerID, kind, principal, "", m)
}

// isOAuthKind reports the kinds only the OAuth methods write.
func isOAuthKind(kind string) bool { return kind == KindOAuth2 || kind == KindOAuthClient }

// putGrant stores m as a new credential (version 1, expiring at m.Expiry)
// and binds it to principal with a new active grant carrying account. op
// prefixes errors.
func (v *Vault) putGrant(ctx context.Context, op, appID, providerID, kind, principal, account string, m Material) (Grant, Credential, error) {
	if err := ValidateName("provider", providerID); err != nil {
		return Grant{}, Credential{}, err
	}
	if err := ValidatePrincipal(principal); err != nil {
		return Grant{}, Credential{}, err
	}
	if err := ValidateAccount(account); err != nil {
		return Grant{}, Credential{}, err
	}
	if err := ValidateMaterial(kind, m); err != nil {
		return Grant{}, Credential{}, err
	}
	if v.keys == nil {
		return Grant{}, Credential{}, fmt.Errorf("%s: no keyring: %w", op, ErrKeyMissing)
	}
	if name, ok := strings.CutPrefix(principal, PrincipalAgentPrefix); ok {
		if _, err := v.store.GetAgentByName(ctx, appID, name); err != nil {
			return Grant{}, Credential{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	credID, err := newID()
	if err != nil {
		return Grant{}, Credential{}, err
	}
	grantID, err := newID()
	if err != nil {
		return Grant{}, Credential{}, err
	}
	kekID, wrapped, ciphertext, err := v.keys.Seal(appID, credID, 1, m)
	if err != nil {
		return Grant{}, Credential{}, fmt.Errorf("%s: %w", op, err)
	}
	now := v.stamp()
	c := Credential{
		ID: credID, AppID: appID, ProviderID: providerID, Kind: kind, Version: 1,
		ExpiresAt: storedTime(m.Expiry), KEKID: kekID, WrappedKey: wrapped, Ciphertext: ciphertext,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := v.store.CreateCredential(ctx, c); err != nil {
		return Grant{}, Credential{}, fmt.Errorf("%s: %w", op, err)
	}
	g := Grant{
		ID: grantID, AppID: appID, CredentialID: credID, ProviderID: providerID,
		Principal: principal, Account: account, Status: StatusActive, CreatedAt: now, UpdatedAt: now,
	}
	if err := v.store.CreateGrant(ctx, g); err != nil {
		// Best effort: do not leave an unbound credential behind, even if
		// the caller's context is already done.
		_ = v.store.DeleteCredential(context.WithoutCancel(ctx), appID, credID)
		return Grant{}, Credential{}, fmt.Errorf("%s: %w", op, err)
	}
	v.invalidate(ctx, appScope(appID))
	return g, c, nil
}

// RotateSecret replaces the material behind the grant's credential with m,
// sealed as the next version. The store's version fence makes concurrent
// rotations safe: exactly one wins, the others get ErrConflict. A revoked
// grant cannot be rotated (ErrConflict), nor can an OAuth token set
// (ErrInvalid: Reconsent and UpdateTokens replace those).
func (v *Vault) RotateSecret(ctx context.Context, appID, grantID string, m Material) (Credential, error) {
	if v.keys == nil {
		return Credential{}, fmt.Errorf("rotate secret: no keyring: %w", ErrKeyMissing)
	}
	g, err := v.store.GetGrant(ctx, appID, grantID)
	if err != nil {
		return Credential{}, fmt.Errorf("rotate secret: %w", err)
	}
	if g.Status == StatusRevoked {
		return Credential{}, fmt.Errorf("rotate secret: grant is revoked: %w", ErrConflict)
	}
	c, err := v.store.GetCredential(ctx, appID, g.CredentialID)
	if err != nil {
		return Credential{}, fmt.Errorf("rotate secret: %w", err)
	}
	if isOAuthKind(c.Kind) {
		return Credential{}, fmt.Errorf("rotate secret: the grant holds an OAuth token set, which is renewed by refreshing or reconnecting the provider: %w", ErrInvalid)
	}
	if err := ValidateMaterial(c.Kind, m); err != nil {
		return Credential{}, err
	}
	next := c
	next.Version = c.Version + 1
	next.UpdatedAt = v.stamp()
	next.KEKID, next.WrappedKey, next.Ciphertext, err = v.keys.Seal(appID, c.ID, next.Version, m)
	if err != nil {
		return Credential{}, fmt.Errorf("rotate secret: %w", err)
	}
	err = v.store.UpdateCredential(ctx, next)
	v.invalidate(ctx, appScope(appID)) // also after an error: the update may have committed
	if err != nil {
		return Credential{}, fmt.Errorf("rotate secret: %w", err)
	}
	return next, nil
}

// DeleteSecret deletes the grant's credential and revokes the grant (and
// any other grant bound to that credential). It is idempotent for a grant
// whose credential is already gone.
func (v *Vault) DeleteSecret(ctx context.Context, appID, grantID string) error {
	g, err := v.store.GetGrant(ctx, appID, grantID)
	if err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	err = v.store.DeleteCredential(ctx, appID, g.CredentialID)
	if errors.Is(err, ErrNotFound) {
		err = v.store.SetGrantStatus(ctx, appID, grantID, StatusRevoked)
	}
	v.invalidate(ctx, appScope(appID))
	if err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	return nil
}

// RevokeGrant revokes the grant; the credential stays. Revoked is final.
func (v *Vault) RevokeGrant(ctx context.Context, appID, grantID string) error {
	return v.SetGrantStatus(ctx, appID, grantID, StatusRevoked)
}

// SetGrantStatus moves the grant to status (for example needs_reauth after
// a failed refresh) and invalidates the app's cached grants. A revoked grant
// cannot leave revoked (ErrConflict).
func (v *Vault) SetGrantStatus(ctx context.Context, appID, grantID, status string) error {
	err := v.store.SetGrantStatus(ctx, appID, grantID, status)
	v.invalidate(ctx, appScope(appID))
	if err != nil {
		return fmt.Errorf("set grant status: %w", err)
	}
	return nil
}

// Grant returns the app's grant in any status (callers map non-active
// statuses to their error codes), cached. A malformed id is ErrNotFound
// without a store round trip.
func (v *Vault) Grant(ctx context.Context, appID, grantID string) (Grant, error) {
	if !IsCanonicalUUID(grantID) {
		return Grant{}, fmt.Errorf("grant: %w", ErrNotFound)
	}
	k := grantKey{epoch: v.epochs.get(appID), app: appID, id: grantID}
	g, err := v.grants.get(ctx, k, func(ctx context.Context) (Grant, error) {
		return v.loadGrant(ctx, appID, grantID)
	})
	if err != nil {
		return Grant{}, fmt.Errorf("grant: %w", err)
	}
	return g, nil
}

// GrantsFor returns the app's active grants for provider and principal,
// oldest first, cached. The slice is the caller's to keep.
func (v *Vault) GrantsFor(ctx context.Context, appID, providerID, principal string) ([]Grant, error) {
	if err := ValidatePrincipal(principal); err != nil {
		return nil, err
	}
	k := grantsForKey{epoch: v.epochs.get(appID), app: appID, provider: providerID, principal: principal}
	gs, err := v.grantsFor.get(ctx, k, func(ctx context.Context) ([]Grant, error) {
		return v.loadGrantsFor(ctx, appID, providerID, principal)
	})
	if err != nil {
		return nil, fmt.Errorf("grants for: %w", err)
	}
	return slices.Clone(gs), nil
}

// Material returns the decrypted material of g's credential, cached, with
// Version set to the credential version it was read at. It does not check
// g's status; resolve and check the grant first. Errors never contain
// material.
func (v *Vault) Material(ctx context.Context, g Grant) (Material, error) {
	if v.keys == nil {
		return Material{}, fmt.Errorf("material: no keyring: %w", ErrKeyMissing)
	}
	k := materialKey{epoch: v.epochs.get(g.AppID), app: g.AppID, cred: g.CredentialID}
	m, err := v.material.get(ctx, k, func(ctx context.Context) (Material, error) {
		return v.loadMaterial(ctx, g.AppID, g.CredentialID)
	})
	if err != nil {
		return Material{}, fmt.Errorf("material: %w", err)
	}
	m.Scopes = slices.Clone(m.Scopes) // the cached value's slice stays the cache's
	return m, nil
}
