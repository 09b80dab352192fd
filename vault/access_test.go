package vault_test

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func TestAccessGrants(t *testing.T) {
	e := newEnv(t)
	c := t.Context()
	agent, peer := e.agent(t, "worker"), e.agent(t, "peer")
	put := func(provider, principal string) vault.Grant {
		t.Helper()
		e.clock.Advance(time.Second) // distinct creation times: a stable order
		g, _, err := e.v.PutSecret(c, e.app.ID, provider, vault.KindAPIKey, principal, vault.Material{Token: "t"})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	sys1, sys2 := put("slack", "system"), put("slack", "system")
	user := put("slack", "user:alice")
	ghSys, ghUser := put("github", "system"), put("github", "user:bob")
	revoked := put("slack", "user:carol")
	if err := e.v.RevokeGrant(c, e.app.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	foreign, _, err := e.v.PutSecret(c, e.other.ID, "slack", vault.KindAPIKey, "system", vault.Material{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	foreignAgent, err := e.store.CreateAgent(c, vault.Agent{AppID: e.other.ID, Name: "worker"})
	if err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, agentID, provider string, want []vault.Grant) {
		t.Helper()
		got, err := e.v.AccessGrants(c, e.app.ID, agentID, provider)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("AccessGrants(%s) (-want +got):\n%s", provider, d)
		}
	}
	check(t, agent.ID, "slack", []vault.Grant{})

	var entries []vault.AgentAccess
	for _, tc := range []struct {
		name            string
		agentID         string
		provider, grant string
		err             error
		slack, github   []vault.Grant // AccessGrants after the step
	}{
		{"provider entry: its system grants", agent.ID, "slack", "", nil, []vault.Grant{sys1, sys2}, []vault.Grant{}},
		{"grant entry", agent.ID, "", user.ID, nil, []vault.Grant{sys1, sys2, user}, []vault.Grant{}},
		{"grant entry of a system grant: no duplicate", agent.ID, "", sys2.ID, nil, []vault.Grant{sys1, sys2, user}, []vault.Grant{}},
		{"grant entry of another provider", agent.ID, "", ghUser.ID, nil, []vault.Grant{sys1, sys2, user}, []vault.Grant{ghUser}},
		{"provider entry of another provider", agent.ID, "github", "", nil, []vault.Grant{sys1, sys2, user}, []vault.Grant{ghSys, ghUser}},
		{"duplicate entry", agent.ID, "slack", "", vault.ErrConflict, []vault.Grant{sys1, sys2, user}, []vault.Grant{ghSys, ghUser}},
		{"revoked grant", agent.ID, "", revoked.ID, vault.ErrConflict, nil, nil},
		{"grant of another app", agent.ID, "", foreign.ID, vault.ErrNotFound, nil, nil},
		{"missing grant", agent.ID, "", "0195f6a2-0000-7000-8000-00000000dead", vault.ErrNotFound, nil, nil},
		{"agent of another app", foreignAgent.ID, "slack", "", vault.ErrNotFound, nil, nil},
		{"agent name instead of id", "worker", "slack", "", vault.ErrNotFound, nil, nil},
		{"neither", agent.ID, "", "", vault.ErrInvalid, nil, nil},
		{"both", agent.ID, "slack", user.ID, vault.ErrInvalid, nil, nil},
		{"bad provider", agent.ID, "Slack!", "", vault.ErrInvalid, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			warmAccess(t, e, agent.ID) // the write must invalidate what this caches
			a, err := e.v.AddAgentAccess(c, e.app.ID, tc.agentID, tc.provider, tc.grant)
			wantIs(t, "AddAgentAccess", err, tc.err)
			if err == nil {
				want := vault.AgentAccess{ID: a.ID, AppID: e.app.ID, AgentID: tc.agentID, ProviderID: tc.provider, GrantID: tc.grant, CreatedAt: e.clock.Now()}
				if d := cmp.Diff(want, a); d != "" {
					t.Fatalf("AddAgentAccess (-want +got):\n%s", d)
				}
				entries = append(entries, a)
			}
			if tc.slack != nil {
				check(t, agent.ID, "slack", tc.slack)
				check(t, agent.ID, "github", tc.github)
			}
		})
	}
	check(t, peer.ID, "slack", []vault.Grant{})

	// Cached: repeated calls read the store once.
	check(t, agent.ID, "slack", []vault.Grant{sys1, sys2, user})
	before := e.store.listAgentAccess.Load()
	for range 3 {
		check(t, agent.ID, "slack", []vault.Grant{sys1, sys2, user})
	}
	if n := e.store.listAgentAccess.Load() - before; n != 0 {
		t.Fatalf("cached AccessGrants read the store %d times", n)
	}

	// A grant's status change, an entry's removal and the agent's deletion
	// are all seen at once.
	if err := e.v.RevokeGrant(c, e.app.ID, sys1.ID); err != nil {
		t.Fatal(err)
	}
	check(t, agent.ID, "slack", []vault.Grant{sys2, user})
	wantIs(t, "RemoveAgentAccess of another app", e.v.RemoveAgentAccess(c, e.other.ID, entries[1].ID), vault.ErrNotFound)
	wantIs(t, "RemoveAgentAccess", e.v.RemoveAgentAccess(c, e.app.ID, entries[1].ID), nil) // the grant entry of user
	check(t, agent.ID, "slack", []vault.Grant{sys2})
	wantIs(t, "RemoveAgentAccess again", e.v.RemoveAgentAccess(c, e.app.ID, entries[1].ID), vault.ErrNotFound)
	if got, err := e.v.AccessGrants(c, e.other.ID, agent.ID, "slack"); err != nil || len(got) != 0 {
		t.Fatalf("AccessGrants of this agent under another app: %v, %v; want none", got, err)
	}
	wantIs(t, "DeleteAgent", e.v.DeleteAgent(c, e.app.ID, agent.ID), nil)
	check(t, agent.ID, "slack", []vault.Grant{})
	if left, err := e.store.ListAgentAccess(c, e.app.ID, agent.ID); err != nil || len(left) != 0 {
		t.Fatalf("entries left after DeleteAgent: %v, %v", left, err)
	}
}

// warmAccess reads the agent's slack access grants, filling the cache.
func warmAccess(t *testing.T, e *env, agentID string) {
	t.Helper()
	if _, err := e.v.AccessGrants(t.Context(), e.app.ID, agentID, "slack"); err != nil {
		t.Fatal(err)
	}
}
