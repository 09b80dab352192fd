package storetest

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func testAgentAccess(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	a1, a2 := mkAgent(t, s, app.ID), mkAgent(t, s, app.ID)
	foreignAgent := mkAgent(t, s, other.ID)
	g := mkGrantAt(t, s, app.ID, "slack", "system", base)
	foreignGrant := mkGrantAt(t, s, other.ID, "slack", "system", base)

	mk := func(agentID, provider, grant string) vault.AgentAccess {
		t.Helper()
		a := vault.AgentAccess{ID: newUUID(t), AppID: app.ID, AgentID: agentID, ProviderID: provider, GrantID: grant, CreatedAt: base}
		wantErr(t, "AddAgentAccess", s.AddAgentAccess(c, a), nil)
		return a
	}
	e1, e2, e3 := mk(a1.ID, "github", ""), mk(a1.ID, "", g.ID), mk(a2.ID, "github", "")

	entry := func(mut func(*vault.AgentAccess)) vault.AgentAccess {
		x := vault.AgentAccess{ID: newUUID(t), AppID: app.ID, AgentID: a2.ID, ProviderID: "slack"}
		mut(&x)
		return x
	}
	for _, tc := range []struct {
		name string
		a    vault.AgentAccess
		err  error
	}{
		{"same provider entry", entry(func(x *vault.AgentAccess) { x.AgentID, x.ProviderID = a1.ID, "github" }), vault.ErrConflict},
		{"same grant entry", entry(func(x *vault.AgentAccess) { x.AgentID, x.ProviderID, x.GrantID = a1.ID, "", g.ID }), vault.ErrConflict},
		{"duplicate id", entry(func(x *vault.AgentAccess) { x.ID = e1.ID }), vault.ErrConflict},
		{"agent of another app", entry(func(x *vault.AgentAccess) { x.AgentID = foreignAgent.ID }), vault.ErrNotFound},
		{"grant of another app", entry(func(x *vault.AgentAccess) { x.ProviderID, x.GrantID = "", foreignGrant.ID }), vault.ErrNotFound},
		{"missing grant", entry(func(x *vault.AgentAccess) { x.ProviderID, x.GrantID = "", newUUID(t) }), vault.ErrNotFound},
		{"missing agent", entry(func(x *vault.AgentAccess) { x.AgentID = newUUID(t) }), vault.ErrNotFound},
		{"missing app", entry(func(x *vault.AgentAccess) { x.AppID = newUUID(t) }), vault.ErrNotFound},
		{"neither", entry(func(x *vault.AgentAccess) { x.ProviderID = "" }), vault.ErrInvalid},
		{"both", entry(func(x *vault.AgentAccess) { x.GrantID = g.ID }), vault.ErrInvalid},
		{"bad provider", entry(func(x *vault.AgentAccess) { x.ProviderID = "Slack!" }), vault.ErrInvalid},
		{"non-uuid grant", entry(func(x *vault.AgentAccess) { x.ProviderID, x.GrantID = "", "g1" }), vault.ErrInvalid},
		{"non-uuid agent", entry(func(x *vault.AgentAccess) { x.AgentID = a2.Name }), vault.ErrInvalid},
		{"non-uuid id", entry(func(x *vault.AgentAccess) { x.ID = "e1" }), vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "AddAgentAccess", s.AddAgentAccess(c, tc.a), tc.err)
		})
	}

	list := func(t *testing.T, appID, agentID string, want []vault.AgentAccess) {
		t.Helper()
		got, err := s.ListAgentAccess(c, appID, agentID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("ListAgentAccess(%q) (-want +got):\n%s", agentID, d)
		}
	}
	list(t, app.ID, "", []vault.AgentAccess{e1, e2, e3})
	list(t, app.ID, a1.ID, []vault.AgentAccess{e1, e2})
	list(t, app.ID, a2.ID, []vault.AgentAccess{e3})
	list(t, other.ID, "", []vault.AgentAccess{})
	list(t, other.ID, a1.ID, []vault.AgentAccess{})

	wantErr(t, "RemoveAgentAccess other app", s.RemoveAgentAccess(c, other.ID, e3.ID), vault.ErrNotFound)
	wantErr(t, "RemoveAgentAccess", s.RemoveAgentAccess(c, app.ID, e3.ID), nil)
	wantErr(t, "RemoveAgentAccess again", s.RemoveAgentAccess(c, app.ID, e3.ID), vault.ErrNotFound)
	list(t, app.ID, "", []vault.AgentAccess{e1, e2})

	// Deleting an agent deletes its entries (in the same transaction), not
	// the others'.
	e4 := mk(a2.ID, "", g.ID)
	wantErr(t, "DeleteAgent", s.DeleteAgent(c, app.ID, a1.ID), nil)
	list(t, app.ID, "", []vault.AgentAccess{e4})
}
