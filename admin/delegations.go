package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// delegationRequest is the body of POST
// /v1/apps/{app}/grants/{grant}/delegations.
type delegationRequest struct {
	Agent string `json:"agent"` // name or id
}

// delegationView is a delegation with its agent's name.
type delegationView struct {
	vault.Delegation
	Agent string `json:"agent"`
}

// createDelegation handles POST /v1/apps/{app}/grants/{grant}/delegations
// {"agent"} → 201 delegationView: the agent may use the user's grant.
func (a *api) createDelegation(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	var req delegationRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Agent == "" {
		return invalid("field \"agent\" is required (an agent name or id)")
	}
	g, subject, err := a.grant(r, app.ID)
	if err != nil {
		return err
	}
	switch {
	case g.Status == vault.StatusRevoked:
		return aboutConflict(subject, subject+" is revoked", vault.ErrConflict)
	case !strings.HasPrefix(g.Principal, vault.PrincipalUserPrefix):
		return invalid("%s belongs to %q; only a user's grants are delegated (an agent's own grants use principal agent:<name>)", subject, g.Principal)
	}
	agent, err := a.agent(r.Context(), app.ID, req.Agent)
	if err != nil {
		return err
	}
	d, err := a.vault.Delegate(r.Context(), app.ID, g.ID, agent.Name)
	if err != nil {
		return aboutConflict(subject, fmt.Sprintf("%s is already delegated to agent %q", subject, agent.Name), err)
	}
	ev := grantEvent(app.ID, "delegation.create", g)
	ev.AgentID = agent.ID
	a.record(r, ev)
	writeJSON(w, http.StatusCreated, delegationView{Delegation: d, Agent: agent.Name})
	return nil
}

// listDelegations handles GET /v1/apps/{app}/delegations?grant=&agent= →
// [delegationView]. agent is a name or id; an unknown one is used as an id
// as is (no match), like the audit filter.
func (a *api) listDelegations(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	q, err := queryParams(r, "grant", "agent")
	if err != nil {
		return err
	}
	f := vault.DelegationFilter{GrantID: q["grant"]}
	if f.AgentID, err = a.agentFilter(r.Context(), app.ID, q["agent"]); err != nil {
		return err
	}
	ds, err := a.store.ListDelegations(r.Context(), app.ID, f)
	if err != nil {
		return about("delegation filter", err)
	}
	out, err := a.delegationViews(r.Context(), app.ID, ds)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteDelegation handles DELETE /v1/apps/{app}/delegations/{id} → the
// deleted delegationView. The grant stays.
func (a *api) deleteDelegation(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	subject := fmt.Sprintf("delegation %q", id)
	ds, err := a.store.ListDelegations(r.Context(), app.ID, vault.DelegationFilter{})
	if err != nil {
		return err
	}
	var found *vault.Delegation
	for i := range ds {
		if ds[i].ID == id {
			found = &ds[i]
			break
		}
	}
	if found == nil {
		return about(subject, vault.ErrNotFound)
	}
	if err := a.vault.RemoveDelegation(r.Context(), app.ID, id); err != nil {
		return about(subject, err)
	}
	views, err := a.delegationViews(r.Context(), app.ID, []vault.Delegation{*found})
	if err != nil {
		return err
	}
	ev := auditAdmin(app.ID, "delegation.delete")
	ev.GrantID, ev.AgentID = found.GrantID, found.AgentID
	if g, err := a.store.GetGrant(r.Context(), app.ID, found.GrantID); err == nil {
		ev.ProviderID, ev.Principal = g.ProviderID, g.Principal
	}
	a.record(r, ev)
	writeJSON(w, http.StatusOK, views[0])
	return nil
}

// delegationViews adds the agents' names to ds (empty for an agent that no
// longer exists).
func (a *api) delegationViews(ctx context.Context, appID string, ds []vault.Delegation) ([]delegationView, error) {
	agents, err := a.store.ListAgents(ctx, appID)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(agents))
	for _, ag := range agents {
		names[ag.ID] = ag.Name
	}
	out := make([]delegationView, 0, len(ds))
	for _, d := range ds {
		out = append(out, delegationView{Delegation: d, Agent: names[d.AgentID]})
	}
	return out, nil
}
