package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/fakeupstream"
)

// writePolicy writes rules (a YAML rule list) as dir/name.
func writePolicy(t *testing.T, dir, name, rules string) {
	t.Helper()
	doc := "apiVersion: gatehouse/v1\nkind: Policy\nrules:\n" + rules
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil { // atomic, like a config manager
		t.Fatal(err)
	}
}

// clock returns "HH:MM" of now+d in UTC, for time windows that do (or do
// not) contain the present by hours, far from any edge.
func clock(d time.Duration) string { return time.Now().UTC().Add(d).Format("15:04") }

// TestPolicyThroughTheProxy: a policy directory restricts an agent to
// reads, a time-window rule denies outside its window, a report rule lets
// calls through and marks them would-deny in the audit, and editing the
// file while serving takes effect without a restart.
func TestPolicyThroughTheProxy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rules := fmt.Sprintf(`
  - name: bot-read-only
    effect: deny
    match: {agents: [bot], methods: [POST, PUT, PATCH, DELETE]}
  - name: batch-window
    description: batch jobs only between two and four hours from now (UTC)
    effect: deny
    match: {paths: ["/v1/batches"]}
    when: {not_time: {zone: UTC, from: %q, to: %q}}
  - name: night-only
    effect: deny
    match: {paths: ["/v1/fine_tuning/jobs"]}
    when: {time: {zone: UTC, from: %q, to: %q}}
  - name: shadow-embeddings
    effect: report
    match: {paths: ["/v1/embeddings"]}
`, clock(2*time.Hour), clock(4*time.Hour), clock(2*time.Hour), clock(4*time.Hour))
	writePolicy(t, dir, "agents.yaml", rules)
	g := startWith(t, fakeupstream.Start(t, upstreamHosts()...), map[string]map[string]any{"policy": {"dirs": []string{dir}}})
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", "sk-policy-0123456789")
	c := g.goClient(t, tn.agent.Key)
	do := func(method, path string) reply {
		return goDo(t, c, method, "https://api.openai.com"+path, nil)
	}

	if r := do("GET", "/v1/files"); r.status != 200 {
		t.Errorf("GET: %d %s, want 200", r.status, r.body)
	}
	before := g.up.Count()
	if f := do("POST", "/v1/files").requireRefusal(t, http.StatusForbidden, "policy_denied"); f["rule"] != "bot-read-only" {
		t.Errorf("POST refused by rule %v, want bot-read-only", f["rule"])
	}
	if f := do("GET", "/v1/batches").requireRefusal(t, http.StatusForbidden, "policy_denied"); f["rule"] != "batch-window" {
		t.Errorf("outside its window: refused by %v, want batch-window", f["rule"])
	}
	if g.up.Count() != before {
		t.Error("a denied call reached the upstream")
	}
	if r := do("GET", "/v1/fine_tuning/jobs"); r.status != 200 {
		t.Errorf("a deny window that is not now applied: %d %s", r.status, r.body)
	}
	if r := do("GET", "/v1/embeddings"); r.status != 200 {
		t.Errorf("report rule: %d %s, want 200", r.status, r.body)
	}
	row := g.waitAuditRow("acme", func(r auditRow) bool { return r.Path == "/v1/embeddings" })
	if row.Decision != "report" || row.Rule != "shadow-embeddings" {
		t.Errorf("report-mode audit row: decision %q rule %q, want report shadow-embeddings", row.Decision, row.Rule)
	}

	t.Run("hot reload", func(t *testing.T) {
		writePolicy(t, dir, "agents.yaml", "  - {name: nothing-denied, effect: report, match: {paths: [/never]}}\n")
		waitFor(t, 10*time.Second, "the edited policy to apply", func() bool { return do("POST", "/v1/files").status == 200 })
		// A file that does not validate keeps the last good policy.
		if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("apiVersion: gatehouse/v1\nkind: Policy\nrules:\n  - {name: x, effect: maybe}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the rejection to be logged", func() bool { return strings.Contains(g.log(), "broken.yaml") })
		if r := do("POST", "/v1/files"); r.status != 200 {
			t.Errorf("after a broken file: %d %s, want the last good policy (200)", r.status, r.body)
		}
	})
}

// TestPolicyRateLimitAcrossReplicas: a per-agent rate limit holds across
// two replicas sharing Redis — N calls allowed in total, not per replica.
func TestPolicyRateLimitAcrossReplicas(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 5
	writePolicy(t, dir, "rate.yaml", fmt.Sprintf(`
  - name: bot-rate
    effect: deny
    match: {agents: [bot]}
    rate_limit: {per: agent, rate: %d, period: 1h, burst: %d}
`, n, n))
	c := startCluster(t, 2, testDatabaseURL(), testRedisURL(), map[string]map[string]any{"policy": {"dirs": []string{dir}}})
	a := c.replicas[0]
	tn := a.newTenant("acme")
	a.putSecret("acme", "openai", "agent:bot", "sk-rate-0123456789")
	var clients []*http.Client
	for _, g := range c.replicas {
		g.secrets = a.secrets
		clients = append(clients, g.goClient(t, tn.agent.Key))
	}
	counts := map[int]int{}
	retry := ""
	for i := range 4 * n {
		r := goDo(t, clients[i%len(clients)], "GET", "https://api.openai.com/v1/models", nil)
		counts[r.status]++
		if r.status == http.StatusTooManyRequests {
			if f := r.requireRefusal(t, http.StatusTooManyRequests, "rate_limited"); f["rule"] != "bot-rate" {
				t.Errorf("rate_limited by %v, want bot-rate", f["rule"])
			}
			retry = r.header.Get("Retry-After")
		}
	}
	if counts[200] != n || counts[429] != 3*n {
		t.Errorf("statuses %v, want %d × 200 and %d × 429 across both replicas", counts, n, 3*n)
	}
	if retry == "" || retry == "0" {
		t.Errorf("Retry-After = %q, want seconds until a token is back", retry)
	}
}
