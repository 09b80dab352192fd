package vault_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

// errStoreDown is what flakyStore's reads return while it is down.
var errStoreDown = errors.New("store unreachable (test)")

// flakyStore wraps a Store; while down, the reads the vault caches and Ping
// fail with errStoreDown. Writes always pass through.
type flakyStore struct {
	vault.Store
	down atomic.Bool
}

func (s *flakyStore) fail() error {
	if s.down.Load() {
		return errStoreDown
	}
	return nil
}

func (s *flakyStore) GetKey(ctx context.Context, id string) (vault.Key, error) {
	if err := s.fail(); err != nil {
		return vault.Key{}, err
	}
	return s.Store.GetKey(ctx, id)
}

func (s *flakyStore) GetGrant(ctx context.Context, appID, id string) (vault.Grant, error) {
	if err := s.fail(); err != nil {
		return vault.Grant{}, err
	}
	return s.Store.GetGrant(ctx, appID, id)
}

func (s *flakyStore) ListGrants(ctx context.Context, appID string, f vault.GrantFilter) ([]vault.Grant, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.ListGrants(ctx, appID, f)
}

func (s *flakyStore) GetCredential(ctx context.Context, appID, id string) (vault.Credential, error) {
	if err := s.fail(); err != nil {
		return vault.Credential{}, err
	}
	return s.Store.GetCredential(ctx, appID, id)
}

func (s *flakyStore) DelegatedGrants(ctx context.Context, appID, agentID, providerID string) ([]vault.Grant, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.DelegatedGrants(ctx, appID, agentID, providerID)
}

func (s *flakyStore) GetApp(ctx context.Context, id string) (vault.App, error) {
	if err := s.fail(); err != nil {
		return vault.App{}, err
	}
	return s.Store.GetApp(ctx, id)
}

func (s *flakyStore) GetAgent(ctx context.Context, appID, id string) (vault.Agent, error) {
	if err := s.fail(); err != nil {
		return vault.Agent{}, err
	}
	return s.Store.GetAgent(ctx, appID, id)
}

