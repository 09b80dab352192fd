package admin

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDelegations(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	e.createApp("other")
	bot := e.createAgent("demo", "bot")
	helper := e.createAgent("demo", "helper")
	alice := e.putSecretFor("demo", "slack", "user:alice", "xoxp-1")
	bob := e.putSecretFor("demo", "slack", "user:bob", "xoxp-2")
	sys := e.putSecretFor("demo", "slack", "system", "xoxb-1")
	gone := e.putSecretFor("demo", "slack", "user:carol", "xoxp-3")
	e.must(http.StatusOK, "POST", "/v1/apps/demo/grants/"+gone.GrantID+"/revoke", nil, nil)

	create := func(grantID, agent string) delegationView {
		t.Helper()
		var d delegationView
		e.must(http.StatusCreated, "POST", "/v1/apps/demo/grants/"+grantID+"/delegations", map[string]string{"agent": agent}, &d)
		if ev := e.rec.last(t); ev.Action != "delegation.create" || ev.GrantID != grantID || ev.AgentID != d.AgentID || ev.Principal == "" {
			t.Errorf("audit event = %+v", ev)
		}
		return d
	}
	d1 := create(alice.GrantID, "bot")
	d2 := create(alice.GrantID, helper.ID) // agent by id
	d3 := create(bob.GrantID, "bot")
	for _, c := range []struct {
		d             delegationView
		grant, agent  string
		agentID, name string
	}{
		{d1, alice.GrantID, "bot", bot.ID, "bot"},
		{d2, alice.GrantID, "helper", helper.ID, "helper"},
		{d3, bob.GrantID, "bot", bot.ID, "bot"},
	} {
		if c.d.ID == "" || c.d.AppID != app.ID || c.d.GrantID != c.grant || c.d.AgentID != c.agentID || c.d.Agent != c.name {
			t.Errorf("delegation %+v, want grant %s agent %s (%s)", c.d, c.grant, c.name, c.agentID)
		}
	}

	bad := []struct {
		name, grant string
		body        any
		status      int
		code        string
		contains    string
	}{
		{"twice", alice.GrantID, map[string]string{"agent": "bot"}, 409, CodeConflict, `already delegated to agent "bot"`},
		{"system grant", sys.GrantID, map[string]string{"agent": "bot"}, 400, CodeInvalidRequest, "only a user's grants"},
		{"revoked grant", gone.GrantID, map[string]string{"agent": "bot"}, 409, CodeConflict, "revoked"},
		{"unknown agent", bob.GrantID, map[string]string{"agent": "ghost"}, 404, CodeNotFound, `agent "ghost"`},
		{"no agent", bob.GrantID, map[string]string{}, 400, CodeInvalidRequest, `"agent"`},
		{"unknown grant", "0190b5b2-0000-7000-8000-000000000000", map[string]string{"agent": "bot"}, 404, CodeNotFound, "grant"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			n := len(e.rec.actions())
			got := e.wantErr(tt.status, tt.code, "POST", "/v1/apps/demo/grants/"+tt.grant+"/delegations", tt.body)
			if !strings.Contains(got.Message, tt.contains) {
				t.Errorf("message %q does not contain %q", got.Message, tt.contains)
			}
			if len(e.rec.actions()) != n {
				t.Error("a failed call recorded an audit event")
			}
		})
	}
	e.wantErr(http.StatusNotFound, CodeNotFound, "POST", "/v1/apps/other/grants/"+alice.GrantID+"/delegations", map[string]string{"agent": "bot"})

	lists := []struct {
		query url.Values
		want  []string
	}{
		{url.Values{}, []string{d1.ID, d2.ID, d3.ID}},
		{url.Values{"grant": {alice.GrantID}}, []string{d1.ID, d2.ID}},
		{url.Values{"agent": {"bot"}}, []string{d1.ID, d3.ID}},
		{url.Values{"agent": {helper.ID}}, []string{d2.ID}},
		{url.Values{"agent": {"ghost"}}, []string{}},
		{url.Values{"grant": {bob.GrantID}, "agent": {"helper"}}, []string{}},
	}
	for _, tt := range lists {
		t.Run("list "+tt.query.Encode(), func(t *testing.T) {
			var ds []delegationView
			e.must(http.StatusOK, "GET", "/v1/apps/demo/delegations?"+tt.query.Encode(), nil, &ds)
			got := []string{}
			for _, d := range ds {
				got = append(got, d.ID)
				if d.Agent == "" {
					t.Errorf("delegation %s without agent name", d.ID)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "GET", "/v1/apps/demo/delegations?agnt=bot", nil)
	var foreign []delegationView
	e.must(http.StatusOK, "GET", "/v1/apps/other/delegations", nil, &foreign)
	if len(foreign) != 0 {
		t.Errorf("other app lists %+v", foreign)
	}

	t.Run("delete", func(t *testing.T) {
		e.wantErr(http.StatusNotFound, CodeNotFound, "DELETE", "/v1/apps/other/delegations/"+d1.ID, nil)
		var got delegationView
		e.must(http.StatusOK, "DELETE", "/v1/apps/demo/delegations/"+d1.ID, nil, &got)
		if diff := cmp.Diff(d1, got); diff != "" {
			t.Errorf("deleted (-want +got):\n%s", diff)
		}
		if ev := e.rec.last(t); ev.Action != "delegation.delete" || ev.GrantID != alice.GrantID || ev.AgentID != bot.ID || ev.Principal != "user:alice" {
			t.Errorf("audit event = %+v", ev)
		}
		e.wantErr(http.StatusNotFound, CodeNotFound, "DELETE", "/v1/apps/demo/delegations/"+d1.ID, nil)
		var ds []delegationView
		e.must(http.StatusOK, "GET", "/v1/apps/demo/delegations?grant="+alice.GrantID, nil, &ds)
		if len(ds) != 1 || ds[0].ID != d2.ID {
			t.Errorf("after delete: %+v", ds)
		}
		// The grant stays.
		var gs []grantView
		e.must(http.StatusOK, "GET", "/v1/apps/demo/grants?principal=user:alice&status=active", nil, &gs)
		if len(gs) != 1 {
			t.Errorf("alice's grants after undelegation: %+v", gs)
		}
	})
}
