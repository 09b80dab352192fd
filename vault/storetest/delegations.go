package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func mkDelegation(t *testing.T, s vault.Store, g vault.Grant, agentID string) vault.Delegation {
	t.Helper()
	d := vault.Delegation{ID: newUUID(t), AppID: g.AppID, GrantID: g.ID, AgentID: agentID, CreatedAt: base}
	if err := s.CreateDelegation(ctx(t), d); err != nil {
		t.Fatalf("CreateDelegation: %v", err)
	}
	return d
}

// mkGrantAt is mkGrant with its own credential and creation time.
func mkGrantAt(t *testing.T, s vault.Store, appID, provider, principal string, at time.Time) vault.Grant {
	t.Helper()
	cr := mkCred(t, s, appID, provider)
	g := vault.Grant{
		ID: newUUID(t), AppID: appID, CredentialID: cr.ID, ProviderID: provider,
		Principal: principal, Status: vault.StatusActive, CreatedAt: at, UpdatedAt: at,
	}
	if err := s.CreateGrant(ctx(t), g); err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	return g
}

func testDelegations(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	a1, a2 := mkAgent(t, s, app.ID), mkAgent(t, s, app.ID)
	foreignAgent := mkAgent(t, s, other.ID)
	g1 := mkGrantAt(t, s, app.ID, "slack", "user:alice", base)
	g2 := mkGrantAt(t, s, app.ID, "github", "user:alice", base)
	foreignGrant := mkGrantAt(t, s, other.ID, "slack", "user:alice", base)
	d1, d2, d3 := mkDelegation(t, s, g1, a1.ID), mkDelegation(t, s, g2, a1.ID), mkDelegation(t, s, g1, a2.ID)

	del := func(mut func(*vault.Delegation)) vault.Delegation {
		x := vault.Delegation{ID: newUUID(t), AppID: app.ID, GrantID: g2.ID, AgentID: a2.ID}
		mut(&x)
		return x
	}
	for _, tc := range []struct {
		name string
		d    vault.Delegation
		err  error
	}{
		{"same grant and agent", del(func(x *vault.Delegation) { x.GrantID, x.AgentID = g1.ID, a1.ID }), vault.ErrConflict},
		{"duplicate id", del(func(x *vault.Delegation) { x.ID = d1.ID }), vault.ErrConflict},
		{"grant of another app", del(func(x *vault.Delegation) { x.GrantID = foreignGrant.ID }), vault.ErrNotFound},
		{"agent of another app", del(func(x *vault.Delegation) { x.AgentID = foreignAgent.ID }), vault.ErrNotFound},
		{"missing grant", del(func(x *vault.Delegation) { x.GrantID = newUUID(t) }), vault.ErrNotFound},
		{"missing agent", del(func(x *vault.Delegation) { x.AgentID = newUUID(t) }), vault.ErrNotFound},
		{"missing app", del(func(x *vault.Delegation) { x.AppID = newUUID(t) }), vault.ErrNotFound},
		{"non-uuid id", del(func(x *vault.Delegation) { x.ID = "d1" }), vault.ErrInvalid},
		{"non-uuid grant", del(func(x *vault.Delegation) { x.GrantID = "g1" }), vault.ErrInvalid},
		{"non-uuid agent", del(func(x *vault.Delegation) { x.AgentID = a2.Name }), vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "CreateDelegation", s.CreateDelegation(c, tc.d), tc.err)
		})
	}

	list := func(t *testing.T, appID string, f vault.DelegationFilter, want []vault.Delegation) {
		t.Helper()
		got, err := s.ListDelegations(c, appID, f)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("ListDelegations(%+v) (-want +got):\n%s", f, d)
		}
	}
	for _, tc := range []struct {
		name string
		f    vault.DelegationFilter
		want []vault.Delegation
	}{
		{"all", vault.DelegationFilter{}, []vault.Delegation{d1, d2, d3}},
		{"grant", vault.DelegationFilter{GrantID: g1.ID}, []vault.Delegation{d1, d3}},
		{"agent", vault.DelegationFilter{AgentID: a1.ID}, []vault.Delegation{d1, d2}},
		{"both", vault.DelegationFilter{GrantID: g1.ID, AgentID: a2.ID}, []vault.Delegation{d3}},
		{"none", vault.DelegationFilter{GrantID: foreignGrant.ID}, []vault.Delegation{}},
	} {
		t.Run("list "+tc.name, func(t *testing.T) { list(t, app.ID, tc.f, tc.want) })
	}
	list(t, other.ID, vault.DelegationFilter{}, []vault.Delegation{})

	wantErr(t, "DeleteDelegation", s.DeleteDelegation(c, app.ID, d3.ID), nil)
	wantErr(t, "DeleteDelegation again", s.DeleteDelegation(c, app.ID, d3.ID), vault.ErrNotFound)
	list(t, app.ID, vault.DelegationFilter{}, []vault.Delegation{d1, d2})
	if _, err := s.GetGrant(c, app.ID, g1.ID); err != nil {
		t.Fatalf("deleting a delegation touched its grant: %v", err)
	}

	// Deleting the agent deletes its delegations, not the others'.
	d4 := mkDelegation(t, s, g2, a2.ID)
	wantErr(t, "DeleteAgent", s.DeleteAgent(c, app.ID, a1.ID), nil)
	list(t, app.ID, vault.DelegationFilter{}, []vault.Delegation{d4})
}

