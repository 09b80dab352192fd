package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/fakeupstream"
)

// policyFixture is a running server whose policy directory the test
// writes, with api.openai.com served by a fake upstream and an agent
// holding an OpenAI key.
type policyFixture struct {
	t         *testing.T
	srv       *server
	policyDir string
	client    *http.Client // through the proxy, as agent bot
	base      []string
}

const denyPost = `apiVersion: gatehouse/v1
kind: Policy
rules:
  - name: no-post
    effect: deny
    match:
      providers: [openai]
      methods: [POST]
`

const denyAll = `apiVersion: gatehouse/v1
kind: Policy
rules:
  - name: no-openai
    effect: deny
    match:
      providers: [openai]
`

// newPolicyFixture starts the server with firstPolicy in its policy
// directory; opts adjust the configuration.
func newPolicyFixture(t *testing.T, firstPolicy string, opts ...func(*Config)) *policyFixture {
	t.Helper()
	clearGatehouseEnv(t)
	up := fakeupstream.Start(t, "api.openai.com")
	dataDir := filepath.Join(t.TempDir(), "data")
	policyDir := filepath.Join(t.TempDir(), "policies")
	if err := os.Mkdir(policyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writePolicy(t, policyDir, "base.yaml", firstPolicy)
	cfg := testConfig(t, dataDir)
	cfg.Upstream.Resolve = map[string]string{"api.openai.com:443": up.Addr()}
	cfg.Upstream.ExtraRoots = []string{up.CAFile}
	cfg.Policy.Dirs = []string{policyDir}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, _ := startServer(t, cfg)
	f := &policyFixture{t: t, srv: s, policyDir: policyDir, base: []string{"--data-dir", dataDir, "--server", s.adminURL()}}

	ghJSON(t, 0, nil, "", f.args("app", "create", "demo")...)
	var agent agentAnswer
	ghJSON(t, 0, &agent, "", f.args("agent", "create", "bot", "--app", "demo")...)
	ghJSON(t, 0, nil, "sk-test\n", f.args("secret", "put", "--app", "demo", "--provider", "openai", "--principal", "agent:bot")...)

	caPEM, err := os.ReadFile(caCertPath(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	proxyURL := &url.URL{Scheme: "http", Host: s.proxyLn.Addr().String(), User: url.UserPassword("x", agent.Key)}
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	f.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return f
}

func (f *policyFixture) args(a ...string) []string {
	return append(append([]string{}, f.base...), a...)
}

// writePolicy replaces dir/name atomically, as a config-map update does.
func writePolicy(t *testing.T, dir, name, doc string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// outcome is what a proxied call got: the status and, for a refusal, the
// error code and rule.
type outcome struct {
	Status int
	Code   string
	Rule   string
}

// call makes method on api.openai.com through the proxy.
func (f *policyFixture) call(method, path string) outcome {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.t.Context(), method, "https://api.openai.com"+path, strings.NewReader("{}"))
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := outcome{Status: resp.StatusCode}
	if resp.StatusCode >= 400 {
		var body struct {
			Error struct {
				Code string `json:"code"`
				Rule string `json:"rule"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			f.t.Fatalf("refusal body %q: %v", raw, err)
		}
		out.Code, out.Rule = body.Error.Code, body.Error.Rule
	}
	return out
}

// eventually polls call until it gives want (the reload is asynchronous).
func (f *policyFixture) eventually(method, path string, want outcome) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 15*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var got outcome
	for {
		if got = f.call(method, path); got == want {
			return
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("%s %s: still %+v, want %+v", method, path, got, want)
		case <-tick.C:
		}
	}
}

var (
	allowed  = outcome{Status: http.StatusOK}
	deniedBy = func(rule string) outcome {
		return outcome{Status: http.StatusForbidden, Code: "policy_denied", Rule: rule}
	}
	policyText = func(r result) string { return r.stdout + r.stderr }
)

func TestServeEnforcesAndReloadsPolicy(t *testing.T) {
	f := newPolicyFixture(t, denyPost)

	// Loaded at start: GET allowed, POST denied by the file's rule.
	if diff := cmp.Diff(allowed, f.call("GET", "/v1/models")); diff != "" {
		t.Errorf("GET (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(deniedBy("no-post"), f.call("POST", "/v1/chat/completions")); diff != "" {
		t.Errorf("POST (-want +got):\n%s", diff)
	}

	// Editing the file while serving takes effect.
	writePolicy(t, f.policyDir, "base.yaml", denyAll)
	f.eventually("GET", "/v1/models", deniedBy("no-openai"))

	// A broken file keeps the last good policy and shows in /readyz.
	writePolicy(t, f.policyDir, "base.yaml", strings.Replace(denyPost, "effect: deny", "effect: block", 1))
	waitReadyzPolicy(t, f.srv, `base.yaml:5: rules[0].effect: invalid effect "block"`)
	if diff := cmp.Diff(deniedBy("no-openai"), f.call("GET", "/v1/models")); diff != "" {
		t.Errorf("GET after a broken edit (-want +got):\n%s", diff)
	}
	writePolicy(t, f.policyDir, "base.yaml", denyPost)
	f.eventually("GET", "/v1/models", allowed)
	waitReadyzPolicy(t, f.srv, "ok")

	// An app policy set through the API applies at once, scoped and named
	// after the app.
	appDoc := filepath.Join(t.TempDir(), "demo.yaml")
	if err := os.WriteFile(appDoc, []byte(strings.ReplaceAll(denyAll, "no-openai", "no-models")+"      paths: [/v1/models]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := gh(t, "", f.args("policy", "set", appDoc, "--app", "demo")...); r.code != 0 {
		t.Fatalf("policy set: exit %d: %s", r.code, policyText(r))
	}
	f.eventually("GET", "/v1/models", deniedBy("demo.no-models"))
	if diff := cmp.Diff(allowed, f.call("GET", "/v1/files")); diff != "" {
		t.Errorf("GET another path (-want +got):\n%s", diff)
	}

	// Explain: which grant, which rules, the decision; nothing is called.
	var ex struct {
		Provider string `json:"provider"`
		Grant    struct {
			Principal string `json:"principal"`
		} `json:"grant"`
		Refusal map[string]any `json:"refusal"`
		Matches []struct {
			Rule string `json:"rule"`
		} `json:"matches"`
	}
	ghJSON(t, 0, &ex, "", f.args("policy", "explain", "--app", "demo", "--agent", "bot", "--method", "POST", "--url", "https://api.openai.com/v1/models")...)
	var rules []string
	for _, m := range ex.Matches {
		rules = append(rules, m.Rule)
	}
	if diff := cmp.Diff([]string{"no-post", "demo.no-models"}, rules); diff != "" {
		t.Errorf("explained matches (-want +got):\n%s", diff)
	}
	if ex.Provider != "openai" || ex.Grant.Principal != "agent:bot" || ex.Refusal["code"] != "policy_denied" {
		t.Errorf("explanation = %+v", ex)
	}
	r := gh(t, "", f.args("policy", "explain", "--app", "demo", "--agent", "bot", "--url", "https://api.openai.com/v1/files")...)
	if r.code != 0 || !strings.Contains(r.stdout, "allowed by default") || !strings.Contains(r.stdout, "agent:bot") {
		t.Errorf("explain text: exit %d\n%s", r.code, policyText(r))
	}

	if r := gh(t, "", f.args("policy", "delete", "--app", "demo")...); r.code != 0 {
		t.Fatalf("policy delete: exit %d: %s", r.code, policyText(r))
	}
	f.eventually("GET", "/v1/models", allowed)
}

func TestServeStrictModeAndNoValidPolicy(t *testing.T) {
	f := newPolicyFixture(t, "apiVersion: gatehouse/v1\nkind: Policy\nrules:\n  - name: x\n    effect: nope\n")
	// No valid policy at all: every call is denied.
	if got := f.call("GET", "/v1/models"); got.Status != http.StatusForbidden || got.Code != "policy_denied" {
		t.Errorf("GET without a valid policy = %+v, want policy_denied", got)
	}
	waitReadyzPolicy(t, f.srv, "no valid policy loaded: every proxied call is denied")
	writePolicy(t, f.policyDir, "base.yaml", denyPost)
	f.eventually("GET", "/v1/models", allowed)
}

// waitReadyzPolicy polls /readyz until its policy field contains want.
func waitReadyzPolicy(t *testing.T, s *server, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var got string
	for {
		resp, err := http.Get(s.adminURL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Policy string `json:"policy"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got = body.Policy; strings.Contains(got, want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("readyz policy = %q, want it to contain %q", got, want)
		case <-tick.C:
		}
	}
}
