package e2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestMetricsEndpoint: the running binary serves Prometheus metrics on the
// admin listener without the admin token; after real traffic the cache and
// audit series show it, and nothing secret is in the scrape.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", "sk-metrics-0123456789")
	c := g.goClient(t, tn.agent.Key)
	const calls = 3
	for range calls {
		if r := goDo(t, c, "GET", "https://api.openai.com/v1/models", nil); r.status != 200 {
			t.Fatalf("call: %d %s", r.status, r.body)
		}
	}
	goDo(t, c, "GET", "https://api.openai.com/v1/models", http.Header{"Gatehouse-Grant": {"00000000-0000-7000-8000-000000000000"}}).
		requireRefusal(t, http.StatusForbidden, "grant_not_found")
	g.auditList("acme") // flushes the audit writer
	resp, err := http.Get("http://" + g.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	body := string(b)
	value := func(series string) float64 {
		t.Helper()
		for line := range strings.SplitSeq(body, "\n") {
			if v, ok := strings.CutPrefix(line, series+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("%s: %v", series, err)
				}
				return f
			}
		}
		t.Fatalf("%s not exported", series)
		return 0
	}
	if !strings.Contains(body, `gatehouse_build_info{goversion="go`) {
		t.Error("gatehouse_build_info missing")
	}
	if n := value(`gatehouse_credential_cache_requests_total{layer="local",result="hit"}`); n < calls {
		t.Errorf("local cache hits = %v, want at least %d after %d calls", n, calls, calls)
	}
	if n := value(`gatehouse_audit_events_total{outcome="written"}`); n < calls {
		t.Errorf("audit events written = %v, want at least %d", n, calls)
	}
	if n := value(`gatehouse_requests_total{decision="allow",provider="openai",status_class="2xx"}`); n != calls {
		t.Errorf("allowed openai calls = %v, want %d", n, calls)
	}
	if n := value(`gatehouse_refusals_total{code="grant_not_found",rule=""}`); n != 1 {
		t.Errorf("grant_not_found refusals = %v, want 1", n)
	}
	if n := value(`gatehouse_audit_events_total{outcome="refused"}`); n != 0 {
		t.Errorf("audit events refused = %v, want 0", n)
	}
	requireNoSecrets(t, "/metrics", body, g.secrets)
}