func (s *flakyStore) Ping(ctx context.Context) error {
	if err := s.fail(); err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

// cacheEnv is one SQLite store (behind a flakyStore), one keyring, one
// pepper and one fake clock, shared by every Vault it makes, like replicas
// sharing a database.
type cacheEnv struct {
	store  *flakyStore
	keys   *vault.Keyring
	pepper []byte
	clock  *fakeClock
	app    vault.App
}

func newCacheEnv(t *testing.T) *cacheEnv {
	t.Helper()
	e := &cacheEnv{
		store:  &flakyStore{Store: openSQLite(t)},
		keys:   newKeyring(t, "k1", map[string][]byte{"k1": randomKEK(t)}),
		pepper: randomKEK(t),
		clock:  &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)},
	}
	var err error
	if e.app, err = e.store.CreateApp(t.Context(), vault.App{Name: "acme", EgressAllow: []string{"example.com"}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// vault returns a Vault over the env's store and clock, closed at cleanup.
func (e *cacheEnv) vault(t *testing.T, opts vault.Options) *vault.Vault {
	t.Helper()
	opts.Now = e.clock.Now
	v := vault.New(e.store, e.keys, e.pepper, opts)
	t.Cleanup(v.Close)
	return v
}

// fixture is what the cached hot path reads: an agent with a key and a
// secret bound to it, plus an app key, and a user's OAuth grant delegated
// to the agent.
type fixture struct {
	agent            vault.Agent
	appKey, agentKey string
	appKeyID         string
	agentKeyID       string
	grant            vault.Grant
	material         vault.Material
	oauth            vault.Grant // "slack" grant of "user:<name>", delegated to the agent
	oauthMaterial    vault.Material
	delegation       vault.Delegation
}

// fixture creates a fixture in the env's app through v. name must be
// unique per app.
func (e *cacheEnv) fixture(t *testing.T, v *vault.Vault, name string) fixture {
	t.Helper()
	return e.fixtureIn(t, v, e.app.ID, name)
}

// fixtureIn creates a fixture in appID through v.
func (e *cacheEnv) fixtureIn(t *testing.T, v *vault.Vault, appID, name string) fixture {
	t.Helper()
	c := t.Context()
	before := v.Stats()
	f := fixture{material: vault.Material{Token: "sk-" + secretMarker + "-" + name}}
	var err error
	if f.agent, err = e.store.CreateAgent(c, vault.Agent{AppID: appID, Name: name}); err != nil {
		t.Fatal(err)
	}
	var k vault.Key
	if f.appKey, k, err = v.IssueKey(c, appID, ""); err != nil {
		t.Fatal(err)
	}
	f.appKeyID = k.ID
	if f.agentKey, k, err = v.IssueKey(c, appID, f.agent.ID); err != nil {
		t.Fatal(err)
	}
	f.agentKeyID = k.ID
	if f.grant, _, err = v.PutSecret(c, appID, "openai", vault.KindAPIKey, "agent:"+name, f.material); err != nil {
		t.Fatal(err)
	}
	f.oauthMaterial = vault.Material{
		AccessToken: "xoxp-" + secretMarker + "-" + name, RefreshToken: "xoxe-" + secretMarker + "-" + name,
		TokenType: "Bearer", Expiry: e.clock.Now().Add(time.Hour), Scopes: []string{"chat:write"},
		GrantType: vault.GrantAuthorizationCode,
	}
	if f.oauth, _, err = v.PutOAuthGrant(c, appID, "slack", "user:"+name, "U-"+name, f.oauthMaterial); err != nil {
		t.Fatal(err)
	}
	if f.delegation, err = v.Delegate(c, appID, f.oauth.ID, name); err != nil {
		t.Fatal(err)
	}
	if v.Health(c).Subscribed {
		// These writes come back through the invalidation channel; one
		// arriving after a test warmed its caches would drop them.
		waitFor(t, "the fixture's own invalidations", func() bool {
			st := v.Stats()
			return st.InvalidationsReceived-before.InvalidationsReceived >= st.InvalidationsPublished-before.InvalidationsPublished
		})
	}
	return f
}

// hotPath is one kind of cached read, as the proxy makes it.
type hotPath struct {
	name string
	read func(ctx context.Context, v *vault.Vault, f fixture) error
}

// hotPaths are every cached read. Each fails when the read errors or
// returns something other than the fixture's active state.
var hotPaths = []hotPath{
	{"Authenticate", func(ctx context.Context, v *vault.Vault, f fixture) error {
		_, err := v.Authenticate(ctx, f.agentKey)
		return err
	}},
	{"CheckKey", func(ctx context.Context, v *vault.Vault, f fixture) error {
		return v.CheckKey(ctx, f.appKeyID)
	}},
	{"Grant", func(ctx context.Context, v *vault.Vault, f fixture) error {
		g, err := v.Grant(ctx, f.grant.AppID, f.grant.ID)
		if err == nil && g.Status != vault.StatusActive {
			err = errors.New("grant is " + g.Status)
		}
		return err
	}},
	{"GrantsFor", func(ctx context.Context, v *vault.Vault, f fixture) error {
		gs, err := v.GrantsFor(ctx, f.grant.AppID, "openai", f.grant.Principal)
		if err == nil && len(gs) != 1 {
			err = errors.New("not exactly one grant")
		}
		return err
	}},
	{"Material", func(ctx context.Context, v *vault.Vault, f fixture) error {
		m, err := v.Material(ctx, f.grant)
		if err == nil && !cmp.Equal(m, f.material, ignoreVersion) {
			err = errors.New("other material")
		}
		return err
	}},
	{"App", func(ctx context.Context, v *vault.Vault, f fixture) error {
		_, err := v.App(ctx, f.grant.AppID)
		return err
	}},
	{"Agent", func(ctx context.Context, v *vault.Vault, f fixture) error {
		_, err := v.Agent(ctx, f.agent.AppID, f.agent.ID)
		return err
	}},
	{"DelegatedGrants", func(ctx context.Context, v *vault.Vault, f fixture) error {
		gs, err := v.DelegatedGrants(ctx, f.agent.AppID, f.agent.ID, "slack")
		if err == nil && (len(gs) != 1 || gs[0].ID != f.oauth.ID) {
			err = errors.New("not exactly the delegated grant")
		}
		return err
	}},
	{"OAuthMaterial", func(ctx context.Context, v *vault.Vault, f fixture) error {
		m, err := v.Material(ctx, f.oauth)
		if err == nil && !cmp.Equal(m, f.oauthMaterial, ignoreVersion) {
			err = errors.New("other material")
		}
		return err
	}},
}

// Indexes into hotPaths for tests that exercise one path.
const (
	pathDelegated = 7
	pathOAuth     = 8
)

// refreshedToken is the access token refreshTokens writes.
const refreshedToken = "xoxp-refreshed"

// refreshTokens replaces the fixture's OAuth access token as a refresh
// does: read from the store, write fenced on the version read.
func refreshTokens(ctx context.Context, v *vault.Vault, f fixture) error {
	m, err := v.MaterialFromStore(ctx, f.oauth.AppID, f.oauth.CredentialID)
	if err != nil {
		return err
	}
	m.AccessToken = refreshedToken
	_, err = v.UpdateTokens(ctx, f.oauth.AppID, f.oauth.CredentialID, m)
	return err
}

// warm runs every hot path once.
func warm(t *testing.T, v *vault.Vault, f fixture) {
	t.Helper()
	for _, p := range hotPaths {
		if err := p.read(t.Context(), v, f); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	}
}

// waitFor polls cond until it holds or 15s pass. It only waits for
// asynchronous events (a published message, a reconnect).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
