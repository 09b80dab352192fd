package admin

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func TestGrants(t *testing.T) {
	e := newEnv(t)
	e.createApp("demo")
	e.createAgent("demo", "bot")
	sys := e.putSecret("demo", "system", "sk-1")
	bot := e.putSecret("demo", "agent:bot", "sk-2")
	var tw secretView
	e.must(http.StatusCreated, "POST", "/v1/apps/demo/secrets",
		map[string]string{"provider": "twilio", "principal": "system", "value": "u:p"}, &tw)

	var revoked grantView
	e.must(http.StatusOK, "POST", "/v1/apps/demo/grants/"+bot.GrantID+"/revoke", nil, &revoked)
	if revoked.Status != vault.StatusRevoked || revoked.Placeholder != bot.Placeholder {
		t.Errorf("revoked = %+v", revoked)
	}
	if ev := e.rec.last(t); ev.Action != "grant.revoke" || ev.GrantID != bot.GrantID {
		t.Errorf("audit event = %+v", ev)
	}
	n := len(e.rec.actions())
	e.must(http.StatusOK, "POST", "/v1/apps/demo/grants/"+bot.GrantID+"/revoke", nil, nil)
	if len(e.rec.actions()) != n {
		t.Error("revoking a revoked grant recorded another event")
	}

	tests := []struct {
		query url.Values
		want  []string // grant ids
	}{
		{url.Values{}, []string{sys.GrantID, bot.GrantID, tw.GrantID}},
		{url.Values{"provider": {"openai"}}, []string{sys.GrantID, bot.GrantID}},
		{url.Values{"principal": {"agent:bot"}}, []string{bot.GrantID}},
		{url.Values{"status": {"active"}}, []string{sys.GrantID, tw.GrantID}},
		{url.Values{"status": {"revoked"}, "provider": {"openai"}}, []string{bot.GrantID}},
		{url.Values{"provider": {"stripe"}}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query.Encode(), func(t *testing.T) {
			var gs []grantView
			e.must(http.StatusOK, "GET", "/v1/apps/demo/grants?"+tt.query.Encode(), nil, &gs)
			got := []string{}
			for _, g := range gs {
				got = append(got, g.ID)
				if g.Placeholder != vault.GrantPlaceholderPrefix+g.ID {
					t.Errorf("placeholder %q for %s", g.Placeholder, g.ID)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("grant ids (-want +got):\n%s", diff)
			}
		})
	}
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "GET", "/v1/apps/demo/grants?status=gone", nil)
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "GET", "/v1/apps/demo/grants?prvider=openai", nil)
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "GET", "/v1/apps/demo/grants?provider=a&provider=b", nil)
	e.wantErr(http.StatusNotFound, CodeNotFound, "POST", "/v1/apps/demo/grants/0190b5b2-0000-7000-8000-000000000000/revoke", nil)
}

// TestCrossAppIsolation checks that another app's ids behave exactly like
// missing ones (security invariant 8).
func TestCrossAppIsolation(t *testing.T) {
	e := newEnv(t)
	e.createApp("alpha")
	e.createApp("beta")
	agent := e.createAgent("alpha", "bot")
	s := e.putSecret("alpha", "system", "sk-alpha")

	calls := []struct {
		method, path string
		body         any
	}{
		{"PUT", "/v1/apps/beta/secrets/" + s.GrantID, map[string]string{"value": "stolen"}},
		{"DELETE", "/v1/apps/beta/secrets/" + s.GrantID, nil},
		{"POST", "/v1/apps/beta/grants/" + s.GrantID + "/revoke", nil},
		{"DELETE", "/v1/apps/beta/keys/" + agent.KeyID, nil},
		{"DELETE", "/v1/apps/beta/agents/bot", nil},
		{"DELETE", "/v1/apps/beta/agents/" + agent.ID, nil},
	}
	for _, c := range calls {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			got := e.wantErr(http.StatusNotFound, CodeNotFound, c.method, c.path, c.body)
			missing := e.wantErr(http.StatusNotFound, CodeNotFound, c.method,
				replaceID(c.path, s.GrantID, agent.KeyID, agent.ID), c.body)
			if got.Code != missing.Code {
				t.Errorf("foreign id answered %+v, missing id %+v", got, missing)
			}
		})
	}
	// The app key mint for beta cannot name alpha's agent.
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "POST", "/v1/apps/beta/keys", map[string]string{"agent": agent.ID})
	var gs []grantView
	e.must(http.StatusOK, "GET", "/v1/apps/beta/grants", nil, &gs)
	if len(gs) != 0 {
		t.Errorf("beta lists alpha's grants: %+v", gs)
	}
	// Nothing of alpha changed.
	var alpha []grantView
	e.must(http.StatusOK, "GET", "/v1/apps/alpha/grants?status=active", nil, &alpha)
	if len(alpha) != 1 {
		t.Errorf("alpha has %d active grants after beta's attempts, want 1", len(alpha))
	}
	if _, err := e.vault.Authenticate(t.Context(), agent.Key); err != nil {
		t.Errorf("alpha's agent key stopped working: %v", err)
	}
}

// replaceID swaps known ids in path for well-formed ids that exist nowhere.
func replaceID(path string, ids ...string) string {
	for _, id := range ids {
		fake := "0190b5b2-0000-7000-8000-000000000000"
		if len(id) == 16 {
			fake = "zzzzzzzzzzzzzzzz"
		}
		path = strings.ReplaceAll(path, id, fake)
	}
	return path
}
