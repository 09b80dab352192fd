package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bsm/redislock"
	"github.com/google/uuid"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// flight is one refresh of g's credential, run once per process at a time
// (singleflight) with a context no caller can cancel. seen is the version
// the caller found too old.
func (m *Manager) flight(ctx context.Context, g vault.Grant, seen int64) (vault.Material, error) {
	p, err := m.oauthProvider(g.ProviderID)
	if err != nil {
		m.st.refreshFailures.Add(1)
		return vault.Material{}, err
	}
	lock, theirs, err := m.lease(ctx, g, p, seen)
	switch {
	case err != nil:
		m.st.refreshFailures.Add(1)
		return vault.Material{}, err
	case theirs != nil:
		m.st.reused.Add(1)
		return *theirs, nil
	case lock != nil:
		defer m.release(ctx, g, lock)
	}

	// Second check under the lease: another replica may have refreshed
	// while we waited, or before our cache noticed.
	cur, err := m.v.MaterialFromStore(ctx, g.AppID, g.CredentialID)
	if err != nil {
		m.st.refreshFailures.Add(1)
		return vault.Material{}, fmt.Errorf("oauth refresh: read token set: %w", err)
	}
	if cur.Version > seen && m.valid(cur) {
		m.st.reused.Add(1)
		return cur, nil
	}
	stored, err := m.v.Store().GetGrant(ctx, g.AppID, g.ID)
	if err != nil {
		m.st.refreshFailures.Add(1)
		return vault.Material{}, fmt.Errorf("oauth refresh: %w", err)
	}
	switch stored.Status {
	case vault.StatusActive:
	case vault.StatusNeedsReauth:
		// The holder before us got invalid_grant: do not present the dead
		// refresh token again.
		return vault.Material{}, fmt.Errorf("grant %s: %w", g.ID, ErrReauthRequired)
	default:
		m.st.refreshFailures.Add(1)
		return vault.Material{}, fmt.Errorf("grant %s is %s: %w", g.ID, stored.Status, ErrRefreshFailed)
	}

	next, err := m.renew(ctx, g, p, cur, lock)
	if err != nil {
		return vault.Material{}, err
	}
	// Persist before the lease is released (deferred above): a rotated
	// refresh token exists nowhere else.
	saved, err := m.v.UpdateTokens(context.WithoutCancel(ctx), g.AppID, g.CredentialID, next)
	if errors.Is(err, vault.ErrConflict) {
		m.st.conflicts.Add(1)
		won, rerr := m.v.MaterialFromStore(ctx, g.AppID, g.CredentialID)
		if rerr == nil && m.valid(won) {
			m.st.reused.Add(1)
			return won, nil
		}
		m.st.refreshFailures.Add(1)
		return vault.Material{}, fmt.Errorf("grant %s: lost the version fence and no valid token set is stored: %w", g.ID, ErrRefreshFailed)
	}
	if err != nil {
		m.st.refreshFailures.Add(1)
		m.log.Error("oauth: could not store a refreshed token set", "app_id", g.AppID, "grant_id", g.ID, "provider", g.ProviderID, "error", err.Error())
		return vault.Material{}, fmt.Errorf("grant %s: store the refreshed token set: %w", g.ID, errors.Join(err, ErrRefreshFailed))
	}
	m.st.refreshes.Add(1)
	if saved.Version <= cur.Version || saved.AccessToken == "" {
		saved = next
		saved.Version = cur.Version + 1
	}
	return saved, nil
}

// lease takes the credential's Redis refresh lease. Without Redis it
// returns nothing (singleflight alone serialises a single replica). While
// another replica holds it, the store is re-read every leasePoll: a version
// past seen with a valid token ends the wait (theirs); otherwise the lease
// is tried again, so a dead holder's lease is taken over after LeaseTTL.
// If Redis itself fails, a provider whose refresh tokens do not rotate is
// refreshed without a lease (the version fence keeps the store consistent
// and a duplicate refresh costs nothing) rather than fail every call. A
// rotating refresh token is not: two replicas presenting it at once trip
// the provider's reuse detection, which revokes the whole token family, so
// the refresh fails (the current token is still used while it is valid).
func (m *Manager) lease(ctx context.Context, g vault.Grant, p *catalog.Provider, seen int64) (*redislock.Lock, *vault.Material, error) {
	if m.locker == nil {
		return nil, nil, nil
	}
	key := m.d.RedisPrefix + "lease:refresh:" + g.CredentialID
	var tick *time.Ticker
	var limit *time.Timer
	for {
		lock, err := m.locker.Obtain(ctx, key, m.cfg.LeaseTTL, nil)
		switch {
		case err == nil:
			return lock, nil, nil
		case !errors.Is(err, redislock.ErrNotObtained):
			m.st.leaseErrors.Add(1)
			if p.OAuth.RotatingRefresh {
				m.log.Warn("oauth: refresh lease unavailable; not refreshing a rotating refresh token without it", "app_id", g.AppID, "grant_id", g.ID, "error", err.Error())
				return nil, nil, fmt.Errorf("grant %s: the refresh lease is unavailable (Redis): %w", g.ID, ErrRefreshFailed)
			}
			m.log.Warn("oauth: refresh lease unavailable; refreshing without it", "app_id", g.AppID, "grant_id", g.ID, "error", err.Error())
			return nil, nil, nil
		}
		if tick == nil {
			m.st.leaseWaits.Add(1)
			tick = time.NewTicker(leasePoll)
			defer tick.Stop()
			// The holder renews its lease before each attempt, so it may
			// keep it for all its retries.
			limit = time.NewTimer(2*m.cfg.LeaseTTL + time.Duration(m.cfg.Retries)*m.cfg.TokenTimeout)
			defer limit.Stop()
		}
		select {
		case <-m.done:
			return nil, nil, errClosed
		case <-limit.C:
			return nil, nil, fmt.Errorf("grant %s: gave up waiting for another replica's refresh: %w", g.ID, ErrRefreshFailed)
		case <-tick.C:
		}
		cur, err := m.v.MaterialFromStore(ctx, g.AppID, g.CredentialID)
		switch {
		case errors.Is(err, vault.ErrNotFound):
			return nil, nil, fmt.Errorf("oauth refresh: %w", err)
		case err == nil && cur.Version > seen && m.valid(cur):
			return nil, &cur, nil
		}
	}
}

