package admin

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// secretRequest is the body of POST /v1/apps/{app}/secrets and of PUT
// /v1/apps/{app}/secrets/{grant}. The material is either Value (an api_key
// token, or "username:password" for basic) or Username and Password (basic).
// On rotation Provider, Principal and Kind are optional and, when given,
// must match the grant.
type secretRequest struct {
	Provider  string  `json:"provider"`
	Principal string  `json:"principal"`
	Kind      string  `json:"kind"`
	Value     *string `json:"value"`
	Username  *string `json:"username"`
	Password  *string `json:"password"`
}

// secretView answers secret calls. It never contains material.
type secretView struct {
	GrantID      string `json:"grant_id"`
	CredentialID string `json:"credential_id"`
	Provider     string `json:"provider"`
	Principal    string `json:"principal"`
	Kind         string `json:"kind"`
	Version      int64  `json:"version"`
	Status       string `json:"status"`
	Placeholder  string `json:"placeholder"`
}

func newSecretView(g vault.Grant, c vault.Credential) secretView {
	return secretView{
		GrantID: g.ID, CredentialID: c.ID, Provider: g.ProviderID, Principal: g.Principal,
		Kind: c.Kind, Version: c.Version, Status: g.Status, Placeholder: vault.GrantPlaceholder(g.ID),
	}
}

// putSecret handles POST /v1/apps/{app}/secrets → 201 secretView.
func (a *api) putSecret(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	var req secretRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Provider == "" {
		return invalid("field \"provider\" is required (see GET /v1/providers)")
	}
	p, ok := a.catalog.Get(req.Provider)
	if !ok {
		return invalid("unknown provider %q (see GET /v1/providers)", req.Provider)
	}
	kind := req.Kind
	if kind == "" {
		kind = defaultKind(p)
	}
	if kind != vault.KindAPIKey && kind != vault.KindBasic {
		return invalid("kind %q is not a managed secret kind (api_key or basic)", kind)
	}
	if !p.Accepts(kind) {
		return invalid("provider %q does not accept %s credentials (it accepts: %s)", p.ID, kind, strings.Join(p.Credentials, ", "))
	}
	if req.Principal == "" {
		return invalid("field \"principal\" is required (system, agent:<name> or user:<id>)")
	}
	if err := a.checkPrincipal(r, app, req.Principal); err != nil {
		return err
	}
	m, err := material(kind, req)
	if err != nil {
		return err
	}
	g, c, err := a.vault.PutSecret(r.Context(), app.ID, p.ID, kind, req.Principal, m)
	if err != nil {
		return about("secret", err)
	}
	a.record(r, grantEvent(app.ID, "secret.put", g))
	writeJSON(w, http.StatusCreated, newSecretView(g, c))
	return nil
}

// rotateSecret handles PUT /v1/apps/{app}/secrets/{grant} → secretView with
// the next version.
func (a *api) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	var req secretRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	g, subject, err := a.grant(r, app.ID)
	if err != nil {
		return err
	}
	if g.Status == vault.StatusRevoked {
		return aboutConflict(subject, subject+" is revoked; put a new secret instead", vault.ErrConflict)
	}
	c, err := a.store.GetCredential(r.Context(), app.ID, g.CredentialID)
	if err != nil {
		return about(subject, err)
	}
	switch {
	case req.Provider != "" && req.Provider != g.ProviderID:
		return invalid("%s belongs to provider %q, not %q", subject, g.ProviderID, req.Provider)
	case req.Principal != "" && req.Principal != g.Principal:
		return invalid("%s belongs to principal %q, not %q", subject, g.Principal, req.Principal)
	case req.Kind != "" && req.Kind != c.Kind:
		return invalid("%s holds a %s credential, not %s", subject, c.Kind, req.Kind)
	}
	m, err := material(c.Kind, req)
	if err != nil {
		return err
	}
	next, err := a.vault.RotateSecret(r.Context(), app.ID, g.ID, m)
	if err != nil {
		return aboutConflict(subject, subject+" was revoked or rotated concurrently; retry", err)
	}
	a.record(r, grantEvent(app.ID, "secret.rotate", g))
	writeJSON(w, http.StatusOK, newSecretView(g, next))
	return nil
}

// deleteSecret handles DELETE /v1/apps/{app}/secrets/{grant}: the
// credential is deleted and the grant revoked → the revoked grantView.
func (a *api) deleteSecret(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	g, subject, err := a.grant(r, app.ID)
	if err != nil {
		return err
	}
	if err := a.vault.DeleteSecret(r.Context(), app.ID, g.ID); err != nil {
		return about(subject, err)
	}
	after, err := a.store.GetGrant(r.Context(), app.ID, g.ID)
	if err != nil {
		return about(subject, err)
	}
	a.record(r, grantEvent(app.ID, "secret.delete", after))
	writeJSON(w, http.StatusOK, newGrantView(after))
	return nil
}

// defaultKind is the managed-secret kind a provider gets when the request
// names none: basic if it accepts basic but not api_key, else api_key.
func defaultKind(p *catalog.Provider) string {
	if p.Accepts(vault.KindBasic) && !p.Accepts(vault.KindAPIKey) {
		return vault.KindBasic
	}
	return vault.KindAPIKey
}

// material builds the credential material of kind from the request. Error
// messages name fields, never values.
func material(kind string, req secretRequest) (vault.Material, error) {
	var m vault.Material
	switch kind {
	case vault.KindAPIKey:
		if req.Username != nil || req.Password != nil {
			return m, invalid("an api_key secret takes only \"value\"")
		}
		if req.Value == nil || *req.Value == "" {
			return m, invalid("field \"value\" is required")
		}
		m.Token = *req.Value
	case vault.KindBasic:
		switch {
		case req.Value != nil && (req.Username != nil || req.Password != nil):
			return m, invalid("a basic secret takes either \"value\" (username:password) or \"username\" and \"password\", not both")
		case req.Value != nil:
			user, pass, ok := strings.Cut(*req.Value, ":")
			if !ok {
				return m, invalid("a basic secret's \"value\" must be username:password")
			}
			m.Username, m.Password = user, pass
		case req.Username != nil:
			m.Username = *req.Username
			if req.Password != nil {
				m.Password = *req.Password
			}
		default:
			return m, invalid("a basic secret needs \"value\" (username:password) or \"username\" and \"password\"")
		}
	}
	if err := vault.ValidateMaterial(kind, m); err != nil {
		return vault.Material{}, invalidInput(err)
	}
	return m, nil
}

// grantEvent is the admin audit event of a change to grant g.
func grantEvent(appID, action string, g vault.Grant) audit.Event {
	ev := auditAdmin(appID, action)
	ev.GrantID, ev.ProviderID, ev.Principal = g.ID, g.ProviderID, g.Principal
	return ev
}

// auditAdmin starts the admin audit event of action in appID.
func auditAdmin(appID, action string) audit.Event {
	return audit.Event{AppID: appID, Action: action}
}
