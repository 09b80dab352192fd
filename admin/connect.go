package admin

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// startConnect handles GET /v1/connect/{provider}?app=&user=|principal=
// &agent=&grant=&scopes=a,b&redirect=true → 200 oauth.ConnectStart, or a
// 302 to the provider's authorization URL with redirect=true. app is a
// name or id; user=U stands for principal user:U; agent (name or id) gets
// a delegation of the new grant; grant names an existing grant of this
// provider to re-consent (its principal is the default).
func (a *api) startConnect(w http.ResponseWriter, r *http.Request) error {
	m, err := a.oauthManager()
	if err != nil {
		return err
	}
	q, err := queryParams(r, "app", "user", "principal", "agent", "grant", "scopes", "redirect")
	if err != nil {
		return err
	}
	app, err := a.appParam(r, q["app"])
	if err != nil {
		return err
	}
	p, err := a.oauthProvider(r.PathValue("provider"))
	if err != nil {
		return err
	}
	redirect := false
	if s := q["redirect"]; s != "" {
		if redirect, err = strconv.ParseBool(s); err != nil {
			return invalid("query parameter \"redirect\" must be true or false")
		}
	}
	principal, err := connectPrincipal(q["user"], q["principal"])
	if err != nil {
		return err
	}
	req := oauth.ConnectRequest{AppID: app.ID, ProviderID: p.ID, Principal: principal, Scopes: splitScopes(q["scopes"])}
	if id := q["grant"]; id != "" {
		g, subject, err := a.grantByID(r.Context(), app.ID, id)
		switch {
		case err != nil:
			return err
		case g.ProviderID != p.ID:
			return invalid("%s belongs to provider %q, not %q", subject, g.ProviderID, p.ID)
		case g.Status == vault.StatusRevoked:
			return aboutConflict(subject, subject+" is revoked; connect a new grant instead", vault.ErrConflict)
		case principal != "" && principal != g.Principal:
			return invalid("%s belongs to principal %q, not %q", subject, g.Principal, principal)
		}
		req.GrantID, req.Principal = g.ID, g.Principal
	}
	if req.Principal == "" {
		return invalid("query parameter \"user\" (a user id) or \"principal\" is required")
	}
	if err := a.checkPrincipal(r, app, req.Principal); err != nil {
		return err
	}
	agentID := ""
	if ref := q["agent"]; ref != "" {
		agent, err := a.agent(r.Context(), app.ID, ref)
		if err != nil {
			return err
		}
		req.Agent, agentID = agent.Name, agent.ID
	}
	if err := vault.ValidateScopes(req.Scopes); err != nil {
		return invalidInput(err)
	}
	start, err := m.StartConnect(r.Context(), req)
	if err != nil {
		return about("connect request", err)
	}
	ev := auditAdmin(app.ID, "connect.start")
	ev.ProviderID, ev.Principal, ev.GrantID, ev.AgentID = p.ID, req.Principal, req.GrantID, agentID
	ev.Context = "session=" + start.SessionID
	a.record(r, ev)
	if redirect {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, start.AuthorizeURL, http.StatusFound)
		return nil
	}
	writeJSON(w, http.StatusOK, start)
	return nil
}

// sessionView is a connect session as GET /v1/connect/sessions/{id} shows
// it: the session, the connected account once complete, and a failure in
// clear words.
type sessionView struct {
	vault.ConnectSession
	Account   string `json:"account,omitempty"`
	ErrorText string `json:"error_text,omitempty"`
}

// connectSession handles GET /v1/connect/sessions/{id}?app= → sessionView.
func (a *api) connectSession(w http.ResponseWriter, r *http.Request) error {
	m, err := a.oauthManager()
	if err != nil {
		return err
	}
	q, err := queryParams(r, "app")
	if err != nil {
		return err
	}
	app, err := a.appParam(r, q["app"])
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	s, err := m.Session(r.Context(), app.ID, id)
	if err != nil {
		return about(fmt.Sprintf("connect session %q", id), err)
	}
	v := sessionView{ConnectSession: s}
	switch s.Status {
	case vault.SessionComplete:
		if s.GrantID != "" {
			g, err := a.store.GetGrant(r.Context(), app.ID, s.GrantID)
			if err != nil {
				return about(fmt.Sprintf("grant %q", s.GrantID), err)
			}
			v.Account = g.Account
		}
	case vault.SessionFailed:
		v.ErrorText = sessionFailureText(s.ErrorCode, s.ErrorMessage)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// appParam resolves the app named by a required query parameter "app".
func (a *api) appParam(r *http.Request, ref string) (vault.App, error) {
	if ref == "" {
		return vault.App{}, invalid("query parameter \"app\" (an app name or id) is required")
	}
	return a.appByRef(r.Context(), ref)
}

// connectPrincipal is the principal of a connect request: user=U means
// user:U; giving both user and principal is an error. Empty when neither
// is given.
func connectPrincipal(user, principal string) (string, error) {
	switch {
	case user != "" && principal != "":
		return "", invalid("give either query parameter \"user\" or \"principal\", not both")
	case user != "":
		return vault.PrincipalUserPrefix + user, nil
	}
	return principal, nil
}

// checkPrincipal validates principal; an agent principal must name an
// agent of app.
func (a *api) checkPrincipal(r *http.Request, app vault.App, principal string) error {
	if err := vault.ValidatePrincipal(principal); err != nil {
		return invalidInput(err)
	}
	name, ok := strings.CutPrefix(principal, vault.PrincipalAgentPrefix)
	if !ok {
		return nil
	}
	if _, err := a.store.GetAgentByName(r.Context(), app.ID, name); err != nil {
		if isNotFound(err) {
			return invalid("principal %q names no agent of app %q", principal, app.Name)
		}
		return err
	}
	return nil
}

// splitScopes splits a comma-separated scope list, dropping empty items.
func splitScopes(s string) []string {
	var out []string
	for sc := range strings.SplitSeq(s, ",") {
		if sc = strings.TrimSpace(sc); sc != "" {
			out = append(out, sc)
		}
	}
	return out
}

// connectEvent is the admin audit event of a connect session's outcome.
func connectEvent(action string, s vault.ConnectSession) audit.Event {
	ev := auditAdmin(s.AppID, action)
	ev.ProviderID, ev.Principal, ev.GrantID = s.ProviderID, s.Principal, s.GrantID
	ev.Context = "session=" + s.ID
	return ev
}
