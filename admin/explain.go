package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/proxy"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// Explainer runs the proxy's grant resolution, entitlement and policy for a
// call without making it (*proxy.Server).
type Explainer interface {
	Explain(ctx context.Context, req proxy.ExplainRequest) (proxy.Explanation, error)
}

// explainRequest is the body of POST /v1/apps/{app}/policy/explain.
type explainRequest struct {
	Agent   string `json:"agent"`    // name or id; empty: the app's own key
	Method  string `json:"method"`   // default GET
	URL     string `json:"url"`      // https://host/path
	Grant   string `json:"grant"`    // as Gatehouse-Grant
	UserJWT string `json:"user_jwt"` // as Gatehouse-User; never logged or echoed
	Account string `json:"account"`  // as Gatehouse-Account
	Source  string `json:"source"`   // client address ip[:port]
}

// explainPolicy handles POST /v1/apps/{app}/policy/explain →
// proxy.Explanation: which grant a call would use, which rules matched and
// the decision (or the refusal the caller would get), without calling
// anything, refreshing a token or consuming a rate-limit token.
func (a *api) explainPolicy(w http.ResponseWriter, r *http.Request) error {
	if a.explain == nil {
		return &Error{Status: http.StatusNotImplemented, Code: CodeInternal,
			Message: "policy explain is not available on this server"}
	}
	app, err := a.app(r)
	if err != nil {
		return err
	}
	var req explainRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.URL == "" {
		return invalid("field \"url\" is required (https://host/path)")
	}
	method := strings.ToUpper(strings.TrimSpace(req.Method))
	if method == "" {
		method = http.MethodGet
	}
	for _, c := range method {
		if c < 'A' || c > 'Z' {
			return invalid("field \"method\" is not an HTTP method")
		}
	}
	agentID := ""
	if req.Agent != "" {
		ag, err := a.agent(r.Context(), app.ID, req.Agent)
		if errors.Is(err, vault.ErrNotFound) {
			return invalid("agent %q does not exist in app %q", req.Agent, app.Name)
		}
		if err != nil {
			return err
		}
		agentID = ag.ID
	}
	out, err := a.explain.Explain(r.Context(), proxy.ExplainRequest{
		AppID: app.ID, AgentID: agentID, Method: method, URL: req.URL,
		GrantID: req.Grant, UserJWT: req.UserJWT, Account: req.Account, Source: req.Source,
	})
	if errors.Is(err, vault.ErrInvalid) {
		return invalidInput(err)
	}
	if err != nil {
		return about("explained call", err)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
