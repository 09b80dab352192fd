package vault

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"
)

// maxFenceRetries bounds how often Reconsent re-reads a credential whose
// version a concurrent refresh moved between its read and its write.
const maxFenceRetries = 3

// deriveLabel prefixes every DeriveKey label; the NUL keeps it apart from
// the Redis MAC key's input, which is derived from the same pepper.
const deriveLabel = "gatehouse derive v1\x00"

// mayHaveCommitted reports whether a write that returned err may have
// changed the store, so caches must be invalidated: yes unless the store
// refused it outright (missing row, lost fence, bad input).
func mayHaveCommitted(err error) bool {
	return err == nil || !(errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid))
}

// ConfigureProvider stores the app's OAuth client for providerID: clientID
// and scopes in the settings row, clientSecret (may be empty: public
// client) sealed in a credential of kind KindOAuthClient, created on first
// use and rotated (next version) afterwards. The app must exist. Inputs
// are validated (ErrInvalid); a concurrent reconfiguration that moved the
// secret's version first is ErrConflict. Errors never contain the secret.
func (v *Vault) ConfigureProvider(ctx context.Context, appID, providerID, clientID, clientSecret string, scopes []string) (ProviderSettings, error) {
	const op = "configure provider"
	if err := ValidateName("provider", providerID); err != nil {
		return ProviderSettings{}, err
	}
	if err := validateClientID(clientID); err != nil {
		return ProviderSettings{}, err
	}
	if err := ValidateScopes(scopes); err != nil {
		return ProviderSettings{}, err
	}
	secret := Material{Token: clientSecret}
	if err := ValidateMaterial(KindOAuthClient, secret); err != nil {
		return ProviderSettings{}, fmt.Errorf("client secret: %w", err)
	}
	if v.keys == nil {
		return ProviderSettings{}, fmt.Errorf("%s: no keyring: %w", op, ErrKeyMissing)
	}
	if _, err := v.store.GetApp(ctx, appID); err != nil {
		return ProviderSettings{}, fmt.Errorf("%s: %w", op, err)
	}
	cur, err := v.store.GetProviderSettings(ctx, appID, providerID)
	switch {
	case errors.Is(err, ErrNotFound):
		cur = ProviderSettings{}
	case err != nil:
		return ProviderSettings{}, fmt.Errorf("%s: %w", op, err)
	}
	now := v.stamp()
	credID, created, err := v.sealClientSecret(ctx, appID, providerID, cur.CredentialID, secret, now)
	if err != nil {
		return ProviderSettings{}, fmt.Errorf("%s: %w", op, err)
	}
	s := ProviderSettings{
		AppID: appID, ProviderID: providerID, ClientID: clientID, Scopes: nilIfEmpty(slices.Clone(scopes)),
		CredentialID: credID, CreatedAt: now, UpdatedAt: now,
	}
	if !cur.CreatedAt.IsZero() {
		s.CreatedAt = cur.CreatedAt // the store keeps the first insert's
	}
	if err := v.store.PutProviderSettings(ctx, s); err != nil {
		if created {
			_ = v.store.DeleteCredential(context.WithoutCancel(ctx), appID, credID)
		}
		return ProviderSettings{}, fmt.Errorf("%s: %w", op, err)
	}
	return s, nil
}

// sealClientSecret writes secret as the next version of the credential
// credID when it still exists as an oauth_client credential, and as a new
// credential otherwise (created reports which).
func (v *Vault) sealClientSecret(ctx context.Context, appID, providerID, credID string, secret Material, now time.Time) (id string, created bool, err error) {
	if credID != "" {
		c, err := v.store.GetCredential(ctx, appID, credID)
		switch {
		case err == nil && c.Kind == KindOAuthClient:
			next := c
			next.Version, next.UpdatedAt = c.Version+1, now
			if next.KEKID, next.WrappedKey, next.Ciphertext, err = v.keys.Seal(appID, c.ID, next.Version, secret); err != nil {
				return "", false, err
			}
			return c.ID, false, v.store.UpdateCredential(ctx, next)
		case err != nil && !errors.Is(err, ErrNotFound):
			return "", false, err
		}
	}
	if id, err = newID(); err != nil {
		return "", false, err
	}
	c := Credential{
		ID: id, AppID: appID, ProviderID: providerID, Kind: KindOAuthClient, Version: 1,
		CreatedAt: now, UpdatedAt: now,
	}
	if c.KEKID, c.WrappedKey, c.Ciphertext, err = v.keys.Seal(appID, id, 1, secret); err != nil {
		return "", false, err
	}
	if err := v.store.CreateCredential(ctx, c); err != nil {
		return "", false, err
	}
	return id, true, nil
}

