package vault

import (
	"context"
	"errors"
)

// errTODO marks contract stubs the vault engineer replaces (issue 4).
var errTODO = errors.New("not implemented yet")

// ConfigureProvider stores the app's OAuth client for providerID: clientID
// and scopes in the settings row, clientSecret (may be empty: public
// client) sealed in a credential of kind KindOAuthClient, created on first
// use and rotated (next version) afterwards. The app must exist.
func (v *Vault) ConfigureProvider(ctx context.Context, appID, providerID, clientID, clientSecret string, scopes []string) (ProviderSettings, error) {
	return ProviderSettings{}, errTODO
}

// OAuthClient returns the app's settings for providerID and the decrypted
// client secret (empty for a public client). ErrNotFound when the app has
// not configured the provider. Not cached: it is read on connect and
// refresh only.
func (v *Vault) OAuthClient(ctx context.Context, appID, providerID string) (ProviderSettings, string, error) {
	return ProviderSettings{}, "", errTODO
}

// RemoveProvider deletes the app's settings for providerID and the sealed
// client secret. Grants already made stay (they cannot refresh any more).
func (v *Vault) RemoveProvider(ctx context.Context, appID, providerID string) error {
	return errTODO
}

// PutOAuthGrant stores m (kind KindOAuth2, AccessToken required) as a new
// credential and binds it to principal with a new active grant carrying
// account. It never replaces an existing grant: connecting the same
// provider twice gives two grants.
func (v *Vault) PutOAuthGrant(ctx context.Context, appID, providerID, principal, account string, m Material) (Grant, Credential, error) {
	return Grant{}, Credential{}, errTODO
}

// Reconsent replaces the token set behind grantID with m (next version),
// sets the grant's account and status active again (from needs_reauth or
// expired; a revoked grant is ErrConflict) and invalidates caches
// everywhere.
func (v *Vault) Reconsent(ctx context.Context, appID, grantID, account string, m Material) (Grant, error) {
	return Grant{}, errTODO
}

// UpdateTokens seals m as version m.Version+1 of the credential credID,
// fenced on m.Version (ErrConflict when another writer moved it first),
// sets Credential.ExpiresAt from m.Expiry, and invalidates the credential
// in every replica's caches before it returns. Callers pass a context
// that a client disconnect cannot cancel.
func (v *Vault) UpdateTokens(ctx context.Context, appID, credID string, m Material) (Material, error) {
	return Material{}, errTODO
}

// MaterialFromStore reads and decrypts the credential straight from the
// store, bypassing every cache (the refresher's re-read under its lease).
// The returned Material has Version set.
func (v *Vault) MaterialFromStore(ctx context.Context, appID, credID string) (Material, error) {
	return Material{}, errTODO
}

// Delegate records that agentName may use grantID (delegations, DESIGN.md)
// and invalidates the app's cached delegations.
func (v *Vault) Delegate(ctx context.Context, appID, grantID, agentName string) (Delegation, error) {
	return Delegation{}, errTODO
}

// RemoveDelegation deletes a delegation; the grant stays.
func (v *Vault) RemoveDelegation(ctx context.Context, appID, id string) error {
	return errTODO
}

// DelegatedGrants returns the active grants of providerID delegated to
// agentID, cached like GrantsFor (the proxy's hot path for agents).
func (v *Vault) DelegatedGrants(ctx context.Context, appID, agentID, providerID string) ([]Grant, error) {
	return nil, errTODO
}

// DeriveKey returns a 32-byte key derived from the pepper for label, for
// secrets every replica must compute alike (the PKCE verifier of a
// connect session).
func (v *Vault) DeriveKey(label string) []byte {
	return nil
}
