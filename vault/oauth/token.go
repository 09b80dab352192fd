package oauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// errClosed is returned by refreshes asked for after Close.
var errClosed = fmt.Errorf("oauth manager closed: %w", ErrRefreshFailed)

// maxMemo bounds the credential-update memo; it is cleared when full.
const maxMemo = 10000

// Token returns injectable material for g. Non-oauth2 kinds (material
// without an access token: API keys, basic pairs) pass through
// Vault.Material. An oauth2 token set is served from the vault's caches
// while it has more than Skew left; within ProactiveWindow a background
// refresh is started (once per credential). Within Skew, or past expiry,
// it is refreshed first: singleflight per credential → Redis lease →
// re-read of the store (another replica's fresh token set is used as is) →
// token endpoint → UpdateTokens with a context the caller cannot cancel →
// lease released. When that refresh fails but the current access token has
// not expired yet, the current one is returned; an expired access token is
// never returned.
//
// A zero Expiry means the provider sent no expires_in: the provider's
// default lifetime, counted from the credential's last update, applies when
// the catalog sets one; otherwise the token counts as valid until an
// upstream 401 (Refresh).
//
// For short-lived tokens Skew and ProactiveWindow shrink to a quarter and a
// half of the token's lifetime, so a token is never refreshed right after
// it was issued.
func (m *Manager) Token(ctx context.Context, g vault.Grant) (vault.Material, error) {
	mat, err := m.v.Material(ctx, g)
	if err != nil {
		return vault.Material{}, fmt.Errorf("oauth token: %w", err)
	}
	if mat.AccessToken == "" {
		return mat, nil
	}
	if g.Status == vault.StatusNeedsReauth {
		return vault.Material{}, fmt.Errorf("grant %s: %w", g.ID, ErrReauthRequired)
	}
	exp, skew, window := m.plan(ctx, g, mat)
	if exp.IsZero() {
		return mat, nil
	}
	left := exp.Sub(m.now())
	if left > skew {
		if left <= window {
			m.proactive(ctx, g, mat.Version)
		}
		return mat, nil
	}
	fresh, err := m.refresh(ctx, g, mat.Version)
	if err == nil {
		return fresh, nil
	}
	if ctx.Err() == nil && !errors.Is(err, ErrReauthRequired) && m.now().Before(exp) {
		m.log.Warn("oauth: refresh failed; using the current access token until it expires",
			"app_id", g.AppID, "grant_id", g.ID, "provider", g.ProviderID, "expires_in", exp.Sub(m.now()).Round(time.Second).String(), "error", err.Error())
		return mat, nil
	}
	return vault.Material{}, err
}

// Refresh forces a refresh unless the stored version already moved past
// staleVersion (someone refreshed since): used after an upstream 401 with
// the Version of the material that was rejected. Same machinery as Token;
// a failure is returned as is (the upstream already refused the current
// token).
func (m *Manager) Refresh(ctx context.Context, g vault.Grant, staleVersion int64) (vault.Material, error) {
	mat, err := m.v.Material(ctx, g)
	if err != nil {
		return vault.Material{}, fmt.Errorf("oauth refresh: %w", err)
	}
	if mat.AccessToken == "" {
		return vault.Material{}, fmt.Errorf("grant %s: %w", g.ID, ErrNotOAuth)
	}
	if g.Status == vault.StatusNeedsReauth {
		return vault.Material{}, fmt.Errorf("grant %s: %w", g.ID, ErrReauthRequired)
	}
	if mat.Version > staleVersion && m.valid(mat) {
		return mat, nil
	}
	// A flight another caller started from an older version may answer
	// with the very version the upstream rejected; then run one of ours.
	for range 3 {
		fresh, err := m.refresh(ctx, g, staleVersion)
		if err != nil {
			return vault.Material{}, err
		}
		if fresh.Version > staleVersion {
			return fresh, nil
		}
	}
	return vault.Material{}, fmt.Errorf("grant %s: no newer token set: %w", g.ID, ErrRefreshFailed)
}