// release gives the lease back; an expired lease is only worth a log line.
func (m *Manager) release(ctx context.Context, g vault.Grant, lock *redislock.Lock) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := lock.Release(ctx); err != nil {
		m.log.Warn("oauth: refresh lease release failed", "app_id", g.AppID, "grant_id", g.ID, "error", err.Error())
	}
}

// renew calls the token endpoint for cur: refresh_token, or a new
// client_credentials grant. Transient failures are retried (Retries
// attempts, exponential backoff with jitter, renewing the lease before each
// attempt); invalid_grant marks the grant needs_reauth.
func (m *Manager) renew(ctx context.Context, g vault.Grant, p *catalog.Provider, cur vault.Material, lock *redislock.Lock) (vault.Material, error) {
	if cur.GrantType != vault.GrantClientCredentials && cur.RefreshToken == "" {
		return vault.Material{}, m.markReauth(ctx, g, "the token set has no refresh token")
	}
	settings, secret, err := m.v.OAuthClient(ctx, g.AppID, g.ProviderID)
	if err != nil {
		m.st.refreshFailures.Add(1)
		if errors.Is(err, vault.ErrNotFound) {
			return vault.Material{}, fmt.Errorf("provider %s: %w", g.ProviderID, ErrNotConfigured)
		}
		return vault.Material{}, fmt.Errorf("oauth refresh: %w", err)
	}
	mint := tokenSource(p, settings.ClientID, secret, cur)
	endpoint := endpointName(p.OAuth.TokenURL)
	wait := m.backoff
	var desc string
	for attempt := 1; ; attempt++ {
		tok, err := m.call(ctx, mint)
		if err == nil {
			return m.tokenMaterial(tok, cur, p), nil
		}
		var class failure
		class, desc = classify(err)
		switch class {
		case failReauth:
			return vault.Material{}, m.markReauth(ctx, g, "the provider refused the refresh token (invalid_grant)")
		case failClient:
			m.st.refreshFailures.Add(1)
			m.log.Error("oauth: the provider rejected the app's OAuth client during a refresh; check the provider configuration",
				"app_id", g.AppID, "grant_id", g.ID, "provider", p.ID, "token_endpoint", endpoint, "error", desc)
			return vault.Material{}, fmt.Errorf("token endpoint %s answered %s: %w", endpoint, desc, ErrRefreshFailed)
		case failPermanent:
			m.st.refreshFailures.Add(1)
			m.log.Warn("oauth: refresh refused", "app_id", g.AppID, "grant_id", g.ID, "provider", p.ID, "token_endpoint", endpoint, "error", desc)
			return vault.Material{}, fmt.Errorf("token endpoint %s answered %s: %w", endpoint, desc, ErrRefreshFailed)
		}
		if attempt >= m.cfg.Retries {
			break
		}
		t := time.NewTimer(wait + rand.N(wait/2+1))
		wait *= 2
		select {
		case <-m.done:
			t.Stop()
			m.st.refreshFailures.Add(1)
			return vault.Material{}, errClosed
		case <-t.C:
		}
		if lock != nil {
			if err := lock.Refresh(ctx, m.cfg.LeaseTTL, nil); err != nil {
				// Another replica may own the lease now: calling again
				// could replay a refresh token it is rotating.
				m.st.refreshFailures.Add(1)
				return vault.Material{}, fmt.Errorf("grant %s: refresh lease lost while retrying %s: %w", g.ID, endpoint, ErrRefreshFailed)
			}
		}
	}
	m.st.refreshFailures.Add(1)
	m.log.Warn("oauth: refresh failed", "app_id", g.AppID, "grant_id", g.ID, "provider", p.ID, "token_endpoint", endpoint, "attempts", m.cfg.Retries, "error", desc)
	return vault.Material{}, fmt.Errorf("token endpoint %s: %s after %d attempts: %w", endpoint, desc, m.cfg.Retries, ErrRefreshFailed)
}

