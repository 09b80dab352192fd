package e2e

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/fakeupstream"
)

// createdApp is `app create --output json`.
type createdApp struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// createdAgent is `agent create --output json`.
type createdAgent struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Key   string `json:"key"`
	KeyID string `json:"key_id"`
}

// createdKey is `key create --output json`.
type createdKey struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// storedSecret is `secret put --output json`.
type storedSecret struct {
	GrantID      string `json:"grant_id"`
	CredentialID string `json:"credential_id"`
	Placeholder  string `json:"placeholder"`
}

// tenant is an app with one agent, all created through the CLI.
type tenant struct {
	app   createdApp
	agent createdAgent
}

// newTenant creates app appName with agent "bot".
func (g *gatehouse) newTenant(appName string) tenant {
	g.t.Helper()
	var tn tenant
	g.cliJSON(&tn.app, "", "app", "create", appName)
	if tn.app.ID == "" || tn.app.Name != appName {
		g.t.Fatalf("app create answered %+v", tn.app)
	}
	g.cliJSON(&tn.agent, "", "agent", "create", "bot", "--app", appName)
	if tn.agent.ID == "" || !strings.HasPrefix(tn.agent.Key, "gatehouse_agent_") {
		g.t.Fatalf("agent create answered id %q and a key that is not an agent key", tn.agent.ID)
	}
	g.rememberKey(appName+" agent key", tn.agent.Key)
	return tn
}

// createKey mints a caller key through the CLI; agent "" is an app key.
func (g *gatehouse) createKey(appName, agent string) createdKey {
	g.t.Helper()
	args := []string{"key", "create", "--app", appName}
	prefix := "gatehouse_app_"
	if agent != "" {
		args, prefix = append(args, "--agent", agent), "gatehouse_agent_"
	}
	var k createdKey
	g.cliJSON(&k, "", args...)
	if k.ID == "" || !strings.HasPrefix(k.Key, prefix) {
		g.t.Fatalf("key create answered id %q and a key without the %s prefix", k.ID, prefix)
	}
	g.rememberKey(appName+" key "+k.ID, k.Key)
	return k
}

// rememberKey records a caller key and its random part for the scan.
func (g *gatehouse) rememberKey(name, key string) {
	g.secrets[name] = key
	g.secrets[name+" (secret part)"] = key[strings.LastIndex(key, "_")+1:]
}

// rememberSecret records a stored secret value (as piped to the CLI) for
// the scan; a basic pair also in its parts and in its header form.
func (g *gatehouse) rememberSecret(name, value string, basic bool) {
	value = strings.TrimSuffix(value, "\n")
	g.secrets[name] = value
	if user, pass, ok := strings.Cut(value, ":"); basic && ok {
		g.secrets[name+" username"] = user
		g.secrets[name+" password"] = pass
		g.secrets[name+" basic header"] = base64.StdEncoding.EncodeToString([]byte(value))
	}
}

// putSecret stores value (given on stdin) for provider and principal.
func (g *gatehouse) putSecret(appName, provider, principal, value string, extra ...string) storedSecret {
	g.t.Helper()
	var s storedSecret
	args := append([]string{"secret", "put", "--app", appName, "--provider", provider, "--principal", principal}, extra...)
	g.rememberSecret(appName+" "+provider+" secret", value, slices.Contains(extra, "basic"))
	g.cliJSON(&s, value, args...)
	if s.GrantID == "" || s.Placeholder != "gatehouse_grant_"+s.GrantID {
		g.t.Fatalf("secret put answered grant %q, placeholder %q", s.GrantID, s.Placeholder)
	}
	return s
}

// requireDelivered checks what the upstream received for one call:
// exactly want in header name (want "" checks the header is absent), the
// right Host and SNI, and nothing of Gatehouse's own: no Gatehouse-* or
// Proxy-* header, no placeholder, no caller key anywhere.
func requireDelivered(t *testing.T, got fakeupstream.Request, host, name, want string) {
	t.Helper()
	vals := got.Header.Values(name)
	switch {
	case want == "" && len(vals) != 0:
		t.Errorf("upstream received %s (%d values), want none", name, len(vals))
	case want != "" && (len(vals) != 1 || vals[0] != want):
		t.Errorf("upstream %s = %q, want exactly [%q]", name, vals, want)
	}
	if got.Host != host || got.SNI != host {
		t.Errorf("upstream Host/SNI = %q/%q, want %q", got.Host, got.SNI, host)
	}
	for hname, vs := range got.Header {
		lower := strings.ToLower(hname)
		if strings.HasPrefix(lower, "gatehouse-") || strings.HasPrefix(lower, "proxy-") {
			t.Errorf("upstream received header %s", hname)
		}
		for _, v := range vs {
			if leaksGatehouse(v) {
				t.Errorf("upstream header %s carries a placeholder or caller key", hname)
			}
		}
	}
	if leaksGatehouse(got.RawQuery) || leaksGatehouse(string(got.Body)) {
		t.Error("upstream query or body carries a placeholder or caller key")
	}
}

// leaksGatehouse reports whether s contains a grant placeholder or a
// caller key (both are recognisable by prefix).
func leaksGatehouse(s string) bool {
	return strings.Contains(s, "gatehouse_grant_") || strings.Contains(s, "gatehouse_agent_") || strings.Contains(s, "gatehouse_app_")
}
