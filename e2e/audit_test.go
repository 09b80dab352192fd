package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// auditTimeout bounds the wait for the asynchronous audit writer.
const auditTimeout = 15 * time.Second

// auditRow is the part of an audit event these tests look at.
type auditRow struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	RequestID  string `json:"request_id"`
	AppID      string `json:"app_id"`
	KeyID      string `json:"key_id"`
	AgentID    string `json:"agent_id"`
	Principal  string `json:"principal"`
	GrantID    string `json:"grant_id"`
	ProviderID string `json:"provider_id"`
	Method     string `json:"method"`
	Host       string `json:"host"`
	Path       string `json:"path"`
	Status     int    `json:"status"`
	Decision   string `json:"decision"`
	Rule       string `json:"rule"`
	ErrorCode  string `json:"error_code"`
}

// call is one request a client made and what its audit row must say.
type call struct {
	name      string
	requestID string
	status    int
	provider  string
	grant     string
	code      string // error code, "" when allowed
}

// auditList runs `audit list` and returns its raw JSON and decoded rows.
func (g *gatehouse) auditList(appName string) (string, []auditRow) {
	g.t.Helper()
	r := g.cli("", "audit", "list", "--app", appName)
	if r.code != 0 {
		g.t.Fatalf("audit list: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	var rows []auditRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		g.t.Fatalf("audit list output is not a JSON array of events (%v): %q", err, r.stdout)
	}
	return r.stdout, rows
}

// waitAudit polls `audit list` until every call's request id has a row.
func (g *gatehouse) waitAudit(appName string, calls []call) (string, []auditRow) {
	g.t.Helper()
	deadline := time.Now().Add(auditTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		raw, rows := g.auditList(appName)
		seen := map[string]bool{}
		for _, r := range rows {
			seen[r.RequestID] = true
		}
		missing := 0
		for _, c := range calls {
			if !seen[c.requestID] {
				missing++
			}
		}
		if missing == 0 {
			return raw, rows
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("after %s, %d of %d calls have no audit row", auditTimeout, missing, len(calls))
		}
		<-tick.C
	}
}

// waitAuditRow polls `audit list` until a row satisfies match.
func (g *gatehouse) waitAuditRow(appName string, match func(auditRow) bool) auditRow {
	g.t.Helper()
	deadline := time.Now().Add(auditTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		_, rows := g.auditList(appName)
		for _, r := range rows {
			if match(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("after %s no matching audit row among %d: %+v", auditTimeout, len(rows), rows)
		}
		<-tick.C
	}
}

// requireAudit checks exactly one call row per request id, with the
// fields each call implies, and no call row nobody made.
func requireAudit(t *testing.T, rows []auditRow, calls []call, tn tenant) {
	t.Helper()
	byID := map[string][]auditRow{}
	callRows := 0
	for _, r := range rows {
		if r.Kind == "call" {
			callRows++
			byID[r.RequestID] = append(byID[r.RequestID], r)
		}
	}
	if callRows != len(calls) {
		t.Errorf("%d call rows for %d calls", callRows, len(calls))
	}
	for _, c := range calls {
		got := byID[c.requestID]
		if len(got) != 1 {
			t.Errorf("%s: %d rows for request id %q, want 1", c.name, len(got), c.requestID)
			continue
		}
		r := got[0]
		decision := "allow"
		if c.code != "" {
			decision = "deny"
		}
		want := auditRow{Status: c.status, Decision: decision, ErrorCode: c.code, ProviderID: c.provider,
			GrantID: c.grant, AgentID: tn.agent.ID, AppID: tn.app.ID}
		gotCmp := auditRow{Status: r.Status, Decision: r.Decision, ErrorCode: r.ErrorCode, ProviderID: r.ProviderID,
			GrantID: r.GrantID, AgentID: r.AgentID, AppID: r.AppID}
		if diff := cmp.Diff(want, gotCmp); diff != "" {
			t.Errorf("%s: audit row (-want +got):\n%s", c.name, diff)
		}
		if r.KeyID != tn.agent.KeyID || r.Method == "" || r.Host == "" {
			t.Errorf("%s: row lacks the key id, method or host: %+v", c.name, r)
		}
		// The principal is the grant's; a refusal before any grant was
		// resolved may leave it empty.
		if r.Principal != "agent:bot" && (c.grant != "" || r.Principal != "") {
			t.Errorf("%s: principal %q, want agent:bot", c.name, r.Principal)
		}
	}
}

// TestAuditHygieneRestart drives a mix of allowed and refused calls with
// three clients, then checks the audit trail, scans everything Gatehouse
// wrote for secrets, restarts it and checks nothing was lost.
func TestAuditHygieneRestart(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	oa := g.putSecret("acme", "openai", "agent:bot", openaiKey)
	tw := g.putSecret("acme", "twilio", "agent:bot", twilioUser+":"+twilioPass, "--kind", "basic")
	gm := g.putSecret("acme", "google-maps", "agent:bot", mapsKey)
	g.createKey("acme", "") // only for the scan: its plaintext must appear nowhere
	c := g.goClient(t, tn.agent.Key)
	env := []string{"HTTPS_PROXY=" + g.proxyURL(tn.agent.Key)}

	var calls []call
	add := func(name string, r reply, status int, provider, grant, code string) {
		t.Helper()
		if r.status != status {
			t.Fatalf("%s: status %d, want %d: %s", name, r.status, status, r.body)
		}
		calls = append(calls, call{name, r.requestID(), status, provider, grant, code})
	}
	add("go openai", goDo(t, c, "GET", "https://api.openai.com/v1/models", nil), 200, "openai", oa.GrantID, "")
	add("go openai again", goDo(t, c, "POST", "https://api.openai.com/v1/embeddings", nil), 200, "openai", oa.GrantID, "")
	cr, _, _, _ := g.curl(t, env, "--cacert", g.caFile(), "https://api.openai.com/v1/models")
	add("curl openai", cr, 200, "openai", oa.GrantID, "")
	add("python twilio", g.python(t, tn.agent.Key, "https://api.twilio.com/2010-04-01/Accounts.json"), 200, "twilio", tw.GrantID, "")
	add("go maps", goDo(t, c, "GET", "https://maps.googleapis.com/maps/api/geocode/json?address=x", nil), 200, "google-maps", gm.GrantID, "")
	add("no stripe grant", goDo(t, c, "GET", "https://api.stripe.com/v1/charges", nil), 403, "stripe", "", "grant_not_found")
	add("unknown grant", goDo(t, c, "GET", "https://api.openai.com/v1/models",
		http.Header{"Gatehouse-Grant": {"0190b6a4-1c2d-7e3f-8a9b-0c1d2e3f4a5b"}}), 403, "openai", "", "grant_not_found")
	add("egress denied", g.connect(t, "unknown.example:443", basicAuth(tn.agent.Key)), 403, "", "", "egress_denied")
	pr, _, _, _ := g.curl(t, nil, "-x", g.proxyURL(tn.agent.Key), "http://api.openai.com/v1/models")
	add("plaintext", pr, 403, "openai", "", "plaintext_refused")

	ids := map[string]bool{}
	for _, c := range calls {
		if c.requestID == "" || ids[c.requestID] {
			t.Fatalf("%s: request id %q is empty or not unique", c.name, c.requestID)
		}
		ids[c.requestID] = true
	}
	raw, rows := g.waitAudit("acme", calls)
	requireAudit(t, rows, calls, tn)

	g.requireClean("while serving")
	requireNoSecrets(t, "audit list output", raw, g.secrets)

	g.restart()
	_, after := g.auditList("acme")
	requireAudit(t, after, calls, tn)
	// The same key and secrets work after the restart.
	c2 := g.goClient(t, tn.agent.Key)
	requireOK(t, goDo(t, c2, "GET", "https://api.openai.com/v1/models", nil))
	requireDelivered(t, g.up.Last(t), "api.openai.com", "Authorization", "Bearer "+openaiKey)
	requireOK(t, goDo(t, c2, "GET", "https://api.twilio.com/2010-04-01/Accounts.json", nil))
	requireDelivered(t, g.up.Last(t), "api.twilio.com", "Authorization", "Basic "+g.secrets["acme twilio secret basic header"])

	// The cleanup scans the log and data dir again after the final stop.
}
