package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/admin"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// Bounds of the policy and identity wiring.
const (
	// policyStoreTimeout bounds reading the app policies during a reload.
	policyStoreTimeout = 10 * time.Second
	// jwksTimeout bounds one fetch of an identity provider's discovery
	// document or JWKS.
	jwksTimeout = 10 * time.Second
	// rateLimitKeyPrefix follows redis.prefix in the rate-limit buckets'
	// Redis keys.
	rateLimitKeyPrefix = "ratelimit:"
)

// policyLoader builds the policy: the rule files of the watched directory
// (policy.dirs[0], reloaded on change by Engine.Watch), the files of the
// other policy.dirs and every app's stored policy (both re-read on every
// reload: a file change in the watched directory or an app policy change
// on any replica).
type policyLoader struct {
	engine *policy.Engine
	dir    string   // watched; "" when policy.dirs is empty
	more   []string // re-read on every reload
	cfg    policy.Config
	lim    policy.Limiter
	store  vault.Store
	log    *slog.Logger

	reloadMu sync.Mutex // serialises the reloads this process starts

	mu       sync.Mutex
	loadErr  error          // last failed load, until a later one swaps a policy in
	failedAt *policy.Policy // the policy in force when loadErr happened
	extraErr error          // problems of the last extra rules collection
	lastGood map[string][]policy.Rule
}

// openPolicy builds the policy engine and loads it once, so the proxy
// never serves a request before the first load. A policy that does not
// load is logged and every call is denied until a valid one is loaded.
// Needs s.store; rc is the Redis client (nil without redis.url).
func (s *server) openPolicy(cfg Config, rc redis.UniversalClient) error {
	l := &policyLoader{
		engine:   policy.NewEngine(nil),
		cfg:      policy.Config{DefaultEffect: policy.Effect(cfg.Policy.DefaultEffect)},
		store:    s.store,
		log:      s.log,
		lastGood: map[string][]policy.Rule{},
	}
	if rc != nil {
		l.lim = policy.NewRedisLimiter(rc, cfg.Redis.Prefix+rateLimitKeyPrefix)
	} else {
		l.lim = policy.NewMemoryLimiter(time.Now)
	}
	if len(cfg.Policy.Dirs) > 0 {
		l.dir, l.more = cfg.Policy.Dirs[0], cfg.Policy.Dirs[1:]
		// The watched directory must exist to be watched; creating it lets
		// rules be dropped in later without a restart.
		if err := os.MkdirAll(l.dir, 0o700); err != nil {
			return fmt.Errorf("policy.dirs[0]: %w", err)
		}
	}
	// The hook first, so an app policy changed during the first load
	// triggers another (reloads are serialised).
	s.vault.OnPolicyChange(l.reload)
	l.reload()
	s.policy = l
	return nil
}

// watch runs Engine.Watch on the first policy directory until ctx ends.
func (l *policyLoader) watch(ctx context.Context) {
	if l.dir == "" {
		return
	}
	if err := l.engine.Watch(ctx, l.dir, l.cfg, l.lim, l.extra, l.failed); err != nil {
		l.log.Error("policy: cannot watch the policy directory; rule file changes need a restart", "dir", l.dir, "err", err)
	}
}

// reload loads every source again (called after an app policy changed,
// on any replica).
func (l *policyLoader) reload() {
	l.reloadMu.Lock()
	defer l.reloadMu.Unlock()
	if err := l.engine.Reload(l.dir, l.cfg, l.lim, l.extra); err != nil {
		l.failed(err)
		return
	}
	l.log.Info("policy loaded", "rules", l.engine.Policy().Len())
}

// failed records and logs a load that kept the previous policy.
func (l *policyLoader) failed(err error) {
	cur := l.engine.Policy()
	l.mu.Lock()
	l.loadErr, l.failedAt = err, cur
	l.mu.Unlock()
	if cur == nil {
		l.log.Error("policy: no valid policy loaded; every proxied call is denied until the errors are fixed", "err", err)
		return
	}
	l.log.Error("policy: reload failed; the last good policy stays in force", "err", err)
}