// OAuthClient returns the app's settings for providerID and the decrypted
// client secret (empty for a public client). ErrNotFound when the app has
// not configured the provider. Not cached: it is read on connect and
// refresh only.
func (v *Vault) OAuthClient(ctx context.Context, appID, providerID string) (ProviderSettings, string, error) {
	const op = "oauth client"
	s, err := v.store.GetProviderSettings(ctx, appID, providerID)
	if err != nil {
		return ProviderSettings{}, "", fmt.Errorf("%s: %w", op, err)
	}
	if s.CredentialID == "" {
		return s, "", nil
	}
	if v.keys == nil {
		return ProviderSettings{}, "", fmt.Errorf("%s: no keyring: %w", op, ErrKeyMissing)
	}
	c, err := v.store.GetCredential(ctx, appID, s.CredentialID)
	if err != nil {
		return ProviderSettings{}, "", fmt.Errorf("%s: client secret: %w", op, err)
	}
	if c.Kind != KindOAuthClient {
		return ProviderSettings{}, "", fmt.Errorf("%s: credential %s is of kind %s, not %s: %w", op, c.ID, c.Kind, KindOAuthClient, ErrInvalid)
	}
	m, err := v.keys.Open(c)
	if err != nil {
		return ProviderSettings{}, "", fmt.Errorf("%s: %w", op, err)
	}
	return s, m.Token, nil
}

// RemoveProvider deletes the app's settings for providerID and the sealed
// client secret. Grants already made stay (they cannot refresh any more).
// ErrNotFound when the app has not configured the provider.
func (v *Vault) RemoveProvider(ctx context.Context, appID, providerID string) error {
	const op = "remove provider"
	s, err := v.store.GetProviderSettings(ctx, appID, providerID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	// Settings first: they must never name a credential that is gone.
	if err := v.store.DeleteProviderSettings(ctx, appID, providerID); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if s.CredentialID != "" {
		if err := v.store.DeleteCredential(ctx, appID, s.CredentialID); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%s: client secret: %w", op, err)
		}
	}
	return nil
}

// PutOAuthGrant stores m (kind KindOAuth2, AccessToken required) as a new
// credential expiring at m.Expiry and binds it to principal with a new
// active grant carrying account. It never replaces an existing grant:
// connecting the same provider twice gives two grants. Validation and
// errors are PutSecret's.
func (v *Vault) PutOAuthGrant(ctx context.Context, appID, providerID, principal, account string, m Material) (Grant, Credential, error) {
	return v.putGrant(ctx, "put oauth grant", appID, providerID, KindOAuth2, principal, account, m)
}

