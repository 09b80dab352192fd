package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// TestStatsExported: the components' counters come out under their
// documented names and labels with exactly the values the components
// report at scrape time.
func TestStatsExported(t *testing.T) {
	v := vault.Stats{LocalHits: 40, LocalMisses: 4, StaleServed: 1, StoreReads: 3, StoreErrors: 1, RedisReads: 4, RedisHits: 1, RedisErrors: 2, InvalidationsPublished: 5, InvalidationsReceived: 6}
	o := oauth.Stats{Refreshes: 7, RefreshFailures: 2, Reused: 3, Reauth: 1, TokenCalls: 10, ProactiveRefreshes: 4, LeaseWaits: 2, LeaseErrors: 0, Conflicts: 1}
	a := audit.Stats{Queued: 12, Written: 100, Refused: 0, Dropped: 0, InsertErrors: 3}
	r, err := New("v1.2.3", Sources{
		Vault: func() vault.Stats { return v },
		OAuth: func() oauth.Stats { return o },
		Audit: func() audit.Stats { return a },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP gatehouse_audit_events_total Audit events by outcome; refused must stay 0 unless the store cannot keep up.
# TYPE gatehouse_audit_events_total counter
gatehouse_audit_events_total{outcome="dropped"} 0
gatehouse_audit_events_total{outcome="refused"} 0
gatehouse_audit_events_total{outcome="written"} 100
# HELP gatehouse_audit_queue_depth Audit events accepted and not yet written.
# TYPE gatehouse_audit_queue_depth gauge
gatehouse_audit_queue_depth 12
# HELP gatehouse_credential_cache_requests_total Credential, key and grant cache lookups by layer and result.
# TYPE gatehouse_credential_cache_requests_total counter
gatehouse_credential_cache_requests_total{layer="local",result="hit"} 40
gatehouse_credential_cache_requests_total{layer="local",result="miss"} 4
gatehouse_credential_cache_requests_total{layer="local",result="stale"} 1
gatehouse_credential_cache_requests_total{layer="redis",result="hit"} 1
gatehouse_credential_cache_requests_total{layer="redis",result="miss"} 3
# HELP gatehouse_oauth_refreshes_total OAuth token refreshes by outcome.
# TYPE gatehouse_oauth_refreshes_total counter
gatehouse_oauth_refreshes_total{outcome="failed"} 2
gatehouse_oauth_refreshes_total{outcome="needs_reauth"} 1
gatehouse_oauth_refreshes_total{outcome="refreshed"} 7
gatehouse_oauth_refreshes_total{outcome="reused"} 3
# HELP gatehouse_vault_errors_total Failed vault calls by backend.
# TYPE gatehouse_vault_errors_total counter
gatehouse_vault_errors_total{backend="redis"} 2
gatehouse_vault_errors_total{backend="store"} 1
`
	names := []string{"gatehouse_audit_events_total", "gatehouse_audit_queue_depth", "gatehouse_credential_cache_requests_total", "gatehouse_oauth_refreshes_total", "gatehouse_vault_errors_total"}
	if err := testutil.GatherAndCompare(r.Prometheus(), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	// The values are read at scrape time, not copied at New.
	a.Refused = 2
	if got := scrape(t, r, `gatehouse_audit_events_total{outcome="refused"}`); got != "2" {
		t.Errorf("refused after a change = %s, want 2", got)
	}
}

// scrape reads the handler's exposition and returns the value of series.
func scrape(t *testing.T, r *Registry, series string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	t.Fatalf("series %s not in the scrape:\n%s", series, body)
	return ""
}

// TestBuildInfoAndNoHighCardinality: build_info carries the version, and
// no exported series has a label that could hold a grant, user, request id
// or path.
func TestBuildInfoAndNoHighCardinality(t *testing.T) {
	r, err := New("v9.9.9", Sources{Vault: func() vault.Stats { return vault.Stats{} }, OAuth: func() oauth.Stats { return oauth.Stats{} }, Audit: func() audit.Stats { return audit.Stats{} }})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := r.Prometheus().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sawBuild := false
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "grant", "grant_id", "user", "principal", "request_id", "path", "key_id":
					t.Errorf("%s has high-cardinality label %s", mf.GetName(), l.GetName())
				}
				if mf.GetName() == "gatehouse_build_info" && l.GetName() == "version" && l.GetValue() == "v9.9.9" {
					sawBuild = true
				}
			}
		}
	}
	if !sawBuild {
		t.Error("gatehouse_build_info{version=\"v9.9.9\"} not exported")
	}
}

// TestCallsObserve: each call's audit event moves exactly its series.
func TestCallsObserve(t *testing.T) {
	r, err := New("test", Sources{})
	if err != nil {
		t.Fatal(err)
	}
	c := r.Calls()
	for _, ev := range []audit.Event{
		{Kind: audit.KindCall, ProviderID: "openai", Decision: audit.DecisionAllow, Status: 200, TotalLatency: 3 * time.Millisecond, UpstreamLatency: 2 * time.Millisecond},
		{Kind: audit.KindCall, ProviderID: "openai", Decision: audit.DecisionAllow, Status: 201, TotalLatency: time.Millisecond, UpstreamLatency: time.Millisecond},
		{Kind: audit.KindCall, ProviderID: "slack", Decision: audit.DecisionDeny, Status: 403, ErrorCode: "policy_denied", Rule: "bot-read-only", TotalLatency: 100 * time.Microsecond},
		{Kind: audit.KindCall, Decision: audit.DecisionDeny, Status: 403, ErrorCode: "egress_denied"},
		{Kind: audit.KindCall, ProviderID: "slack", Decision: audit.DecisionReport, Status: 500, Rule: "shadow"},
		{Kind: audit.KindAdmin, Action: "grant.revoke"}, // not a call
	} {
		c.Observe(ev)
	}
	want := `
# HELP gatehouse_refusals_total Refused calls by error code and policy rule (empty when no rule decided).
# TYPE gatehouse_refusals_total counter
gatehouse_refusals_total{code="egress_denied",rule=""} 1
gatehouse_refusals_total{code="policy_denied",rule="bot-read-only"} 1
# HELP gatehouse_requests_total Proxied calls and refusals by provider, decision (allow, deny, report, tunnel) and status class.
# TYPE gatehouse_requests_total counter
gatehouse_requests_total{decision="allow",provider="openai",status_class="2xx"} 2
gatehouse_requests_total{decision="deny",provider="none",status_class="4xx"} 1
gatehouse_requests_total{decision="deny",provider="slack",status_class="4xx"} 1
gatehouse_requests_total{decision="report",provider="slack",status_class="5xx"} 1
`
	if err := testutil.GatherAndCompare(r.Prometheus(), strings.NewReader(want), "gatehouse_requests_total", "gatehouse_refusals_total"); err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, r, "gatehouse_overhead_duration_seconds_count"); got != "2" {
		t.Errorf("overhead observations = %s, want 2 (forwarded calls only)", got)
	}
	if got := scrape(t, r, "gatehouse_request_duration_seconds_count"); got != "5" {
		t.Errorf("total observations = %s, want 5 (every call)", got)
	}
}