// status is the policy's health for /readyz: nil, or what went wrong.
func (l *policyLoader) status() error {
	cur := l.engine.Policy()
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if cur == nil {
		errs = append(errs, errors.New("no valid policy loaded: every proxied call is denied"))
	}
	if l.loadErr != nil && l.failedAt == cur { // no successful load since
		errs = append(errs, l.loadErr)
	}
	if l.extraErr != nil {
		errs = append(errs, l.extraErr)
	}
	return errors.Join(errs...)
}

// extra returns the rules besides the watched directory's: the other
// directories' files and the app policies. A source that cannot be read
// keeps its last good rules (and is reported); an app policy that no
// longer parses (a document stored by an older version) is replaced by a
// rule denying every call of that app, so it fails closed without
// touching the other apps.
func (l *policyLoader) extra() []policy.Rule {
	var rules, errs = []policy.Rule{}, []error{}
	for _, d := range l.more {
		rs, err := policy.LoadDir(d)
		if err != nil {
			errs = append(errs, err)
			rs = l.keep("dir:"+d, nil, false)
		} else {
			l.keep("dir:"+d, rs, true)
		}
		rules = append(rules, rs...)
	}
	appRules, err := l.appRules()
	if err != nil {
		errs = append(errs, fmt.Errorf("app policies (the last ones read stay in force): %w", err))
		appRules = l.keep("apps", nil, false)
	} else {
		l.keep("apps", appRules, true)
	}
	rules = append(rules, appRules...)
	joined := errors.Join(errs...)
	if joined != nil {
		l.log.Error("policy: some rules could not be read", "err", joined)
	}
	l.mu.Lock()
	l.extraErr = joined
	l.mu.Unlock()
	return rules
}

// keep stores rs as source's last good rules when ok, else returns them.
func (l *policyLoader) keep(source string, rs []policy.Rule, ok bool) []policy.Rule {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ok {
		l.lastGood[source] = rs
		return rs
	}
	return l.lastGood[source]
}

// appRules reads every app's stored policy, scoped to its app.
func (l *policyLoader) appRules() ([]policy.Rule, error) {
	ctx, cancel := context.WithTimeout(context.Background(), policyStoreTimeout)
	defer cancel()
	pols, err := l.store.ListAppPolicies(ctx)
	if err != nil {
		return nil, err
	}
	if len(pols) == 0 {
		return nil, nil
	}
	apps, err := l.store.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]vault.App, len(apps))
	for _, a := range apps {
		byID[a.ID] = a
	}
	var rules []policy.Rule
	for _, p := range pols {
		app, ok := byID[p.AppID]
		if !ok {
			continue // the app is gone; its policy has nothing to apply to
		}
		rs, err := admin.AppRules(app, p.Document)
		if err != nil {
			l.log.Error("policy: an app's stored policy no longer validates; all its calls are denied until it is set again",
				"app_id", app.ID, "app", app.Name, "err", err)
			rs = []policy.Rule{{
				Name:        app.Name + admin.AppRuleSeparator + "invalid-policy",
				Description: "the app's stored policy does not validate; set it again with `gatehouse policy set`",
				Effect:      policy.EffectDeny,
				Match:       policy.Selector{Apps: []string{app.ID}},
			}}
		}
		rules = append(rules, rs...)
	}
	return rules, nil
}

// openIdentity builds the registry that verifies Gatehouse-User JWTs
// against each app's identity provider; JWKS are fetched through the
// egress transport (s.egress) like every outbound call.
func (s *server) openIdentity() {
	v := s.vault
	lookup := func(ctx context.Context, appID string) (identity.Provider, time.Time, error) {
		p, err := v.IdentityProvider(ctx, appID)
		if errors.Is(err, vault.ErrNotFound) {
			return identity.Provider{}, time.Time{}, fmt.Errorf("app %s: %w", appID, identity.ErrNotConfigured)
		}
		if err != nil {
			return identity.Provider{}, time.Time{}, err
		}
		return admin.IdentityConfig(p), p.UpdatedAt, nil
	}
	client := &http.Client{
		Transport: s.egress,
		Timeout:   jwksTimeout,
		// The identity provider's keys come from the configured URLs only.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.users = identity.NewRegistry(lookup, client, nil)
	s.closers = append(s.closers, s.users.Close)
}