func testDelegatedGrants(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	agent, peer := mkAgent(t, s, app.ID), mkAgent(t, s, app.ID)
	newer := mkGrantAt(t, s, app.ID, "slack", "user:alice", base.Add(time.Hour))
	older := mkGrantAt(t, s, app.ID, "slack", "user:bob", base)
	revoked := mkGrantAt(t, s, app.ID, "slack", "user:carol", base)
	reauth := mkGrantAt(t, s, app.ID, "slack", "user:dave", base)
	github := mkGrantAt(t, s, app.ID, "github", "user:alice", base)
	mkGrantAt(t, s, app.ID, "slack", "user:erin", base) // not delegated
	peers := mkGrantAt(t, s, app.ID, "slack", "user:frank", base)
	for _, g := range []vault.Grant{newer, older, revoked, reauth, github} {
		mkDelegation(t, s, g, agent.ID)
	}
	mkDelegation(t, s, peers, peer.ID)
	wantErr(t, "revoke", s.SetGrantStatus(c, app.ID, revoked.ID, vault.StatusRevoked), nil)
	wantErr(t, "needs_reauth", s.SetGrantStatus(c, app.ID, reauth.ID, vault.StatusNeedsReauth), nil)

	check := func(t *testing.T, appID, agentID, provider string, want []vault.Grant) {
		t.Helper()
		got, err := s.DelegatedGrants(c, appID, agentID, provider)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("DelegatedGrants(%s) (-want +got):\n%s", provider, d)
		}
	}
	check(t, app.ID, agent.ID, "slack", []vault.Grant{older, newer})
	check(t, app.ID, agent.ID, "github", []vault.Grant{github})
	check(t, app.ID, agent.ID, "zoom", []vault.Grant{})
	check(t, app.ID, peer.ID, "slack", []vault.Grant{peers})
	check(t, other.ID, agent.ID, "slack", []vault.Grant{})
	check(t, app.ID, "not-an-agent", "slack", []vault.Grant{})

	ds, err := s.ListDelegations(c, app.ID, vault.DelegationFilter{GrantID: older.ID})
	if err != nil || len(ds) != 1 {
		t.Fatalf("ListDelegations = %v, %v", ds, err)
	}
	wantErr(t, "DeleteDelegation", s.DeleteDelegation(c, app.ID, ds[0].ID), nil)
	check(t, app.ID, agent.ID, "slack", []vault.Grant{newer})
	wantErr(t, "revoke newer", s.SetGrantStatus(c, app.ID, newer.ID, vault.StatusRevoked), nil)
	check(t, app.ID, agent.ID, "slack", []vault.Grant{})
}
