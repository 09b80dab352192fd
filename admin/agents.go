package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// createAgentRequest is the body of POST /v1/apps/{app}/agents.
type createAgentRequest struct {
	Name string `json:"name"`
}

// createdAgent is the answer to POST /v1/apps/{app}/agents: the agent and
// its first caller key, whose plaintext is shown only here.
type createdAgent struct {
	vault.Agent
	Key   string `json:"key"`
	KeyID string `json:"key_id"`
}

// cleanupTimeout bounds undoing half of a failed two-step creation.
const cleanupTimeout = 5 * time.Second

// createAgent handles POST /v1/apps/{app}/agents → 201 {id,name,key,…}.
func (a *api) createAgent(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	var req createAgentRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if err := vault.ValidateName("agent", req.Name); err != nil {
		return invalidInput(err)
	}
	subject := fmt.Sprintf("agent %q", req.Name)
	agent, err := a.store.CreateAgent(r.Context(), vault.Agent{AppID: app.ID, Name: req.Name})
	if err != nil {
		return aboutConflict(subject, subject+" already exists in this app", err)
	}
	plaintext, key, err := a.vault.IssueKey(r.Context(), app.ID, agent.ID)
	if err != nil {
		// Do not leave a keyless agent behind; the name stays free to retry.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), cleanupTimeout)
		defer cancel()
		if derr := a.vault.DeleteAgent(ctx, app.ID, agent.ID); derr != nil {
			a.log.Error("admin: could not undo agent creation", "app_id", app.ID, "agent_id", agent.ID, "err", derr)
		}
		return about(subject, err)
	}
	ev := auditAdmin(app.ID, "agent.create")
	ev.AgentID, ev.KeyID, ev.Principal = agent.ID, key.ID, vault.PrincipalAgentPrefix+agent.Name
	a.record(r, ev)
	writeJSON(w, http.StatusCreated, createdAgent{Agent: agent, Key: plaintext, KeyID: key.ID})
	return nil
}

// listAgents handles GET /v1/apps/{app}/agents → [Agent].
func (a *api) listAgents(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	agents, err := a.store.ListAgents(r.Context(), app.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(agents))
	return nil
}

// deleteAgent handles DELETE /v1/apps/{app}/agents/{agent} (name or id) →
// the deleted Agent. Its keys and "agent:<name>" grants are revoked.
func (a *api) deleteAgent(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	agent, err := a.agent(r.Context(), app.ID, r.PathValue("agent"))
	if err != nil {
		return err
	}
	if err := a.vault.DeleteAgent(r.Context(), app.ID, agent.ID); err != nil {
		return about(fmt.Sprintf("agent %q", agent.Name), err)
	}
	ev := auditAdmin(app.ID, "agent.delete")
	ev.AgentID, ev.Principal = agent.ID, vault.PrincipalAgentPrefix+agent.Name
	a.record(r, ev)
	writeJSON(w, http.StatusOK, agent)
	return nil
}

// agent resolves an agent reference (id or name) inside appID.
func (a *api) agent(ctx context.Context, appID, ref string) (vault.Agent, error) {
	subject := fmt.Sprintf("agent %q", ref)
	if vault.IsCanonicalUUID(ref) {
		agent, err := a.store.GetAgent(ctx, appID, ref)
		if err == nil || !errors.Is(err, vault.ErrNotFound) {
			return agent, about(subject, err)
		}
	}
	if vault.ValidateName("agent", ref) != nil {
		return vault.Agent{}, about(subject, vault.ErrNotFound)
	}
	agent, err := a.store.GetAgentByName(ctx, appID, ref)
	return agent, about(subject, err)
}
