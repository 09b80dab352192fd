package admin

import (
	"bytes"
	"html/template"
	"mime"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// CallbackActor is the audit actor of connect outcomes recorded by
// /oauth/callback, which carries no admin token: the connect session's
// single-use state authenticates it.
const CallbackActor = "oauth-callback"

// callbackResult is the JSON answer of a completed callback (Accept:
// application/json), the same shape `gatehouse connect` prints.
type callbackResult struct {
	Status     string `json:"status"` // "complete"
	SessionID  string `json:"session_id"`
	GrantID    string `json:"grant_id"`
	ProviderID string `json:"provider_id"`
	Account    string `json:"account,omitempty"`
	Principal  string `json:"principal"`
	Agent      string `json:"agent,omitempty"`
}

// callbackPage is what the callback page template renders.
type callbackPage struct {
	OK       bool
	Title    string
	Provider string // display name
	Result   callbackResult
	Message  string // failure in clear words
	Hint     string
}

// callbackTemplate is the page a user's browser lands on after consent.
// html/template escapes every value; the page loads nothing and runs no
// script (see the Content-Security-Policy in writeCallbackPage).
const callbackTemplate = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} · Gatehouse</title>
<style>
body{font-family:system-ui,-apple-system,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2328;line-height:1.5}
h1{font-size:1.4rem}.ok{color:#1a7f37}.fail{color:#cf222e}
dl{display:grid;grid-template-columns:max-content auto;gap:.3rem 1rem}dt{color:#59636e}
dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
</style>
</head>
<body>
<main>
{{- if .OK}}
<h1 class="ok">{{.Title}}</h1>
<p>Gatehouse stored the authorization{{with .Result.Agent}} and delegated it to agent {{.}}{{end}}. You can close this window.</p>
<dl>
<dt>Provider</dt><dd>{{.Provider}}</dd>
{{- with .Result.Account}}
<dt>Account</dt><dd>{{.}}</dd>
{{- end}}
<dt>Grant ID</dt><dd>{{.Result.GrantID}}</dd>
<dt>Principal</dt><dd>{{.Result.Principal}}</dd>
</dl>
{{- else}}
<h1 class="fail">{{.Title}}</h1>
<p>{{.Message}}</p>
{{- with .Hint}}
<p>{{.}}</p>
{{- end}}
{{- end}}
</main>
</body>
</html>
`

// parseCallbackTemplate compiles callbackTemplate (once, in New).
func parseCallbackTemplate() (*template.Template, error) {
	return template.New("callback").Parse(callbackTemplate)
}

// callback handles GET /oauth/callback, where the provider sends the
// user's browser back with state and code (or error). The answer is an
// HTML page, or JSON when the client asks for application/json. Bad, used
// or expired state is 400; a provider's refusal is 502 with its message
// in clear words.
func (a *api) callback(w http.ResponseWriter, r *http.Request) {
	asJSON := wantsJSON(r)
	m, err := a.oauthManager()
	var s vault.ConnectSession
	if err == nil {
		s, err = m.Callback(r.Context(), r.URL.Query())
		if err == nil && s.Status == vault.SessionFailed {
			err = &oauth.ProviderError{Code: s.ErrorCode, Description: s.ErrorMessage}
		}
	}
	if err != nil {
		e, internal := callbackError(err)
		if internal {
			a.log.Error("admin: OAuth callback failed", "session_id", s.ID, "app_id", s.AppID, "err", err)
		}
		if s.Status == vault.SessionFailed && s.ErrorMessage != "" {
			// The manager recorded why in words meant for people.
			e = &Error{Status: e.Status, Code: e.Code, ProviderError: e.ProviderError,
				Message: sessionFailureText(s.ErrorCode, s.ErrorMessage)}
		}
		if s.AppID != "" {
			ev := connectEvent("connect.fail", s)
			ev.ErrorCode = e.Code
			if e.ProviderError != "" {
				ev.ErrorCode = e.ProviderError
			}
			a.recordAs(r, CallbackActor, ev)
		}
		if asJSON {
			writeJSON(w, e.Status, errorBody{Error: e})
			return
		}
		a.writeCallbackPage(w, e.Status, a.failurePage(s, e))
		return
	}

	res := callbackResult{Status: vault.SessionComplete, SessionID: s.ID, GrantID: s.GrantID,
		ProviderID: s.ProviderID, Principal: s.Principal, Agent: s.Agent}
	ev := connectEvent("grant.connect", s)
	if g, gerr := a.store.GetGrant(r.Context(), s.AppID, s.GrantID); gerr == nil {
		res.Account = g.Account
	} else {
		a.log.Warn("admin: connected grant not readable", "grant_id", s.GrantID, "err", gerr)
	}
	if s.Agent != "" {
		if ag, aerr := a.store.GetAgentByName(r.Context(), s.AppID, s.Agent); aerr == nil {
			ev.AgentID = ag.ID
		}
	}
	a.recordAs(r, CallbackActor, ev)
	if asJSON {
		writeJSON(w, http.StatusOK, res)
		return
	}
	name := a.providerName(s.ProviderID)
	a.writeCallbackPage(w, http.StatusOK, callbackPage{OK: true, Title: "Connected " + name, Provider: name, Result: res})
}

// failurePage describes a failed callback for a person.
func (a *api) failurePage(s vault.ConnectSession, e *Error) callbackPage {
	p := callbackPage{Title: "Could not connect", Message: e.Message}
	if s.ProviderID != "" {
		p.Title = "Could not connect " + a.providerName(s.ProviderID)
	}
	switch {
	case e.Code == CodeInvalidRequest, e.Code == CodeExpired:
		p.Message = "This sign-in link is not valid: it is unknown, was already used, or has expired."
		p.Hint = "Start the connection again (gatehouse connect, or the link you were given)."
	case e.Code == CodeProviderError:
		p.Hint = "Nothing was stored. Start the connection again once the problem is fixed."
	}
	return p
}

// providerName is the catalog's display name of id, or id itself.
func (a *api) providerName(id string) string {
	if p, ok := a.catalog.Get(id); ok && p.Name != "" {
		return p.Name
	}
	return id
}

// writeCallbackPage renders the callback page. The headers keep the page
// from loading anything, being framed, cached, or leaking the callback URL
// (which carries the code and state) through Referer.
func (a *api) writeCallbackPage(w http.ResponseWriter, status int, p callbackPage) {
	var buf bytes.Buffer
	if err := a.callbackPage.Execute(&buf, p); err != nil {
		a.log.Error("admin: render callback page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// wantsJSON reports whether the Accept header asks for application/json
// and not for HTML (browsers list text/html).
func wantsJSON(r *http.Request) bool {
	json := false
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/html", "application/xhtml+xml":
			return false
		case "application/json":
			json = true
		}
	}
	return json
}
