// Package oauth keeps a vault's OAuth 2.0 grants usable: it obtains token
// sets (the authorization-code connect flow with PKCE, and client
// credentials), renews them before they expire and revokes them at the
// provider.
//
// golang.org/x/oauth2 is used only as a one-shot primitive: no TokenSource
// outlives a single token-endpoint call, because the library keeps a
// rotated refresh token in memory only and would lose it. A refresh is
// deduplicated at three levels: singleflight per credential in the process,
// a Redis lease across replicas, and the vault's version-fenced write; the
// rotated token set is persisted, with a context no client disconnect can
// cancel, before the lease is released, and everyone else re-reads it.
package oauth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bsm/redislock"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// Defaults of Config's zero fields.
const (
	DefaultSkew            = 2 * time.Minute
	DefaultProactiveWindow = 5 * time.Minute
	DefaultLeaseTTL        = 60 * time.Second
	DefaultTokenTimeout    = 20 * time.Second
	DefaultRetries         = 3
	DefaultConnectTTL      = 10 * time.Minute
)

// leasePoll is how often a refresh waiting for another replica's lease
// re-reads the store.
const leasePoll = 50 * time.Millisecond

// firstBackoff is the pause before the second token-endpoint attempt; it
// doubles for each further attempt and gets up to 50% jitter.
const firstBackoff = 200 * time.Millisecond

// Config tunes a Manager. Zero durations take the defaults above.
type Config struct {
	RedirectURL     string        // admin.public_url + "/oauth/callback"; required
	Skew            time.Duration // a token expiring within Skew is refreshed before use; default 2m
	ProactiveWindow time.Duration // a token used with < ProactiveWindow left (but > Skew) is refreshed in the background; default 5m
	LeaseTTL        time.Duration // Redis refresh lease; default 60s; must exceed TokenTimeout
	TokenTimeout    time.Duration // one token/revoke endpoint call; default 20s
	Retries         int           // transient-failure attempts per refresh; default 3 (backoff 200ms, ×2, jitter)
	ConnectTTL      time.Duration // connect session lifetime; default 10m
}

// Deps are the Manager's collaborators.
type Deps struct {
	Vault       *vault.Vault
	Catalog     *catalog.Catalog
	Redis       redis.UniversalClient // nil: in-process singleflight only (single replica)
	RedisPrefix string                // e.g. "gatehouse:"; lease key <prefix>lease:refresh:<credential id>
	HTTPClient  *http.Client          // egress client (upstream.resolve, extra roots, SSRF guard); required
	Audit       func(audit.Event)     // lifecycle events (Kind audit.KindAdmin, Actor "gatehouse"); may be nil
	Log         *slog.Logger          // nil: discard
	Now         func() time.Time      // nil: time.Now
}

// Stats are the Manager's counters since New.
type Stats struct {
	Refreshes          int64 `json:"refreshes"`           // token sets renewed at a token endpoint and stored
	RefreshFailures    int64 `json:"refresh_failures"`    // refreshes that ended without a new token set
	Reauth             int64 `json:"reauth"`              // grants moved to needs_reauth
	LeaseWaits         int64 `json:"lease_waits"`         // refreshes that found another replica's lease held
	LeaseErrors        int64 `json:"lease_errors"`        // refreshes that went ahead without a lease because Redis failed
	Reused             int64 `json:"reused"`              // refreshes answered by a token set another writer stored
	Conflicts          int64 `json:"conflicts"`           // version-fenced writes lost to another writer
	TokenCalls         int64 `json:"token_calls"`         // token endpoint requests (every attempt)
	ProactiveRefreshes int64 `json:"proactive_refreshes"` // background refreshes started ahead of expiry
}

// counters backs Stats.
type counters struct {
	refreshes, refreshFailures, reauth, leaseWaits, leaseErrors,
	reused, conflicts, tokenCalls, proactive atomic.Int64
}

// Manager obtains, renews and revokes OAuth token sets. It is safe for
// concurrent use; call Close to wait for background refreshes.
type Manager struct {
	cfg     Config
	d       Deps
	v       *vault.Vault
	cat     *catalog.Catalog
	locker  *redislock.Client // nil without Redis
	log     *slog.Logger
	now     func() time.Time
	origin  string // scheme://host of RedirectURL
	backoff time.Duration

	flights singleflight.Group
	st      counters
	updated updatedMemo
	sweep   atomic.Int64 // UnixNano of the last expired-session sweep

	mu     sync.Mutex
	closed bool
	bg     map[string]struct{} // credentials with a background refresh running
	wg     sync.WaitGroup      // flights and background refreshes
	done   chan struct{}       // closed by Close: waiting refreshes give up
}

