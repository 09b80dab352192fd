package admin

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/google/go-cmp/cmp"
)

func TestListAudit(t *testing.T) {
	e := newEnv(t)
	alpha := e.createApp("alpha")
	beta := e.createApp("beta")
	bot := e.createAgent("alpha", "bot")

	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := func(id string, app string, minute int, mut func(*audit.Event)) audit.Event {
		x := audit.Event{ID: id, Time: base.Add(time.Duration(minute) * time.Minute), Kind: audit.KindCall, AppID: app,
			Decision: audit.DecisionAllow, ProviderID: "openai", Method: "GET", Host: "api.openai.com", Status: 200}
		if mut != nil {
			mut(&x)
		}
		return x
	}
	seeded := []audit.Event{
		ev("0190b5b2-0000-7000-8000-000000000001", alpha.ID, 1, func(x *audit.Event) { x.AgentID = bot.ID; x.Principal = "agent:bot" }),
		ev("0190b5b2-0000-7000-8000-000000000002", alpha.ID, 2, func(x *audit.Event) { x.Decision = audit.DecisionDeny; x.ErrorCode = "egress_denied" }),
		ev("0190b5b2-0000-7000-8000-000000000003", alpha.ID, 3, func(x *audit.Event) { x.GrantID = "0190b5b2-0000-7000-8000-0000000000aa" }),
		ev("0190b5b2-0000-7000-8000-000000000004", beta.ID, 4, nil),
	}
	if err := e.events.InsertEvents(t.Context(), seeded); err != nil {
		t.Fatal(err)
	}
	ids := func(evs []audit.Event) []string {
		out := []string{}
		for _, x := range evs {
			if x.Kind == audit.KindCall {
				out = append(out, x.ID[len(x.ID)-1:])
			}
		}
		return out
	}
	tests := []struct {
		query url.Values
		want  []string // last digit of the call events' ids
	}{
		{url.Values{"kind": {"call"}}, []string{"1", "2", "3"}},
		{url.Values{"agent": {"bot"}}, []string{"1"}},
		{url.Values{"agent": {bot.ID}}, []string{"1"}},
		{url.Values{"principal": {"agent:bot"}}, []string{"1"}},
		{url.Values{"decision": {"deny"}}, []string{"2"}},
		{url.Values{"grant": {"0190b5b2-0000-7000-8000-0000000000aa"}}, []string{"3"}},
		{url.Values{"provider": {"openai"}, "kind": {"call"}}, []string{"1", "2", "3"}},
		{url.Values{"since": {base.Add(2 * time.Minute).Format(time.RFC3339)}, "kind": {"call"}}, []string{"2", "3"}},
		{url.Values{"until": {base.Add(2 * time.Minute).Format(time.RFC3339)}, "kind": {"call"}}, []string{"1"}},
		{url.Values{"after": {seeded[0].ID}, "kind": {"call"}}, []string{"2", "3"}},
		{url.Values{"limit": {"2"}, "kind": {"call"}}, []string{"1", "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.query.Encode(), func(t *testing.T) {
			var got []audit.Event
			e.must(http.StatusOK, "GET", "/v1/apps/alpha/audit?"+tt.query.Encode(), nil, &got)
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
	var first []audit.Event
	e.must(http.StatusOK, "GET", "/v1/apps/alpha/audit?agent=bot", nil, &first)
	if diff := cmp.Diff(seeded[0], first[0]); diff != "" {
		t.Errorf("event round trip (-want +got):\n%s", diff)
	}
	var none []audit.Event
	e.must(http.StatusOK, "GET", "/v1/apps/alpha/audit?agent=ghost", nil, &none)
	if len(none) != 0 {
		t.Errorf("unknown agent matched %d events", len(none))
	}

	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "since=yesterday", "until=2026", "agnt=bot",
		"after=" + seeded[3].ID} { // beta's event is not a cursor in alpha
		t.Run("bad "+q, func(t *testing.T) {
			e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "GET", "/v1/apps/alpha/audit?"+q, nil)
		})
	}
	e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/v1/apps/nope/audit", nil)
}

// TestAdminEventsReachTheStore checks that the admin events recorded through
// the writer end up queryable through the audit endpoint.
func TestAdminEventsReachTheStore(t *testing.T) {
	e := newEnv(t)
	e.createApp("demo")
	e.createAgent("demo", "bot")
	want := []string{"app.create", "agent.create"}
	if diff := cmp.Diff(want, e.rec.actions()); diff != "" {
		t.Fatalf("recorded (-want +got):\n%s", diff)
	}
	// Close drains the writer: everything recorded is in the store after it.
	if err := e.writer.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	var got []audit.Event
	e.must(http.StatusOK, "GET", "/v1/apps/demo/audit?kind=admin", nil, &got)
	actions := []string{}
	for _, x := range got {
		actions = append(actions, x.Action)
		if x.Actor != Actor || x.Kind != audit.KindAdmin || x.ClientAddr == "" {
			t.Errorf("admin event = %+v", x)
		}
	}
	if diff := cmp.Diff(want, actions); diff != "" {
		t.Errorf("admin events in the store (-want +got):\n%s", diff)
	}
}
