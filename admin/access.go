package admin

import (
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// accessRequest is the body of POST /v1/apps/{app}/agents/{agent}/access:
// exactly one of a provider (the app's system grants for it) and a grant.
type accessRequest struct {
	Provider string `json:"provider"`
	Grant    string `json:"grant"`
}

// accessView is an access-set entry with its agent's name.
type accessView struct {
	vault.AgentAccess
	Agent string `json:"agent"`
}

// addAccess handles POST /v1/apps/{app}/agents/{agent}/access → 201
// accessView: the agent may use the grant, or the system grants of the
// provider (still subject to the policy).
func (a *api) addAccess(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	agent, err := a.agent(r.Context(), app.ID, r.PathValue("agent"))
	if err != nil {
		return err
	}
	var req accessRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if (req.Provider == "") == (req.Grant == "") {
		return invalid("give exactly one of the fields \"provider\" and \"grant\"")
	}
	subject := fmt.Sprintf("access of agent %q", agent.Name)
	ev := auditAdmin(app.ID, "access.add")
	ev.AgentID, ev.Principal = agent.ID, vault.PrincipalAgentPrefix+agent.Name
	if req.Provider != "" {
		if _, ok := a.catalog.Get(req.Provider); !ok {
			return invalid("provider %q is not in the catalog (see GET /v1/providers)", req.Provider)
		}
		subject = fmt.Sprintf("access of agent %q to provider %q", agent.Name, req.Provider)
		ev.ProviderID = req.Provider
	} else {
		g, gsubject, err := a.grantByID(r.Context(), app.ID, req.Grant)
		if err != nil {
			return err
		}
		if g.Status == vault.StatusRevoked {
			return aboutConflict(gsubject, gsubject+" is revoked", vault.ErrConflict)
		}
		subject = fmt.Sprintf("access of agent %q to %s", agent.Name, gsubject)
		ev.GrantID, ev.ProviderID = g.ID, g.ProviderID
	}
	acc, err := a.vault.AddAgentAccess(r.Context(), app.ID, agent.ID, req.Provider, req.Grant)
	if err != nil {
		return about(subject, err)
	}
	a.record(r, ev)
	writeJSON(w, http.StatusCreated, accessView{AgentAccess: acc, Agent: agent.Name})
	return nil
}

// listAccess handles GET /v1/apps/{app}/agents/{agent}/access →
// [accessView].
func (a *api) listAccess(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	agent, err := a.agent(r.Context(), app.ID, r.PathValue("agent"))
	if err != nil {
		return err
	}
	entries, err := a.store.ListAgentAccess(r.Context(), app.ID, agent.ID)
	if err != nil {
		return err
	}
	out := make([]accessView, 0, len(entries))
	for _, e := range entries {
		out = append(out, accessView{AgentAccess: e, Agent: agent.Name})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listAppAccess handles GET /v1/apps/{app}/access → [accessView], every
// agent's entries (how the CLI finds an entry by id alone).
func (a *api) listAppAccess(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	entries, err := a.store.ListAgentAccess(r.Context(), app.ID, "")
	if err != nil {
		return err
	}
	agents, err := a.store.ListAgents(r.Context(), app.ID)
	if err != nil {
		return err
	}
	names := make(map[string]string, len(agents))
	for _, ag := range agents {
		names[ag.ID] = ag.Name
	}
	out := make([]accessView, 0, len(entries))
	for _, e := range entries {
		out = append(out, accessView{AgentAccess: e, Agent: names[e.AgentID]})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// removeAccess handles DELETE /v1/apps/{app}/agents/{agent}/access/{id}
// → the removed accessView. The grant itself stays.
func (a *api) removeAccess(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	agent, err := a.agent(r.Context(), app.ID, r.PathValue("agent"))
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	subject := fmt.Sprintf("access entry %q of agent %q", id, agent.Name)
	entries, err := a.store.ListAgentAccess(r.Context(), app.ID, agent.ID)
	if err != nil {
		return err
	}
	var found *vault.AgentAccess
	for i := range entries {
		if entries[i].ID == id {
			found = &entries[i]
			break
		}
	}
	if found == nil {
		return about(subject, vault.ErrNotFound)
	}
	if err := a.vault.RemoveAgentAccess(r.Context(), app.ID, id); err != nil {
		return about(subject, err)
	}
	ev := auditAdmin(app.ID, "access.remove")
	ev.AgentID, ev.Principal = agent.ID, vault.PrincipalAgentPrefix+agent.Name
	ev.GrantID, ev.ProviderID = found.GrantID, found.ProviderID
	a.record(r, ev)
	writeJSON(w, http.StatusOK, accessView{AgentAccess: *found, Agent: agent.Name})
	return nil
}