// refresh runs, or joins, the credential's refresh flight. The flight is
// not bound to ctx: a caller that gives up does not stop the refresh (and
// the storing of a rotated refresh token) for everyone else.
func (m *Manager) refresh(ctx context.Context, g vault.Grant, seen int64) (vault.Material, error) {
	ch := m.flights.DoChan(g.CredentialID, func() (any, error) {
		if !m.begin() {
			return vault.Material{}, errClosed
		}
		defer m.wg.Done()
		return m.flight(context.WithoutCancel(ctx), g, seen)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return vault.Material{}, r.Err
		}
		return r.Val.(vault.Material), nil
	case <-ctx.Done():
		return vault.Material{}, fmt.Errorf("oauth refresh: %w", ctx.Err())
	}
}

// proactive starts a background refresh of g's credential unless one is
// running or the Manager is closed.
func (m *Manager) proactive(ctx context.Context, g vault.Grant, seen int64) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	if _, running := m.bg[g.CredentialID]; running {
		m.mu.Unlock()
		return
	}
	m.bg[g.CredentialID] = struct{}{}
	m.wg.Add(1)
	m.mu.Unlock()
	m.st.proactive.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			m.mu.Lock()
			delete(m.bg, g.CredentialID)
			m.mu.Unlock()
		}()
		if _, err := m.refresh(context.WithoutCancel(ctx), g, seen); err != nil && !errors.Is(err, errClosed) {
			m.log.Warn("oauth: background refresh failed", "app_id", g.AppID, "grant_id", g.ID, "provider", g.ProviderID, "error", err.Error())
		}
	}()
}

// valid reports whether mat holds an access token that has not expired.
func (m *Manager) valid(mat vault.Material) bool {
	return mat.AccessToken != "" && (mat.Expiry.IsZero() || m.now().Before(mat.Expiry))
}

// plan returns when mat's access token expires (zero: unknown, treated as
// valid) and the skew and proactive window that apply to it. The store is
// read (once per credential version) only when the decision depends on the
// credential's last update: a token inside the proactive window, or one
// without expiry whose provider has a default lifetime.
func (m *Manager) plan(ctx context.Context, g vault.Grant, mat vault.Material) (exp time.Time, skew, window time.Duration) {
	skew, window = m.cfg.Skew, m.cfg.ProactiveWindow
	exp = mat.Expiry
	var lifetime time.Duration
	if p, ok := m.cat.Get(g.ProviderID); ok && p.OAuth != nil {
		lifetime = p.OAuth.Lifetime()
	}
	switch {
	case exp.IsZero() && lifetime <= 0:
		return exp, skew, window
	case !exp.IsZero() && exp.Sub(m.now()) > window:
		return exp, skew, window
	}
	updated, ok := m.updatedAt(ctx, g, mat.Version)
	if !ok {
		return exp, skew, window
	}
	if exp.IsZero() {
		exp = updated.Add(lifetime)
	}
	if life := exp.Sub(updated); life > 0 {
		skew = min(skew, life/4)
		window = min(window, life/2)
	}
	return exp, skew, window
}

// updatedMemo remembers when each credential version was written; a
// version's UpdatedAt never changes.
type updatedMemo struct {
	mu sync.Mutex
	m  map[string]stamped
}

type stamped struct {
	version int64
	at      time.Time
}

// updatedAt returns when version of g's credential was written, false when
// unknown (the store failed, or the version moved on).
func (m *Manager) updatedAt(ctx context.Context, g vault.Grant, version int64) (time.Time, bool) {
	m.updated.mu.Lock()
	s, ok := m.updated.m[g.CredentialID]
	m.updated.mu.Unlock()
	if ok && s.version == version {
		return s.at, true
	}
	c, err := m.v.Store().GetCredential(ctx, g.AppID, g.CredentialID)
	if err != nil || c.Version != version || c.UpdatedAt.IsZero() {
		return time.Time{}, false
	}
	m.updated.mu.Lock()
	if m.updated.m == nil || len(m.updated.m) >= maxMemo {
		m.updated.m = make(map[string]stamped)
	}
	m.updated.m[g.CredentialID] = stamped{version: version, at: c.UpdatedAt}
	m.updated.mu.Unlock()
	return c.UpdatedAt, true
}
