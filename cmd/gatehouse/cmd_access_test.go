package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/vault"
)

func TestIdentityAccessKeyAndPolicyCommands(t *testing.T) {
	clearGatehouseEnv(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	s, _ := startServer(t, testConfig(t, dataDir))
	base := []string{"--data-dir", dataDir, "--server", s.adminURL()}
	cmd := func(args ...string) []string { return append(append([]string{}, base...), args...) }

	ghJSON(t, 0, nil, "", cmd("app", "create", "demo")...)
	var bot agentAnswer
	ghJSON(t, 0, &bot, "", cmd("agent", "create", "bot", "--app", "demo")...)
	var grant struct {
		GrantID string `json:"grant_id"`
	}
	ghJSON(t, 0, &grant, "sk-1\n", cmd("secret", "put", "--app", "demo", "--provider", "openai", "--principal", "user:alice")...)

	// Exit codes of each command's failure modes.
	exits := []struct {
		name string
		args []string
		exit int
	}{
		{"idp show before set", []string{"idp", "show", "--app", "demo"}, exitNotFound},
		{"idp set without audience", []string{"idp", "set", "--app", "demo", "--issuer", "https://idp.example.com"}, exitUsage},
		{"idp set refused by the server", []string{"idp", "set", "--app", "demo", "--issuer", "https://idp.example.com", "--audience", "a", "--algorithms", "HS256"}, exitUsage},
		{"idp on unknown app", []string{"idp", "set", "--app", "nope", "--issuer", "https://idp.example.com", "--audience", "a"}, exitNotFound},
		{"access add needs one target", []string{"agent", "access", "add", "bot", "--app", "demo"}, exitUsage},
		{"access add both targets", []string{"agent", "access", "add", "bot", "--app", "demo", "--provider", "openai", "--grant", grant.GrantID}, exitUsage},
		{"access add unknown agent", []string{"agent", "access", "add", "ghost", "--app", "demo", "--provider", "openai"}, exitNotFound},
		{"access remove unknown id", []string{"agent", "access", "remove", "nope", "--app", "demo"}, exitNotFound},
		{"key rotate unknown key", []string{"key", "rotate", "abcdefghijklmnop", "--app", "demo"}, exitNotFound},
		{"key rotate negative grace", []string{"key", "rotate", bot.KeyID, "--app", "demo", "--grace", "-1h"}, exitUsage},
		{"policy get none", []string{"policy", "get", "--app", "demo"}, exitNotFound},
		{"policy delete none", []string{"policy", "delete", "--app", "demo"}, exitNotFound},
		{"policy explain without url", []string{"policy", "explain", "--app", "demo"}, exitUsage},
		{"policy explain http url", []string{"policy", "explain", "--app", "demo", "--url", "http://api.openai.com/"}, exitUsage},
	}
	for _, tt := range exits {
		t.Run(tt.name, func(t *testing.T) {
			if r := gh(t, "", cmd(tt.args...)...); r.code != tt.exit {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.exit, r.stdout, r.stderr)
			}
		})
	}

	t.Run("idp", func(t *testing.T) {
		var set identityProvider
		ghJSON(t, 0, &set, "", cmd("idp", "set", "--app", "demo", "--issuer", "https://idp.example.com", "--audience", "gatehouse",
			"--group-claim", "groups", "--algorithms", "ES256, RS256", "--leeway", "1m")...)
		want := identityProvider{AppID: set.AppID, Issuer: "https://idp.example.com", Audience: "gatehouse", UserClaim: "sub",
			GroupClaim: "groups", Algorithms: []string{"ES256", "RS256"}, Leeway: "1m0s", UpdatedAt: set.UpdatedAt}
		if diff := cmp.Diff(want, set); diff != "" {
			t.Errorf("idp set (-want +got):\n%s", diff)
		}
		r := gh(t, "", cmd("idp", "show", "--app", "demo")...)
		for _, s := range []string{"https://idp.example.com", "discovered from the issuer", "ES256,RS256", "groups"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("idp show lacks %q:\n%s", s, r.stdout)
			}
		}
		if r := gh(t, "", cmd("idp", "remove", "--app", "demo")...); r.code != 0 {
			t.Errorf("idp remove: exit %d %s", r.code, r.stderr)
		}
		if r := gh(t, "", cmd("idp", "show", "--app", "demo")...); r.code != exitNotFound {
			t.Errorf("idp show after remove: exit %d", r.code)
		}
	})

	t.Run("access", func(t *testing.T) {
		var added accessEntry
		ghJSON(t, 0, &added, "", cmd("agent", "access", "add", "bot", "--app", "demo", "--grant", grant.GrantID)...)
		if added.Agent != "bot" || added.GrantID != grant.GrantID || added.ID == "" {
			t.Fatalf("added = %+v", added)
		}
		if r := gh(t, "", cmd("agent", "access", "add", "bot", "--app", "demo", "--grant", grant.GrantID)...); r.code != exitConflict {
			t.Errorf("duplicate access: exit %d", r.code)
		}
		var list []accessEntry
		ghJSON(t, 0, &list, "", cmd("agent", "access", "list", "bot", "--app", "demo")...)
		if diff := cmp.Diff([]accessEntry{added}, list); diff != "" {
			t.Errorf("list (-want +got):\n%s", diff)
		}
		var removed accessEntry
		ghJSON(t, 0, &removed, "", cmd("agent", "access", "remove", added.ID, "--app", "demo")...)
		if diff := cmp.Diff(added, removed); diff != "" {
			t.Errorf("removed (-want +got):\n%s", diff)
		}
		ghJSON(t, 0, &list, "", cmd("agent", "access", "list", "bot", "--app", "demo")...)
		if len(list) != 0 {
			t.Errorf("list after remove = %+v", list)
		}
	})

	t.Run("key rotate", func(t *testing.T) {
		r := gh(t, "", cmd("key", "rotate", bot.KeyID, "--app", "demo", "--grace", "2h")...)
		if r.code != 0 || !strings.Contains(r.stdout, "replaced key valid until") || !strings.Contains(r.stderr, "shown only once") {
			t.Fatalf("key rotate: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		var keys []vault.Key
		ghJSON(t, 0, &keys, "", cmd("key", "list", "--app", "demo")...)
		status := map[string]string{}
		for _, k := range keys {
			status[k.ID] = k.Status
		}
		if status[bot.KeyID] != vault.KeyDeprecated || len(keys) != 2 {
			t.Errorf("keys after rotation = %+v", keys)
		}
		if r := gh(t, "", cmd("key", "rotate", bot.KeyID, "--app", "demo")...); r.code != exitConflict {
			t.Errorf("rotating a deprecated key: exit %d", r.code)
		}
	})

	t.Run("policy get and delete", func(t *testing.T) {
		doc := "apiVersion: gatehouse/v1\nkind: Policy\nrules:\n  - name: no-post\n    effect: deny\n    match: {methods: [POST]}\n"
		var set appPolicy
		ghJSON(t, 0, &set, doc, cmd("policy", "set", "-", "--app", "demo")...)
		if diff := cmp.Diff([]string{"demo.no-post"}, set.Rules); diff != "" || set.Version != 1 {
			t.Errorf("policy set = %+v (%s)", set, diff)
		}
		if r := gh(t, "", cmd("policy", "get", "--app", "demo")...); r.code != 0 || r.stdout != doc {
			t.Errorf("policy get: exit %d, stdout %q", r.code, r.stdout)
		}
		if r := gh(t, "", cmd("policy", "delete", "--app", "demo")...); r.code != 0 || !strings.Contains(r.stdout, "removed policy of app") {
			t.Errorf("policy delete: exit %d, stdout %q", r.code, r.stdout)
		}
	})
}
