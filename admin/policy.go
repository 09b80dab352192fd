package admin

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// AppRuleSeparator joins an app's name and a rule name in the name an
// app-policy rule gets once loaded ("acme.read-only"). App rules share one
// compiled policy with the file rules and every other app's rules, where
// names must be unique: without the prefix, one app picking a name that
// another app (or a file) uses would make every reload fail.
const AppRuleSeparator = "."

// appPolicySource names an app's stored policy in validation messages.
func appPolicySource(appName string) string { return "apps/" + appName + "/policy" }

// AppRules parses an app's stored policy document into rules scoped to the
// app: every rule's match.apps is forced to the app's id (whatever the
// document said, an app's policy can only restrict its own calls) and its
// name is prefixed with "<app name>.". The error is the parser's
// (an errors.Join of *policy.FieldError, safe to show).
func AppRules(app vault.App, document string) ([]policy.Rule, error) {
	rules, err := policy.Parse(appPolicySource(app.Name), []byte(document))
	if err != nil {
		return nil, err
	}
	for i := range rules {
		rules[i].Name = app.Name + AppRuleSeparator + rules[i].Name
		rules[i].Match.Apps = []string{app.ID}
	}
	return rules, nil
}

// CheckAppPolicy validates an app's policy document the way a reload will
// load it: parsed, scoped (AppRules) and compiled on its own.
func CheckAppPolicy(app vault.App, document string) ([]policy.Rule, error) {
	rules, err := AppRules(app, document)
	if err != nil {
		return nil, err
	}
	if _, err := policy.Compile(policy.Config{}, rules, policy.NewMemoryLimiter(time.Now)); err != nil {
		return nil, err
	}
	return rules, nil
}

// policyView is an app's stored policy as the API shows it.
type policyView struct {
	AppID     string    `json:"app_id"`
	Version   int64     `json:"version"`
	Rules     []string  `json:"rules"` // loaded rule names ("<app>.<rule>")
	Document  string    `json:"document"`
	UpdatedAt time.Time `json:"updated_at"`
}

// newPolicyView shows p; a document that no longer parses lists no rules.
func newPolicyView(app vault.App, p vault.AppPolicy) policyView {
	v := policyView{AppID: p.AppID, Version: p.Version, Document: p.Document, UpdatedAt: p.UpdatedAt, Rules: []string{}}
	if rules, err := AppRules(app, p.Document); err == nil {
		for _, r := range rules {
			v.Rules = append(v.Rules, r.Name)
		}
	}
	return v
}

// yamlTypes are the Content-Types a policy document may be sent with.
var yamlTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}

// putPolicy handles PUT /v1/apps/{app}/policy (body: the YAML document) →
// policyView. The document replaces the app's previous one and is loaded by
// every replica. A document that does not validate is refused (400) with
// every problem as "apps/<app>/policy:<line>: <field>: <message>".
func (a *api) putPolicy(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(yamlTypes, ct) {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeInvalidRequest,
			Message: "send the policy document as YAML (Content-Type: application/yaml or text/plain)"}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return invalid("could not read the request body")
	}
	if strings.TrimSpace(string(data)) == "" {
		return invalid("the policy document is empty; to remove the app's policy use DELETE")
	}
	if _, err := CheckAppPolicy(app, string(data)); err != nil {
		return policyInvalid(err)
	}
	p, err := a.vault.PutAppPolicy(r.Context(), app.ID, string(data))
	if err != nil {
		return about(fmt.Sprintf("policy of app %q", app.Name), err)
	}
	a.record(r, auditAdmin(app.ID, "policy.set"))
	writeJSON(w, http.StatusOK, newPolicyView(app, p))
	return nil
}

// policyInvalid is the 400 of a document that does not validate: the
// parser's messages, one per line, each already naming file, line and
// field (they quote the document, never a secret).
func policyInvalid(err error) error {
	var lines []string
	var fe *policy.FieldError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			lines = append(lines, e.Error())
		}
	} else if errors.As(err, &fe) {
		lines = append(lines, fe.Error())
	}
	if len(lines) == 0 {
		lines = append(lines, err.Error())
	}
	return invalid("invalid policy:\n%s", strings.Join(lines, "\n"))
}

// getPolicy handles GET /v1/apps/{app}/policy → policyView (404 when the
// app has none).
func (a *api) getPolicy(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	p, err := a.store.GetAppPolicy(r.Context(), app.ID)
	if err != nil {
		return about(fmt.Sprintf("policy of app %q", app.Name), err)
	}
	writeJSON(w, http.StatusOK, newPolicyView(app, p))
	return nil
}

// deletePolicy handles DELETE /v1/apps/{app}/policy → the removed
// policyView. The app's rules stop applying on every replica.
func (a *api) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	subject := fmt.Sprintf("policy of app %q", app.Name)
	p, err := a.store.GetAppPolicy(r.Context(), app.ID)
	if err != nil {
		return about(subject, err)
	}
	if err := a.vault.DeleteAppPolicy(r.Context(), app.ID); err != nil {
		return about(subject, err)
	}
	a.record(r, auditAdmin(app.ID, "policy.delete"))
	writeJSON(w, http.StatusOK, newPolicyView(app, p))
	return nil
}