// Reconsent replaces the token set behind grantID with m (next version),
// sets the grant's account (kept when account is empty) and status active
// again (from needs_reauth or expired; a revoked grant is ErrConflict) and
// invalidates caches everywhere. A grant that does not hold an OAuth token
// set is ErrInvalid.
func (v *Vault) Reconsent(ctx context.Context, appID, grantID, account string, m Material) (Grant, error) {
	const op = "reconsent"
	if err := ValidateAccount(account); err != nil {
		return Grant{}, err
	}
	if err := ValidateMaterial(KindOAuth2, m); err != nil {
		return Grant{}, err
	}
	if v.keys == nil {
		return Grant{}, fmt.Errorf("%s: no keyring: %w", op, ErrKeyMissing)
	}
	g, err := v.store.GetGrant(ctx, appID, grantID)
	if err != nil {
		return Grant{}, fmt.Errorf("%s: %w", op, err)
	}
	if g.Status == StatusRevoked {
		return Grant{}, fmt.Errorf("%s: grant is revoked: %w", op, ErrConflict)
	}
	now := v.stamp()
	// Re-consent replaces the token set whatever version is stored: a
	// refresh racing with it only moves the version, and is retried over.
	var werr, gerr error
	for attempt := 1; ; attempt++ {
		_, werr = v.writeTokens(ctx, appID, g.CredentialID, 0, m, now)
		if !errors.Is(werr, ErrConflict) || attempt > maxFenceRetries {
			break
		}
	}
	if werr == nil {
		if account != "" {
			g.Account = account
		}
		g.Status, g.UpdatedAt = StatusActive, now
		gerr = v.store.UpdateGrant(ctx, g)
	}
	if mayHaveCommitted(werr) { // also when only the tokens were written
		v.invalidate(ctx, appScope(appID))
	}
	if err := errors.Join(werr, gerr); err != nil {
		return Grant{}, fmt.Errorf("%s: %w", op, err)
	}
	return g, nil
}

// writeTokens seals m as the next version of the oauth2 credential credID
// and writes it fenced on the version it read, with ExpiresAt from
// m.Expiry, and returns that version. A nonzero readAt must equal the
// stored version (ErrConflict otherwise); zero accepts any.
func (v *Vault) writeTokens(ctx context.Context, appID, credID string, readAt int64, m Material, now time.Time) (int64, error) {
	c, err := v.store.GetCredential(ctx, appID, credID)
	if err != nil {
		return 0, err
	}
	if c.Kind != KindOAuth2 {
		return 0, fmt.Errorf("credential %s holds %s material, not an OAuth token set: %w", c.ID, c.Kind, ErrInvalid)
	}
	if readAt != 0 && c.Version != readAt {
		return 0, fmt.Errorf("stored version is %d, the tokens were read at %d: %w", c.Version, readAt, ErrConflict)
	}
	next := c
	next.Version, next.ExpiresAt, next.UpdatedAt = c.Version+1, storedTime(m.Expiry), now
	if next.KEKID, next.WrappedKey, next.Ciphertext, err = v.keys.Seal(appID, c.ID, next.Version, m); err != nil {
		return 0, err
	}
	if err := v.store.UpdateCredential(ctx, next); err != nil {
		return 0, err
	}
	return next.Version, nil
}

// UpdateTokens seals m as version m.Version+1 of the credential credID,
// fenced on m.Version (ErrConflict when another writer moved it first),
// sets Credential.ExpiresAt from m.Expiry, and invalidates the credential
// in every replica's caches before it returns. Callers pass a context
// that a client disconnect cannot cancel. The returned Material is m at
// its new Version.
func (v *Vault) UpdateTokens(ctx context.Context, appID, credID string, m Material) (Material, error) {
	const op = "update tokens"
	if err := ValidateMaterial(KindOAuth2, m); err != nil {
		return Material{}, err
	}
	if m.Version < 1 {
		return Material{}, fmt.Errorf("%s: the material carries no version to fence on (read it through Material or MaterialFromStore): %w", op, ErrInvalid)
	}
	if v.keys == nil {
		return Material{}, fmt.Errorf("%s: no keyring: %w", op, ErrKeyMissing)
	}
	version, err := v.writeTokens(ctx, appID, credID, m.Version, m, v.stamp())
	if mayHaveCommitted(err) {
		v.invalidate(ctx, appScope(appID))
	}
	if err != nil {
		return Material{}, fmt.Errorf("%s: %w", op, err)
	}
	out := m
	out.Scopes, out.Version = slices.Clone(m.Scopes), version
	return out, nil
}

