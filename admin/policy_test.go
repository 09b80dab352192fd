package admin

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// callType sends body with Content-Type ctype and the admin token.
func (e *env) callType(method, path, ctype, body string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, raw: raw}
}

const noPostDoc = `apiVersion: gatehouse/v1
kind: Policy
rules:
  - name: no-post
    effect: deny
    match:
      apps: [someone-else]
      methods: [POST]
`

const badDoc = `apiVersion: gatehouse/v1
kind: Policy
rules:
  - name: no-post
    effect: block
    match:
      methods: [POST]
    when:
      source_cidrs: [10.0.0.0/33]
`

func TestAppRulesAreScopedToTheApp(t *testing.T) {
	app := vault.App{ID: "0b5c7a43-2f43-4a3c-9d0e-5b7c1a2b3c4d", Name: "demo"}
	rules, err := AppRules(app, noPostDoc)
	if err != nil {
		t.Fatal(err)
	}
	type scoped struct {
		Name string
		Apps []string
	}
	var got []scoped
	for _, r := range rules {
		got = append(got, scoped{r.Name, r.Match.Apps})
	}
	want := []scoped{{"demo.no-post", []string{app.ID}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scoped rules (-want +got):\n%s", diff)
	}
	// The same rule name in two apps and a file compiles together.
	other, err := AppRules(vault.App{ID: "1b5c7a43-2f43-4a3c-9d0e-5b7c1a2b3c4d", Name: "other"}, noPostDoc)
	if err != nil {
		t.Fatal(err)
	}
	file, err := policy.Parse("f.yaml", []byte(noPostDoc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Compile(policy.Config{}, append(append(rules, other...), file...), nil); err != nil {
		t.Errorf("Compile(two apps and a file with one rule name) = %v", err)
	}
}

func TestPolicyAPI(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	e.createApp("other")
	changed := make(chan struct{}, 16)
	e.vault.OnPolicyChange(func() { changed <- struct{}{} })

	e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/v1/apps/demo/policy", nil)
	e.wantErr(http.StatusNotFound, CodeNotFound, "DELETE", "/v1/apps/demo/policy", nil)

	refused := []struct {
		name, path, ctype, body string
		status                  int
		code, message           string
	}{
		{"json content type", "/v1/apps/demo/policy", "application/json", noPostDoc, http.StatusUnsupportedMediaType, CodeInvalidRequest,
			"send the policy document as YAML (Content-Type: application/yaml or text/plain)"},
		{"no content type", "/v1/apps/demo/policy", "", noPostDoc, http.StatusUnsupportedMediaType, CodeInvalidRequest,
			"send the policy document as YAML (Content-Type: application/yaml or text/plain)"},
		{"empty", "/v1/apps/demo/policy", "application/yaml", "  \n", http.StatusBadRequest, CodeInvalidRequest,
			"the policy document is empty; to remove the app's policy use DELETE"},
		{"invalid", "/v1/apps/demo/policy", "application/yaml", badDoc, http.StatusBadRequest, CodeInvalidRequest,
			"invalid policy:\n" +
				`apps/demo/policy:5: rules[0].effect: invalid effect "block" (want allow, deny or report)` + "\n" +
				`apps/demo/policy:9: rules[0].when.source_cidrs[0]: invalid CIDR "10.0.0.0/33"`},
		{"not yaml", "/v1/apps/demo/policy", "text/plain", "rules: [", http.StatusBadRequest, CodeInvalidRequest, ""},
		{"unknown app", "/v1/apps/nope/policy", "application/yaml", noPostDoc, http.StatusNotFound, CodeNotFound, `app "nope" not found`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := e.callType("PUT", tt.path, tt.ctype, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			got := r.apiErr(t)
			if got.Code != tt.code {
				t.Errorf("code %q, want %q", got.Code, tt.code)
			}
			if tt.message != "" {
				if diff := cmp.Diff(tt.message, got.Message); diff != "" {
					t.Errorf("message (-want +got):\n%s", diff)
				}
			}
		})
	}
	if _, err := e.store.GetAppPolicy(t.Context(), app.ID); !isNotFound(err) {
		t.Fatalf("a refused document was stored: %v", err)
	}

	for version := int64(1); version <= 2; version++ {
		var got policyView
		r := e.callType("PUT", "/v1/apps/demo/policy", "application/yaml; charset=utf-8", noPostDoc)
		if r.status != http.StatusOK {
			t.Fatalf("PUT: %d %s", r.status, r.raw)
		}
		r.decode(t, &got)
		want := policyView{AppID: app.ID, Version: version, Rules: []string{"demo.no-post"}, Document: noPostDoc, UpdatedAt: got.UpdatedAt}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PUT #%d (-want +got):\n%s", version, diff)
		}
		if ev := e.rec.last(t); ev.Action != "policy.set" || ev.AppID != app.ID {
			t.Errorf("audit event = %+v", ev)
		}
		<-changed // the engine is told to reload
	}
	var got policyView
	e.must(http.StatusOK, "GET", "/v1/apps/"+app.ID+"/policy", nil, &got)
	if got.Version != 2 || got.Document != noPostDoc {
		t.Errorf("GET = %+v", got)
	}
	e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/v1/apps/other/policy", nil)

	var deleted policyView
	e.must(http.StatusOK, "DELETE", "/v1/apps/demo/policy", nil, &deleted)
	if diff := cmp.Diff(got, deleted); diff != "" {
		t.Errorf("DELETE answer (-GET +DELETE):\n%s", diff)
	}
	<-changed
	if ev := e.rec.last(t); ev.Action != "policy.delete" {
		t.Errorf("audit event = %+v", ev)
	}
	e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/v1/apps/demo/policy", nil)
}
