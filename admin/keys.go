package admin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// createKeyRequest is the body of POST /v1/apps/{app}/keys; an empty body
// mints an app key.
type createKeyRequest struct {
	Agent string `json:"agent,omitempty"` // agent name or id; empty for an app key
}

// createdKey is the answer to POST /v1/apps/{app}/keys; the plaintext key
// is shown only here.
type createdKey struct {
	vault.Key
	Plaintext string `json:"key"`
}

// createKey handles POST /v1/apps/{app}/keys → 201 {id,key,…}.
func (a *api) createKey(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	var req createKeyRequest
	if err := decodeBody(w, r, &req, true); err != nil {
		return err
	}
	agentID := ""
	if req.Agent != "" {
		agent, err := a.agent(r.Context(), app.ID, req.Agent)
		if errors.Is(err, vault.ErrNotFound) {
			return invalid("agent %q does not exist in app %q", req.Agent, app.Name)
		}
		if err != nil {
			return err
		}
		agentID = agent.ID
	}
	plaintext, key, err := a.vault.IssueKey(r.Context(), app.ID, agentID)
	if err != nil {
		return about("key", err)
	}
	ev := auditAdmin(app.ID, "key.create")
	ev.KeyID, ev.AgentID = key.ID, agentID
	a.record(r, ev)
	writeJSON(w, http.StatusCreated, createdKey{Key: key, Plaintext: plaintext})
	return nil
}

// listKeys handles GET /v1/apps/{app}/keys → [Key] (never a secret).
func (a *api) listKeys(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	keys, err := a.store.ListKeys(r.Context(), app.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(keys))
	return nil
}

// revokeKey handles DELETE /v1/apps/{app}/keys/{key} → the revoked Key.
// Revoking a revoked key succeeds and keeps the first revocation time.
func (a *api) revokeKey(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	id := r.PathValue("key")
	subject := fmt.Sprintf("key %q", id)
	if err := a.vault.RevokeKey(r.Context(), app.ID, id); err != nil {
		return about(subject, err)
	}
	key, err := a.store.GetKey(r.Context(), id)
	if err != nil {
		return about(subject, err)
	}
	if key.AppID != app.ID { // cannot happen after a scoped revoke; never leak another app's key
		return about(subject, vault.ErrNotFound)
	}
	ev := auditAdmin(app.ID, "key.revoke")
	ev.KeyID, ev.AgentID = key.ID, key.AgentID
	a.record(r, ev)
	writeJSON(w, http.StatusOK, key)
	return nil
}

// Bounds of a rotation's grace period: long enough to redeploy callers,
// short enough that a replaced key does not linger.
const (
	defaultRotateGrace = 24 * time.Hour
	maxRotateGrace     = 30 * 24 * time.Hour
)

// rotateKeyRequest is the body of POST /v1/apps/{app}/keys/{key}/rotate;
// an empty body uses the default grace (24h). Grace "0s" revokes the old
// key at once.
type rotateKeyRequest struct {
	Grace *string `json:"grace,omitempty"`
}

// rotatedKey is the answer to a rotation: the new key (plaintext shown
// only here) and the key it replaces, now deprecated.
type rotatedKey struct {
	createdKey
	Replaced vault.Key `json:"replaced"`
}

// rotateKey handles POST /v1/apps/{app}/keys/{key}/rotate {"grace"} → 201
// rotatedKey: a new key for the same app or agent; the old one keeps
// authenticating until the grace period ends, then counts as revoked.
func (a *api) rotateKey(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	var req rotateKeyRequest
	if err := decodeBody(w, r, &req, true); err != nil {
		return err
	}
	grace := defaultRotateGrace
	if req.Grace != nil {
		if grace, err = time.ParseDuration(*req.Grace); err != nil {
			return invalid("field \"grace\" is not a duration such as 24h")
		}
		if grace < 0 || grace > maxRotateGrace {
			return invalid("field \"grace\" must be between 0s and %s", maxRotateGrace)
		}
	}
	id := r.PathValue("key")
	subject := fmt.Sprintf("key %q", id)
	plaintext, key, err := a.vault.RotateKey(r.Context(), app.ID, id, grace)
	if err != nil {
		return aboutConflict(subject, subject+" is not active (only an active key can be rotated)", err)
	}
	old, err := a.store.GetKey(r.Context(), id)
	if err != nil {
		return about(subject, err)
	}
	if old.AppID != app.ID { // cannot happen after a scoped rotation; never leak another app's key
		return about(subject, vault.ErrNotFound)
	}
	ev := auditAdmin(app.ID, "key.rotate")
	ev.KeyID, ev.AgentID = key.ID, key.AgentID
	a.record(r, ev)
	writeJSON(w, http.StatusCreated, rotatedKey{createdKey: createdKey{Key: key, Plaintext: plaintext}, Replaced: old})
	return nil
}