// call makes one token endpoint request through the egress client, bounded
// by TokenTimeout.
func (m *Manager) call(ctx context.Context, mint func(context.Context) (*oauth2.Token, error)) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.TokenTimeout)
	defer cancel()
	m.st.tokenCalls.Add(1)
	return mint(context.WithValue(ctx, oauth2.HTTPClient, m.d.HTTPClient))
}

// tokenSource returns a one-shot token request for cur: a refresh (no
// TokenSource is kept: golang/oauth2 would hold a rotated refresh token in
// memory only) or a client_credentials mint.
func tokenSource(p *catalog.Provider, clientID, secret string, cur vault.Material) func(context.Context) (*oauth2.Token, error) {
	style := authStyle(p.OAuth.AuthStyle)
	if cur.GrantType == vault.GrantClientCredentials {
		cc := &clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: p.OAuth.TokenURL, Scopes: cur.Scopes, AuthStyle: style}
		return cc.Token
	}
	conf := &oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: endpoint(p)}
	rt := cur.RefreshToken
	return func(ctx context.Context) (*oauth2.Token, error) {
		// An empty access token forces the refresh.
		return conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	}
}

// endpoint is p's oauth2 endpoint with the catalog's auth style: never
// auto-detected, which would retry a failed refresh with the other style
// and replay the refresh token.
func endpoint(p *catalog.Provider) oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: p.OAuth.AuthorizeURL, TokenURL: p.OAuth.TokenURL, AuthStyle: authStyle(p.OAuth.AuthStyle)}
}

// authStyle maps the catalog's auth_style (validated at load).
func authStyle(s string) oauth2.AuthStyle {
	if s == catalog.AuthStyleHeader {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}

// endpointName is a URL for messages: scheme, host and path only.
func endpointName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the token endpoint"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// tokenMaterial is the token set of a token response. prev supplies what
// the response may omit: the refresh token (kept when none is returned),
// the scopes and the grant type. The expiry comes from expires_in on the
// Manager's clock, else from the provider's default lifetime.
func (m *Manager) tokenMaterial(tok *oauth2.Token, prev vault.Material, p *catalog.Provider) vault.Material {
	now := m.now()
	next := vault.Material{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.TokenType,
		RefreshToken: tok.RefreshToken,
		Scopes:       prev.Scopes,
		GrantType:    prev.GrantType,
		Version:      prev.Version,
	}
	if next.RefreshToken == "" {
		next.RefreshToken = prev.RefreshToken
	}
	switch secs := expiresIn(tok); {
	case secs > 0:
		next.Expiry = now.Add(time.Duration(secs) * time.Second)
	case !tok.Expiry.IsZero():
		next.Expiry = now.Add(time.Until(tok.Expiry))
	case p.OAuth.Lifetime() > 0:
		next.Expiry = now.Add(p.OAuth.Lifetime())
	}
	if s, ok := tok.Extra("scope").(string); ok && strings.TrimSpace(s) != "" {
		// Space-separated per RFC 6749; Slack separates with commas.
		next.Scopes = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	}
	return next
}

// expiresIn reads expires_in in seconds from a token response (JSON
// number or string, or form value); 0 when absent.
func expiresIn(tok *oauth2.Token) int64 {
	if tok.ExpiresIn > 0 {
		return tok.ExpiresIn
	}
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

// markReauth moves g to needs_reauth after the provider refused its
// refresh token, records the lifecycle event and returns
// ErrReauthRequired.
func (m *Manager) markReauth(ctx context.Context, g vault.Grant, reason string) error {
	m.st.reauth.Add(1)
	if err := m.v.SetGrantStatus(context.WithoutCancel(ctx), g.AppID, g.ID, vault.StatusNeedsReauth); err != nil {
		m.log.Error("oauth: could not mark the grant needs_reauth", "app_id", g.AppID, "grant_id", g.ID, "error", err.Error())
	}
	m.log.Warn("oauth: grant needs re-consent", "app_id", g.AppID, "grant_id", g.ID, "provider", g.ProviderID, "principal", g.Principal, "reason", reason)
	if m.d.Audit != nil {
		id, _ := uuid.NewV7()
		m.d.Audit(audit.Event{
			ID:         id.String(),
			Time:       m.now(),
			Kind:       audit.KindAdmin,
			AppID:      g.AppID,
			Principal:  g.Principal,
			GrantID:    g.ID,
			ProviderID: g.ProviderID,
			Action:     "grant.needs_reauth",
			Actor:      "gatehouse",
			Reason:     reason,
		})
	}
	return fmt.Errorf("grant %s: %s: %w", g.ID, reason, ErrReauthRequired)
}
