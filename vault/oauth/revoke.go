package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// maxRevokeBody bounds how much of a revocation answer is read.
const maxRevokeBody = 64 << 10

// RevokeResult says what the provider made of a revocation.
type RevokeResult struct {
	ProviderRevoked bool   `json:"provider_revoked"`
	ProviderError   string `json:"provider_error,omitempty"` // safe to show; empty when revoked or the provider has no revoke_url
}

// Revoke calls the provider's revoke_url (RFC 7009 form: token=<refresh or
// access token>, token_type_hint, client auth per auth_style) when it has
// one, then deletes the token set (vault.DeleteSecret, which revokes the
// grant). A provider failure is reported in the result and does not stop
// the local deletion. A grant whose credential is not an oauth2 token set
// is ErrNotOAuth; one whose credential is already gone is only revoked
// locally.
func (m *Manager) Revoke(ctx context.Context, appID, grantID string) (RevokeResult, error) {
	g, err := m.v.Store().GetGrant(ctx, appID, grantID)
	if err != nil {
		return RevokeResult{}, fmt.Errorf("revoke: %w", err)
	}
	var res RevokeResult
	c, err := m.v.Store().GetCredential(ctx, appID, g.CredentialID)
	switch {
	case errors.Is(err, vault.ErrNotFound):
	case err != nil:
		return RevokeResult{}, fmt.Errorf("revoke: %w", err)
	case c.Kind != vault.KindOAuth2:
		return RevokeResult{}, fmt.Errorf("revoke: grant %s: %w", g.ID, ErrNotOAuth)
	default:
		p, ok := m.cat.Get(g.ProviderID)
		if ok && p.OAuth != nil && p.OAuth.RevokeURL != "" {
			res = m.revokeAtProvider(ctx, g, p)
		}
	}
	if err := m.v.DeleteSecret(ctx, appID, grantID); err != nil {
		return res, fmt.Errorf("revoke: %w", err)
	}
	return res, nil
}

// revokeAtProvider posts the RFC 7009 revocation of g's refresh token (or
// its access token when it has none).
func (m *Manager) revokeAtProvider(ctx context.Context, g vault.Grant, p *catalog.Provider) RevokeResult {
	fail := func(msg string) RevokeResult {
		m.log.Warn("oauth: provider revocation failed", "app_id", g.AppID, "grant_id", g.ID, "provider", p.ID, "error", msg)
		return RevokeResult{ProviderError: msg}
	}
	mat, err := m.v.MaterialFromStore(ctx, g.AppID, g.CredentialID)
	if err != nil {
		return fail("the token set could not be read")
	}
	settings, secret, err := m.client(ctx, g.AppID, g.ProviderID)
	if err != nil {
		return fail("the app has no OAuth client for " + p.ID + " to authenticate the revocation")
	}
	token, hint := mat.RefreshToken, "refresh_token"
	if token == "" {
		token, hint = mat.AccessToken, "access_token"
	}
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	if p.OAuth.AuthStyle != catalog.AuthStyleHeader {
		form.Set("client_id", settings.ClientID)
		if secret != "" {
			form.Set("client_secret", secret)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.TokenTimeout)
	defer cancel()
	endpoint := endpointName(p.OAuth.RevokeURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.OAuth.RevokeURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fail("bad revocation URL " + endpoint)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p.OAuth.AuthStyle == catalog.AuthStyleHeader {
		// RFC 6749 2.3.1: form-encode both before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(settings.ClientID), url.QueryEscape(secret))
	}
	resp, err := m.d.HTTPClient.Do(req)
	if err != nil {
		_, desc := classify(err)
		return fail("revocation endpoint " + endpoint + ": " + desc)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxRevokeBody))
	var answer struct {
		OK    *bool  `json:"ok"` // Slack answers 200 {"ok":false,"error":…}
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &answer)
	switch {
	case resp.StatusCode/100 != 2:
		msg := fmt.Sprintf("revocation endpoint %s answered HTTP %d", endpoint, resp.StatusCode)
		if answer.Error != "" {
			msg += " " + clean(answer.Error, 64)
		}
		return fail(msg)
	case answer.OK != nil && !*answer.OK:
		return fail(fmt.Sprintf("revocation endpoint %s answered %s", endpoint, clean(answer.Error, 64)))
	}
	return RevokeResult{ProviderRevoked: true}
}

// CreateClientCredentialsGrant mints a token with the app's client
// (oauth2/clientcredentials, auth style from the catalog) and stores it as a
// grant of principal (GrantType client_credentials, scopes: the given ones,
// else the app's configured ones); later "refreshes" mint again. A refusal
// by the provider is a *ProviderError; an unreachable token endpoint
// ErrRefreshFailed.
func (m *Manager) CreateClientCredentialsGrant(ctx context.Context, appID, providerID, principal string, scopes []string) (vault.Grant, error) {
	p, err := m.oauthProvider(providerID)
	if err != nil {
		return vault.Grant{}, fmt.Errorf("client credentials: %w", err)
	}
	if err := vault.ValidatePrincipal(principal); err != nil {
		return vault.Grant{}, fmt.Errorf("client credentials: %w", err)
	}
	settings, secret, err := m.client(ctx, appID, providerID)
	if err != nil {
		return vault.Grant{}, fmt.Errorf("client credentials: %w", err)
	}
	if len(scopes) == 0 {
		scopes = settings.Scopes
	}
	if err := checkScopes(scopes); err != nil {
		return vault.Grant{}, fmt.Errorf("client credentials: %w", err)
	}
	cc := &clientcredentials.Config{ClientID: settings.ClientID, ClientSecret: secret, TokenURL: p.OAuth.TokenURL, Scopes: scopes, AuthStyle: authStyle(p.OAuth.AuthStyle)}
	tok, err := m.call(ctx, func(ctx context.Context) (*oauth2.Token, error) { return cc.Token(ctx) })
	if err != nil {
		if pe := providerError(err); pe != nil {
			return vault.Grant{}, pe
		}
		_, desc := classify(err)
		return vault.Grant{}, fmt.Errorf("client credentials: token endpoint %s: %s: %w", endpointName(p.OAuth.TokenURL), desc, ErrRefreshFailed)
	}
	mat := m.tokenMaterial(tok, vault.Material{GrantType: vault.GrantClientCredentials, Scopes: scopes}, p)
	// A client_credentials token set never carries a refresh token worth
	// keeping: renewal mints again.
	mat.RefreshToken = ""
	g, _, err := m.v.PutOAuthGrant(context.WithoutCancel(ctx), appID, providerID, principal, "", mat)
	if err != nil {
		return vault.Grant{}, fmt.Errorf("client credentials: %w", err)
	}
	return g, nil
}
