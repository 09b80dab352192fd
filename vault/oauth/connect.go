package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// maxScopeLen bounds one requested scope; real ones (Google's are URLs)
// are far shorter.
const maxScopeLen = 256

// maxStateLen bounds the callback's state parameter (ours is 43 bytes).
const maxStateLen = 256

// sweepEvery is the least time between two deletions of expired connect
// sessions.
const sweepEvery = time.Minute

// ConnectRequest starts a connect flow: who (Principal, "user:<id>"; may
// be empty when GrantID names the grant to re-consent) connects which
// provider for which app, optionally delegating the new grant to Agent
// (an agent name) and with Scopes overriding the configured ones.
type ConnectRequest struct {
	AppID, ProviderID, Principal, Agent, GrantID string
	Scopes                                       []string
}

// ConnectStart is where to send the user.
type ConnectStart struct {
	SessionID    string    `json:"session_id"`
	AuthorizeURL string    `json:"authorize_url"`
	RedirectURI  string    `json:"redirect_uri"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// StartConnect validates (provider is oauth2, app configured it, agent
// exists, GrantID belongs to the app and provider), creates a session with a
// random 32-byte state (stored as SHA-256), PKCE S256 when the provider says
// pkce (verifier = base64url(HMAC(DeriveKey("pkce"), state))) and returns
// the authorization URL (scopes: request, else settings, else catalog;
// extra_params). Expired sessions are deleted on the way, at most once a
// minute.
func (m *Manager) StartConnect(ctx context.Context, req ConnectRequest) (ConnectStart, error) {
	p, err := m.oauthProvider(req.ProviderID)
	if err != nil {
		return ConnectStart{}, fmt.Errorf("connect: %w", err)
	}
	settings, _, err := m.client(ctx, req.AppID, req.ProviderID)
	if err != nil {
		return ConnectStart{}, fmt.Errorf("connect: %w", err)
	}
	principal := req.Principal
	if req.GrantID != "" {
		g, err := m.v.Store().GetGrant(ctx, req.AppID, req.GrantID)
		switch {
		case err != nil:
			return ConnectStart{}, fmt.Errorf("connect: grant: %w", err)
		case g.ProviderID != req.ProviderID:
			return ConnectStart{}, fmt.Errorf("connect: grant %s belongs to provider %s, not %s: %w", g.ID, g.ProviderID, req.ProviderID, vault.ErrInvalid)
		case g.Status == vault.StatusRevoked:
			return ConnectStart{}, fmt.Errorf("connect: grant %s is revoked: %w", g.ID, vault.ErrConflict)
		case principal == "":
			principal = g.Principal
		case principal != g.Principal:
			return ConnectStart{}, fmt.Errorf("connect: grant %s belongs to another principal: %w", g.ID, vault.ErrInvalid)
		}
	}
	if err := vault.ValidatePrincipal(principal); err != nil {
		return ConnectStart{}, fmt.Errorf("connect: %w", err)
	}
	if req.Agent != "" {
		if err := vault.ValidateName("agent", req.Agent); err != nil {
			return ConnectStart{}, fmt.Errorf("connect: %w", err)
		}
		if _, err := m.v.Store().GetAgentByName(ctx, req.AppID, req.Agent); err != nil {
			return ConnectStart{}, fmt.Errorf("connect: agent %s: %w", req.Agent, err)
		}
	}
	scopes := req.Scopes
	switch {
	case len(scopes) > 0:
	case len(settings.Scopes) > 0:
		scopes = settings.Scopes
	default:
		scopes = p.OAuth.Scopes
	}
	if err := checkScopes(scopes); err != nil {
		return ConnectStart{}, fmt.Errorf("connect: %w", err)
	}
	key, err := m.pkceKey()
	if err != nil {
		return ConnectStart{}, fmt.Errorf("connect: %w", err)
	}

	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return ConnectStart{}, fmt.Errorf("connect: state: %w", err)
	}
	state := base64.RawURLEncoding.EncodeToString(raw[:])
	hash := sha256.Sum256([]byte(state))
	id, err := uuid.NewV7()
	if err != nil {
		return ConnectStart{}, fmt.Errorf("connect: session id: %w", err)
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	s := vault.ConnectSession{
		ID:          id.String(),
		StateHash:   hash[:],
		AppID:       req.AppID,
		ProviderID:  req.ProviderID,
		Principal:   principal,
		Agent:       req.Agent,
		GrantID:     req.GrantID,
		Scopes:      slices.Clone(scopes),
		RedirectURI: m.cfg.RedirectURL,
		Status:      vault.SessionPending,
		CreatedAt:   now,
		ExpiresAt:   now.Add(m.cfg.ConnectTTL),
	}
	m.sweepSessions(ctx, now)
	if err := m.v.Store().CreateConnectSession(ctx, s); err != nil {
		return ConnectStart{}, fmt.Errorf("connect: create session: %w", err)
	}

	conf := oauth2.Config{ClientID: settings.ClientID, Endpoint: endpoint(p), RedirectURL: m.cfg.RedirectURL, Scopes: scopes}
	var opts []oauth2.AuthCodeOption
	for _, k := range slices.Sorted(maps.Keys(p.OAuth.ExtraParams)) {
		opts = append(opts, oauth2.SetAuthURLParam(k, p.OAuth.ExtraParams[k]))
	}
	if p.OAuth.PKCE {
		opts = append(opts, oauth2.S256ChallengeOption(verifier(key, state)))
	}
	return ConnectStart{
		SessionID:    s.ID,
		AuthorizeURL: conf.AuthCodeURL(state, opts...),
		RedirectURI:  s.RedirectURI,
		ExpiresAt:    s.ExpiresAt,
	}, nil
}

// Callback handles the redirect's query (state, code | error,
// error_description): claims the session (single use), exchanges the code
// (explicit auth style, PKCE verifier), reads the account (catalog
// oauth.account_field), then PutOAuthGrant (or Reconsent when the session
// names a GrantID) and Delegate when Agent is set; finishes the session.
//
// An unknown or used state is ErrState (nothing is recorded); a late one
// ErrSessionExpired; a provider-reported error a *ProviderError. Once the
// state is claimed the session always ends complete or failed, with a
// message safe to show, and the returned session says which. The work after
// the claim does not stop when the user's browser goes away: the code can
// be exchanged only once.
func (m *Manager) Callback(ctx context.Context, q url.Values) (vault.ConnectSession, error) {
	state := q.Get("state")
	if state == "" || len(state) > maxStateLen {
		return vault.ConnectSession{}, ErrState
	}
	hash := sha256.Sum256([]byte(state))
	ctx = context.WithoutCancel(ctx)
	// Claim at the epoch so a late callback still claims its session, which
	// is then failed as expired (a poller learns why) instead of lingering;
	// expiry is judged below on the Manager's clock.
	s, err := m.v.Store().ClaimConnectSession(ctx, hash[:], time.Unix(0, 0).UTC())
	if errors.Is(err, vault.ErrNotFound) {
		return vault.ConnectSession{}, ErrState
	}
	if err != nil {
		return vault.ConnectSession{}, fmt.Errorf("connect callback: %w", err)
	}
	if !m.now().Before(s.ExpiresAt) {
		return m.fail(ctx, s, "expired", ErrSessionExpired.Error()), ErrSessionExpired
	}
	if code := q.Get("error"); code != "" {
		pe := &ProviderError{Code: clean(code, 64), Description: clean(q.Get("error_description"), 300)}
		switch {
		case pe.Code == "access_denied" && pe.Description != "":
			pe.Description = "the user denied consent (the provider says: " + pe.Description + ")"
		case pe.Code == "access_denied":
			pe.Description = "the user denied consent"
		case pe.Description == "":
			pe.Description = "the provider refused the authorization (" + pe.Code + ")"
		}
		return m.fail(ctx, s, pe.Code, pe.Description), pe
	}
	code := q.Get("code")
	if code == "" {
		pe := &ProviderError{Code: "invalid_request", Description: "the provider redirected back without an authorization code"}
		return m.fail(ctx, s, pe.Code, pe.Description), pe
	}
	return m.complete(ctx, s, state, code)
}

// complete exchanges the code of the claimed session s and stores the
// grant.
func (m *Manager) complete(ctx context.Context, s vault.ConnectSession, state, code string) (vault.ConnectSession, error) {
	p, err := m.oauthProvider(s.ProviderID)
	if err != nil {
		return m.fail(ctx, s, "provider_unknown", "the provider is no longer in the catalog"), fmt.Errorf("connect callback: %w", err)
	}
	settings, secret, err := m.client(ctx, s.AppID, s.ProviderID)
	if err != nil {
		return m.fail(ctx, s, "not_configured", "the app has no OAuth client for "+p.ID+" any more"), fmt.Errorf("connect callback: %w", err)
	}
	conf := oauth2.Config{ClientID: settings.ClientID, ClientSecret: secret, Endpoint: endpoint(p), RedirectURL: s.RedirectURI}
	var opts []oauth2.AuthCodeOption
	if p.OAuth.PKCE {
		key, err := m.pkceKey()
		if err != nil {
			return m.fail(ctx, s, "server_error", "the PKCE key is unavailable"), fmt.Errorf("connect callback: %w", err)
		}
		opts = append(opts, oauth2.VerifierOption(verifier(key, state)))
	}
	tok, err := m.call(ctx, func(ctx context.Context) (*oauth2.Token, error) { return conf.Exchange(ctx, code, opts...) })
	if err != nil {
		if pe := providerError(err); pe != nil {
			return m.fail(ctx, s, pe.Code, pe.Description), pe
		}
		_, desc := classify(err)
		msg := "the provider's token endpoint " + endpointName(p.OAuth.TokenURL) + " failed: " + desc
		return m.fail(ctx, s, "exchange_failed", msg), fmt.Errorf("connect callback: %s: %w", msg, ErrRefreshFailed)
	}
	account := accountOf(tok, p.OAuth.AccountField)
	mat := m.tokenMaterial(tok, vault.Material{GrantType: vault.GrantAuthorizationCode, Scopes: s.Scopes}, p)
	var g vault.Grant
	if s.GrantID != "" {
		g, err = m.v.Reconsent(ctx, s.AppID, s.GrantID, account, mat)
	} else {
		g, _, err = m.v.PutOAuthGrant(ctx, s.AppID, s.ProviderID, s.Principal, account, mat)
	}
	if err != nil {
		m.log.Error("oauth: could not store a connected grant", "app_id", s.AppID, "provider", s.ProviderID, "session_id", s.ID, "error", err.Error())
		return m.fail(ctx, s, "store_failed", "the connection succeeded but Gatehouse could not store it; try again"), fmt.Errorf("connect callback: %w", err)
	}
	s.GrantID = g.ID
	if s.Agent != "" {
		if _, err := m.v.Delegate(ctx, s.AppID, g.ID, s.Agent); err != nil {
			m.log.Error("oauth: could not delegate a connected grant", "app_id", s.AppID, "grant_id", g.ID, "agent", s.Agent, "error", err.Error())
			return m.fail(ctx, s, "delegation_failed", "connected (grant "+g.ID+"), but delegating it to agent "+s.Agent+" failed"), fmt.Errorf("connect callback: delegate: %w", err)
		}
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	s.Status = vault.SessionComplete
	s.CompletedAt = &now
	if err := m.v.Store().FinishConnectSession(ctx, s); err != nil {
		// The grant exists; only the poller's view is stale.
		m.log.Error("oauth: could not record a completed connect session", "session_id", s.ID, "grant_id", g.ID, "error", err.Error())
	}
	return s, nil
}

// fail records the claimed session s as failed with a message safe to
// show and returns it.
func (m *Manager) fail(ctx context.Context, s vault.ConnectSession, code, msg string) vault.ConnectSession {
	now := m.now().UTC().Truncate(time.Microsecond)
	s.Status = vault.SessionFailed
	s.ErrorCode = code
	s.ErrorMessage = msg
	s.CompletedAt = &now
	if err := m.v.Store().FinishConnectSession(ctx, s); err != nil {
		m.log.Error("oauth: could not record a failed connect session", "session_id", s.ID, "error", err.Error())
	}
	return s
}

// Session returns the app's connect session id for polling. A pending
// session past its expiry (and one stuck exchanging well past it, after a
// crash) is reported failed with error code "expired".
func (m *Manager) Session(ctx context.Context, appID, id string) (vault.ConnectSession, error) {
	if !vault.IsCanonicalUUID(id) {
		return vault.ConnectSession{}, fmt.Errorf("connect session: %w", vault.ErrNotFound)
	}
	s, err := m.v.Store().GetConnectSession(ctx, appID, id)
	if err != nil {
		return vault.ConnectSession{}, fmt.Errorf("connect session: %w", err)
	}
	now := m.now()
	if (s.Status == vault.SessionPending && !now.Before(s.ExpiresAt)) ||
		(s.Status == vault.SessionExchanging && now.After(s.ExpiresAt.Add(2*m.cfg.TokenTimeout))) {
		s.Status = vault.SessionFailed
		s.ErrorCode = "expired"
		s.ErrorMessage = ErrSessionExpired.Error()
	}
	return s, nil
}

// sweepSessions deletes sessions that expired more than ConnectTTL ago
// (pollers still see recent ones as expired), at most once per sweepEvery.
func (m *Manager) sweepSessions(ctx context.Context, now time.Time) {
	last := m.sweep.Load()
	if now.UnixNano()-last < int64(sweepEvery) || !m.sweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	n, err := m.v.Store().DeleteConnectSessions(ctx, now.Add(-m.cfg.ConnectTTL))
	if err != nil {
		m.log.Warn("oauth: could not delete expired connect sessions", "error", err.Error())
		return
	}
	if n > 0 {
		m.log.Debug("oauth: deleted expired connect sessions", "count", n)
	}
}

// client returns the app's OAuth client for the provider; ErrNotConfigured
// when there is none.
func (m *Manager) client(ctx context.Context, appID, providerID string) (vault.ProviderSettings, string, error) {
	s, secret, err := m.v.OAuthClient(ctx, appID, providerID)
	if errors.Is(err, vault.ErrNotFound) {
		return vault.ProviderSettings{}, "", fmt.Errorf("provider %s: %w", providerID, ErrNotConfigured)
	}
	if err != nil {
		return vault.ProviderSettings{}, "", err
	}
	return s, secret, nil
}

// pkceKey is the key PKCE verifiers are derived with; every replica
// derives the same one from the pepper.
func (m *Manager) pkceKey() ([]byte, error) {
	key := m.v.DeriveKey("pkce")
	if len(key) < 32 {
		return nil, errors.New("the vault derives no PKCE key")
	}
	return key, nil
}

// verifier is the PKCE code verifier of state: 43 base64url characters,
// never stored, recomputable only with the pepper.
func verifier(key []byte, state string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(state))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkScopes refuses scopes that would break the space-separated scope
// parameter.
func checkScopes(scopes []string) error {
	for _, s := range scopes {
		if s == "" || len(s) > maxScopeLen || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("scope %q must be 1-%d visible characters without spaces: %w", clean(s, 64), maxScopeLen, vault.ErrInvalid)
		}
	}
	return nil
}
