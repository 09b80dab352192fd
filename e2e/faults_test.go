package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tcpfault"
)

// TestDependencyFaults takes Redis and then PostgreSQL away from a running
// replica (a TCP forwarder in front of the machine's servers is cut) and
// brings them back: no request gets a wrong credential, cached credentials
// keep working, what is not cached is refused with vault_unavailable, and
// the replica recovers without a restart.
func TestDependencyFaults(t *testing.T) {
	t.Parallel()
	pg, err := tcpfault.Start("127.0.0.1:5432")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	rd, err := tcpfault.Start("127.0.0.1:6379")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rd.Close)
	c := startCluster(t, 1, "postgres://postgres@"+pg.Addr()+"/test?sslmode=disable", "redis://"+rd.Addr()+"/0")
	g := c.replicas[0]
	tn := g.newTenant("acme")
	const secret = "sk-fault-0123456789abcdef"
	g.putSecret("acme", "openai", "agent:bot", secret)
	fresh := g.createKey("acme", "bot") // never used: nothing about it is cached
	client := g.goClient(t, tn.agent.Key)

	// ok sends n requests and requires each to be answered 200 with exactly
	// the stored credential upstream.
	ok := func(phase string, n int) {
		t.Helper()
		for i := range n {
			r := goDo(t, client, "GET", "https://api.openai.com/v1/models", nil)
			if r.status != http.StatusOK {
				t.Fatalf("%s, request %d: status %d: %s", phase, i, r.status, r.body)
			}
			requireDelivered(t, c.up.Last(t), "api.openai.com", "Authorization", "Bearer "+secret)
		}
	}
	ok("healthy", 5)

	rd.Cut()
	ok("redis down", 20)
	if h := health(t, g); h["redis"] != "error" {
		t.Errorf("health with Redis down = %v", h)
	}
	rd.Restore()
	ok("redis back", 5)

	pg.Cut()
	ok("postgres down, cached", 20)
	g.connect(t, "api.openai.com:443", basicAuth(fresh.Key)).requireRefusal(t, http.StatusServiceUnavailable, "vault_unavailable")
	if h := health(t, g); h["store"] != "error" {
		t.Errorf("health with PostgreSQL down = %v", h)
	}
	pg.Restore()

	// Recovery without restart: the key that could not be checked works once
	// the pool reconnects (a bounded poll on a ticker, not a sleep). Until
	// then its CONNECT is refused with 503, which Go's client reports as an
	// error carrying the status text.
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	freshClient := g.goClient(t, fresh.Key)
	for {
		resp, err := freshClient.Get("https://api.openai.com/v1/models")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("after recovery: status %d", resp.StatusCode)
			}
			break
		}
		if !strings.Contains(err.Error(), "Service Unavailable") {
			t.Fatalf("while PostgreSQL reconnects: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica did not recover after PostgreSQL came back")
		}
		<-tick.C
	}
	requireDelivered(t, c.up.Last(t), "api.openai.com", "Authorization", "Bearer "+secret)
	ok("recovered", 5)
}

// health reads /readyz's JSON detail.
func health(t *testing.T, g *gatehouse) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + g.adminAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("/readyz body %q: %v", b, err)
	}
	return out
}
