package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestCLIFailures pins the CLI's failure contract: stable exit codes, and
// with --output json exactly one {"error":{"code","message"}} on stdout.
// Another app's grant is not found, like a missing one (invariant 8).
func TestCLIFailures(t *testing.T) {
	t.Parallel()
	g := start(t)
	g.newTenant("acme")
	g.newTenant("other")
	foreign := g.putSecret("other", "openai", "system", openaiKey2)
	tests := []struct {
		name  string
		stdin string
		args  []string
		exit  int
		code  string
	}{
		{"app exists", "", []string{"app", "create", "acme"}, 5, "conflict"},
		{"agent exists", "", []string{"agent", "create", "bot", "--app", "acme"}, 5, "conflict"},
		{"unknown grant", "", []string{"grant", "revoke", "0190b6a4-1c2d-7e3f-8a9b-0c1d2e3f4a5b", "--app", "acme"}, 4, "not_found"},
		{"other app's grant", "", []string{"grant", "revoke", foreign.GrantID, "--app", "acme"}, 4, "not_found"},
		{"other app's secret", "sk-x", []string{"secret", "rotate", foreign.GrantID, "--app", "acme"}, 4, "not_found"},
		{"unknown app", "", []string{"grant", "list", "--app", "nosuch"}, 4, "not_found"},
		{"wrong token", "", []string{"--token", "not-the-token", "app", "list"}, 3, "unauthorized"},
		{"missing flags", "sk-x", []string{"secret", "put", "--app", "acme"}, 2, "usage"},
		{"unknown subcommand", "", []string{"app", "frobnicate"}, 2, "usage"},
		{"empty secret", "", []string{"secret", "put", "--app", "acme", "--provider", "openai", "--principal", "system"}, 2, "usage"},
		{"unknown provider", "sk-x", []string{"secret", "put", "--app", "acme", "--provider", "nosuch", "--principal", "system"}, 2, "invalid_request"},
		{"unknown agent principal", "sk-x", []string{"secret", "put", "--app", "acme", "--provider", "openai", "--principal", "agent:ghost"}, 2, "invalid_request"},
		{"server down", "", []string{"--server", "http://" + freeAddr(t), "app", "list"}, 1, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := g.cli(tt.stdin, tt.args...)
			if r.code != tt.exit {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, tt.exit, r.stderr)
			}
			var out struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatalf("stdout is not one JSON error object (%v): %q", err, r.stdout)
			}
			if out.Error.Code != tt.code || out.Error.Message == "" {
				t.Errorf("error %+v, want code %s and a message", out.Error, tt.code)
			}
			if strings.Contains(r.stdout+r.stderr, openaiKey2) {
				t.Error("the CLI printed a stored secret")
			}
		})
	}
}

// TestCLIReads covers the read-only verbs scripts rely on: app list, grant
// list, ca export (text and JSON) and version.
func TestCLIReads(t *testing.T) {
	t.Parallel()
	g := start(t)
	g.newTenant("acme")
	s := g.putSecret("acme", "openai", "agent:bot", openaiKey)

	var apps []createdApp
	g.cliJSON(&apps, "", "app", "list")
	if len(apps) != 1 || apps[0].Name != "acme" {
		t.Errorf("app list = %+v", apps)
	}
	var grants []struct {
		GrantID  string `json:"grant_id"`
		Status   string `json:"status"`
		Provider string `json:"provider_id"`
	}
	g.cliJSON(&grants, "", "grant", "list", "--app", "acme")
	if len(grants) != 1 || grants[0].GrantID != s.GrantID || grants[0].Status != "active" || grants[0].Provider != "openai" {
		t.Errorf("grant list = %+v", grants)
	}
	if r := g.cli("", "grant", "list", "--app", "acme"); strings.Contains(r.stdout, openaiKey) {
		t.Error("grant list printed the secret")
	}

	pem, err := os.ReadFile(g.caFile())
	if err != nil {
		t.Fatal(err)
	}
	var exported struct{ PEM string }
	g.cliJSON(&exported, "", "ca", "export")
	if exported.PEM != string(pem) {
		t.Error("ca export --output json: pem differs from ca.pem")
	}
	text := runCLI(t, g.root, nil, "", "ca", "export", "--data-dir", g.dataDir)
	if text.code != 0 || text.stdout != string(pem) {
		t.Errorf("ca export: exit %d, stdout is not ca.pem", text.code)
	}
	var v struct{ Version string }
	g.cliJSON(&v, "", "version")
	if v.Version == "" {
		t.Error("version --output json has no version")
	}
}

// TestAgentDelete: deleting an agent through the CLI ends its key.
func TestAgentDelete(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", openaiKey)
	requireOK(t, goDo(t, g.goClient(t, tn.agent.Key), "GET", "https://api.openai.com/v1/models", nil))
	var agents []createdAgent
	g.cliJSON(&agents, "", "agent", "list", "--app", "acme")
	if len(agents) != 1 || agents[0].ID != tn.agent.ID || agents[0].Key != "" {
		t.Errorf("agent list = %d agents (want 1, without a key)", len(agents))
	}
	g.cliJSON(nil, "", "agent", "delete", "bot", "--app", "acme")
	g.connect(t, "api.openai.com:443", basicAuth(tn.agent.Key)).requireRefusal(t, http.StatusProxyAuthRequired, "key_revoked")
}