// MaterialFromStore reads and decrypts the credential straight from the
// store, bypassing every cache (the refresher's re-read under its lease).
// The returned Material has Version set.
func (v *Vault) MaterialFromStore(ctx context.Context, appID, credID string) (Material, error) {
	if v.keys == nil {
		return Material{}, fmt.Errorf("material from store: no keyring: %w", ErrKeyMissing)
	}
	c, err := v.store.GetCredential(ctx, appID, credID)
	if err != nil {
		return Material{}, fmt.Errorf("material from store: %w", err)
	}
	m, err := v.keys.Open(c)
	if err != nil {
		return Material{}, fmt.Errorf("material from store: %w", err)
	}
	return m, nil
}

// Delegate records that agentName may use grantID (delegations, DESIGN.md)
// and invalidates the app's cached delegations. The agent and the grant
// must exist in the app (ErrNotFound); a revoked grant, or one already
// delegated to the agent, is ErrConflict.
func (v *Vault) Delegate(ctx context.Context, appID, grantID, agentName string) (Delegation, error) {
	const op = "delegate"
	if err := ValidateName("agent", agentName); err != nil {
		return Delegation{}, err
	}
	if !IsCanonicalUUID(grantID) {
		return Delegation{}, fmt.Errorf("%s: grant: %w", op, ErrNotFound)
	}
	a, err := v.store.GetAgentByName(ctx, appID, agentName)
	if err != nil {
		return Delegation{}, fmt.Errorf("%s: %w", op, err)
	}
	g, err := v.store.GetGrant(ctx, appID, grantID)
	if err != nil {
		return Delegation{}, fmt.Errorf("%s: %w", op, err)
	}
	if g.Status == StatusRevoked {
		return Delegation{}, fmt.Errorf("%s: grant is revoked: %w", op, ErrConflict)
	}
	id, err := newID()
	if err != nil {
		return Delegation{}, err
	}
	d := Delegation{ID: id, AppID: appID, GrantID: grantID, AgentID: a.ID, CreatedAt: v.stamp()}
	err = v.store.CreateDelegation(ctx, d)
	if mayHaveCommitted(err) {
		v.invalidate(ctx, appScope(appID))
	}
	if err != nil {
		return Delegation{}, fmt.Errorf("%s: %w", op, err)
	}
	return d, nil
}

// RemoveDelegation deletes a delegation and invalidates the app's cached
// delegations everywhere; the grant stays.
func (v *Vault) RemoveDelegation(ctx context.Context, appID, id string) error {
	err := v.store.DeleteDelegation(ctx, appID, id)
	if mayHaveCommitted(err) {
		v.invalidate(ctx, appScope(appID))
	}
	if err != nil {
		return fmt.Errorf("remove delegation: %w", err)
	}
	return nil
}

// DelegatedGrants returns the active grants of providerID delegated to
// agentID, oldest first, cached like GrantsFor (the proxy's hot path for
// agents). Every write through the Vault that changes the answer (Delegate,
// RemoveDelegation, a grant's status, DeleteAgent) invalidates it. The
// slice is the caller's to keep.
func (v *Vault) DelegatedGrants(ctx context.Context, appID, agentID, providerID string) ([]Grant, error) {
	k := delegatedKey{epoch: v.epochs.get(appID), app: appID, agent: agentID, provider: providerID}
	gs, err := v.delegated.get(ctx, k, func(ctx context.Context) ([]Grant, error) {
		return v.loadDelegatedGrants(ctx, appID, agentID, providerID)
	})
	if err != nil {
		return nil, fmt.Errorf("delegated grants: %w", err)
	}
	return slices.Clone(gs), nil
}

// DeriveKey returns a 32-byte key derived from the pepper for label,
// HMAC-SHA256(pepper, "gatehouse derive v1\x00" + label), for secrets every
// replica must compute alike (the PKCE verifier of a connect session).
func (v *Vault) DeriveKey(label string) []byte {
	m := hmac.New(sha256.New, v.pepper)
	m.Write([]byte(deriveLabel))
	m.Write([]byte(label))
	return m.Sum(nil)
}