// New validates cfg, fills its defaults and returns a Manager.
func New(cfg Config, d Deps) (*Manager, error) {
	if d.Vault == nil || d.Catalog == nil || d.HTTPClient == nil {
		return nil, errors.New("oauth: Deps.Vault, Deps.Catalog and Deps.HTTPClient are required")
	}
	u, err := url.Parse(cfg.RedirectURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("oauth: redirect URL %q must be an absolute http(s) URL", cfg.RedirectURL)
	}
	def := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	def(&cfg.Skew, DefaultSkew)
	def(&cfg.ProactiveWindow, DefaultProactiveWindow)
	def(&cfg.LeaseTTL, DefaultLeaseTTL)
	def(&cfg.TokenTimeout, DefaultTokenTimeout)
	def(&cfg.ConnectTTL, DefaultConnectTTL)
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	switch {
	case cfg.Skew < 0, cfg.ProactiveWindow < 0, cfg.LeaseTTL < 0, cfg.TokenTimeout < 0, cfg.ConnectTTL < 0, cfg.Retries < 0:
		return nil, errors.New("oauth: durations and retries must not be negative")
	case cfg.LeaseTTL <= cfg.TokenTimeout:
		// The lease must outlive one token call, or a second replica could
		// replay a refresh token the provider is rotating right now.
		return nil, fmt.Errorf("oauth: lease TTL %s must exceed the token timeout %s", cfg.LeaseTTL, cfg.TokenTimeout)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	m := &Manager{
		cfg:     cfg,
		d:       d,
		v:       d.Vault,
		cat:     d.Catalog,
		log:     d.Log,
		now:     d.Now,
		origin:  u.Scheme + "://" + u.Host,
		backoff: firstBackoff,
		bg:      map[string]struct{}{},
		done:    make(chan struct{}),
	}
	if d.Redis != nil {
		m.locker = redislock.New(d.Redis)
	}
	return m, nil
}

// Close stops new background refreshes, makes refreshes that wait for a
// lease give up, and waits for the running ones (a token call in progress
// finishes and its result is stored). It is idempotent.
func (m *Manager) Close() {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		close(m.done)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// begin registers one unit of background work; false after Close.
func (m *Manager) begin() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	return true
}

// Stats returns a snapshot of the counters.
func (m *Manager) Stats() Stats {
	return Stats{
		Refreshes:          m.st.refreshes.Load(),
		RefreshFailures:    m.st.refreshFailures.Load(),
		Reauth:             m.st.reauth.Load(),
		LeaseWaits:         m.st.leaseWaits.Load(),
		LeaseErrors:        m.st.leaseErrors.Load(),
		Reused:             m.st.reused.Load(),
		Conflicts:          m.st.conflicts.Load(),
		TokenCalls:         m.st.tokenCalls.Load(),
		ProactiveRefreshes: m.st.proactive.Load(),
	}
}

// ReconnectURL is what reauth_required carries: RedirectURL's origin +
// "/v1/connect/<provider>?app=<app id>&grant=<grant id>" (+
// "&principal=<principal>").
func (m *Manager) ReconnectURL(g vault.Grant) string {
	q := "app=" + url.QueryEscape(g.AppID) + "&grant=" + url.QueryEscape(g.ID)
	if g.Principal != "" {
		q += "&principal=" + url.QueryEscape(g.Principal)
	}
	return m.origin + "/v1/connect/" + url.PathEscape(g.ProviderID) + "?" + q
}

// oauthProvider returns the catalog entry of id when it is an OAuth
// provider: ErrNotFound for an unknown id, ErrNotOAuth otherwise.
func (m *Manager) oauthProvider(id string) (*catalog.Provider, error) {
	p, ok := m.cat.Get(id)
	if !ok {
		return nil, fmt.Errorf("provider %q: %w", id, vault.ErrNotFound)
	}
	if p.OAuth == nil || !slices.Contains(p.Credentials, catalog.KindOAuth2) {
		return nil, fmt.Errorf("provider %q: %w", id, ErrNotOAuth)
	}
	return p, nil
}
