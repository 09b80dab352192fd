package vault_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignoreVersion compares materials without the version they were read at.
var ignoreVersion = cmpopts.IgnoreFields(vault.Material{}, "Version")

// fakeClock is an injectable clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingStore counts the reads the Vault caches, to tell hits from misses.
type countingStore struct {
	vault.Store
	getKey, getGrant, listGrants, getCredential atomic.Int64
	delegatedGrants                             atomic.Int64
	getIdentityProvider, listAgentAccess        atomic.Int64
	touchUser                                   atomic.Int64
}

func (s *countingStore) GetIdentityProvider(ctx context.Context, appID string) (vault.IdentityProvider, error) {
	s.getIdentityProvider.Add(1)
	return s.Store.GetIdentityProvider(ctx, appID)
}

func (s *countingStore) ListAgentAccess(ctx context.Context, appID, agentID string) ([]vault.AgentAccess, error) {
	s.listAgentAccess.Add(1)
	return s.Store.ListAgentAccess(ctx, appID, agentID)
}

func (s *countingStore) TouchUser(ctx context.Context, u vault.User) error {
	s.touchUser.Add(1)
	return s.Store.TouchUser(ctx, u)
}

func (s *countingStore) DelegatedGrants(ctx context.Context, appID, agentID, providerID string) ([]vault.Grant, error) {
	s.delegatedGrants.Add(1)
	return s.Store.DelegatedGrants(ctx, appID, agentID, providerID)
}

func (s *countingStore) GetKey(ctx context.Context, id string) (vault.Key, error) {
	s.getKey.Add(1)
	return s.Store.GetKey(ctx, id)
}

func (s *countingStore) GetGrant(ctx context.Context, appID, id string) (vault.Grant, error) {
	s.getGrant.Add(1)
	return s.Store.GetGrant(ctx, appID, id)
}

func (s *countingStore) ListGrants(ctx context.Context, appID string, f vault.GrantFilter) ([]vault.Grant, error) {
	s.listGrants.Add(1)
	return s.Store.ListGrants(ctx, appID, f)
}

func (s *countingStore) GetCredential(ctx context.Context, appID, id string) (vault.Credential, error) {
	s.getCredential.Add(1)
	return s.Store.GetCredential(ctx, appID, id)
}

// env is a Vault over a fresh SQLite store with two apps.
type env struct {
	v          *vault.Vault
	store      *countingStore
	keys       *vault.Keyring
	clock      *fakeClock
	app, other vault.App
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{
		store: &countingStore{Store: openSQLite(t)},
		keys:  newKeyring(t, "k1", map[string][]byte{"k1": randomKEK(t)}),
		clock: &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)},
	}
	e.v = vault.New(e.store, e.keys, randomKEK(t), vault.Options{Now: e.clock.Now})
	t.Cleanup(e.v.Close)
	var err error
	if e.app, err = e.store.CreateApp(t.Context(), vault.App{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	if e.other, err = e.store.CreateApp(t.Context(), vault.App{Name: "globex"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) agent(t *testing.T, name string) vault.Agent {
	t.Helper()
	a, err := e.store.CreateAgent(t.Context(), vault.Agent{AppID: e.app.ID, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return a
}
