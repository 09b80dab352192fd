package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/fakeoauth"
)

// stormRequests is how many concurrent requests hit one expired token.
const stormRequests = 1000

// stormResult is one storm request's outcome.
type stormResult struct {
	status     int
	account    string
	generation int
	err        string
}

// storm sends n requests for grantID at once (released together by one
// barrier), spread round-robin over clients (one per replica), and returns
// every outcome and the wall time from release to the last answer.
func storm(clients []*http.Client, grantID string, n int) ([]stormResult, time.Duration) {
	results := make([]stormResult, n)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-release
			req, err := http.NewRequest(http.MethodGet, slackAPI, nil)
			if err != nil {
				results[i].err = err.Error()
				return
			}
			req.Header.Set("Gatehouse-Grant", grantID)
			resp, err := clients[i%len(clients)].Do(req)
			if err != nil {
				results[i].err = err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			results[i].status = resp.StatusCode
			var body struct {
				Account    string `json:"account"`
				Generation int    `json:"token_generation"`
				Error      any    `json:"error"`
			}
			if json.Unmarshal(b, &body) == nil {
				results[i].account, results[i].generation = body.Account, body.Generation
			}
			if resp.StatusCode != http.StatusOK {
				results[i].err = strings.TrimSpace(string(b))
			}
		})
	}
	start := time.Now()
	close(release)
	wg.Wait()
	return results, time.Since(start)
}

// stormClients is one proxy client per replica, each with a connection
// pool large enough that the requests really are concurrent.
func stormClients(t *testing.T, c *cluster, key string) []*http.Client {
	t.Helper()
	out := make([]*http.Client, len(c.replicas))
	for i, g := range c.replicas {
		cl := g.goClient(t, key)
		tr := cl.Transport.(*http.Transport)
		tr.MaxIdleConnsPerHost = stormRequests
		cl.Timeout = 60 * time.Second
		out[i] = cl
	}
	return out
}

// TestOAuthRefreshStorm: three replicas, one grant whose access token is
// expired (for Gatehouse, and refused by the fake API), 1000
// concurrent requests spread over the replicas → exactly one refresh
// reaches the token endpoint, no request injects the old token, every
// request gets 200 with the new one. Repeated with a slow token endpoint
// and with one that fails twice with 503 first.
func TestOAuthRefreshStorm(t *testing.T) {
	t.Parallel()
	c, fake := startSlackCluster(t, 3, slackOptions(time.Hour), nil)
	a := c.replicas[0]
	tn := a.newTenant("acme")
	a.configureSlack("acme")
	clients := stormClients(t, c, tn.agent.Key)

	tests := []struct {
		name       string
		setup      func()
		tokenCalls int
	}{
		{"expired token", func() {}, 1},
		{"slow token endpoint", func() { fake.SetDelay(2 * time.Second) }, 1},
		{"token endpoint fails twice with 503", func() { fake.FailNext(2, http.StatusServiceUnavailable) }, 3},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			account := fmt.Sprintf("U0STORM%d", i)
			fake.SetAccount(account)
			grant, issued := a.connectWithTTL(t, fake, time.Second, "acme", fmt.Sprintf("storm%d", i), "--agent", "bot")
			// Past its one-second life the token is expired for Gatehouse and
			// for the fake API alike: injecting it would show as a 401.
			waitUntil(t, issued.Add(1100*time.Millisecond))
			tt.setup()
			t.Cleanup(func() { fake.SetDelay(0); fake.FailNext(0, 0) })

			before, ups := fake.Stats(), len(apiRequests(c.up))
			results, wall := storm(clients, grant.GrantID, stormRequests)
			after := fake.Stats()

			failures := map[string]int{}
			for _, r := range results {
				if r.status != http.StatusOK || r.account != account || r.generation != 2 {
					failures[fmt.Sprintf("status %d account %q generation %d: %.200s", r.status, r.account, r.generation, r.err)]++
				}
			}
			requireNoFailures(t, failures)
			calls, refreshes := after.TokenCalls-before.TokenCalls, after.Refreshes-before.Refreshes
			t.Logf("%d requests over %d replicas: %d token calls, %d refresh, wall time %v",
				stormRequests, len(c.replicas), calls, refreshes, wall.Round(time.Millisecond))
			if calls != tt.tokenCalls || refreshes != 1 {
				t.Errorf("token endpoint: %d calls, %d refreshes; want %d calls and exactly 1 refresh", calls, refreshes, tt.tokenCalls)
			}
			if d := after.ReuseDetected - before.ReuseDetected; d != 0 {
				t.Errorf("%d refresh token reuses", d)
			}
			if d := after.APIUnauthorized - before.APIUnauthorized; d != 0 {
				t.Errorf("%d requests injected the expired token (the API answered 401)", d)
			}
			if d := len(apiRequests(c.up)) - ups; d != stormRequests {
				t.Errorf("%d API requests reached the upstream, want %d", d, stormRequests)
			}
		})
	}
}

// requireNoFailures reports grouped failures, most frequent first.
func requireNoFailures(t *testing.T, failures map[string]int) {
	t.Helper()
	if len(failures) == 0 {
		return
	}
	msgs := make([]string, 0, len(failures))
	total := 0
	for m, n := range failures {
		msgs = append(msgs, fmt.Sprintf("%4d × %s", n, m))
		total += n
	}
	sort.Sort(sort.Reverse(sort.StringSlice(msgs)))
	t.Errorf("%d of %d requests did not get 200 with the refreshed token:\n%s", total, stormRequests, strings.Join(msgs, "\n"))
}

// TestOAuthRestartSafety: the replica that refreshed a rotating token is
// killed with SIGKILL right after the rotated token set is persisted (the
// credential version moved in PostgreSQL) → the other replica injects the
// new access token without a refresh, and a later forced refresh uses the
// new refresh token: the provider never sees the consumed one again.
func TestOAuthRestartSafety(t *testing.T) {
	t.Parallel()
	// A short lease so that one left behind by the killed replica expires
	// quickly; it must exceed the token timeout.
	c, fake := startSlackCluster(t, 2, slackOptions(time.Hour), map[string]any{"lease_ttl": "4s", "token_timeout": "2s"})
	a, b := c.replicas[0], c.replicas[1]
	tn := a.newTenant("acme")
	a.configureSlack("acme")
	grant, issued := a.connectWithTTL(t, fake, time.Second, "acme", "alice", "--agent", "bot")
	waitUntil(t, issued.Add(1100*time.Millisecond)) // the access token expired

	ctx := t.Context()
	conn, err := pgx.Connect(ctx, testDatabaseURL())
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	v0, err := credentialVersion(ctx, conn, c.schema, grant.GrantID)
	if err != nil {
		t.Fatal(err)
	}

	refreshed := make(chan time.Time, 1)
	fake.OnTokenIssued(func(kind string) {
		if kind == fakeoauth.IssuedRefresh {
			select {
			case refreshed <- time.Now():
			default:
			}
		}
	})
	t.Cleanup(func() { fake.OnTokenIssued(nil) })

	// One request through replica a makes a refresh; a dies under it.
	inflight := make(chan error, 1)
	clientA := a.goClient(t, tn.agent.Key)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, slackAPI, nil)
		req.Header.Set("Gatehouse-Grant", grant.GrantID)
		resp, err := clientA.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		inflight <- err
	}()
	var issuedAt time.Time
	select {
	case issuedAt = <-refreshed:
	case <-time.After(connectTimeout):
		t.Fatal("replica a did not refresh the expiring token")
	}
	// Poll tightly: the kill must land right after the write.
	var v1 int64
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	for v1 <= v0 {
		if time.Now().After(deadline) {
			tick.Stop()
			t.Fatalf("the rotated token set was not persisted: credential version still %d", v0)
		}
		<-tick.C
		if v1, err = credentialVersion(ctx, conn, c.schema, grant.GrantID); err != nil {
			tick.Stop()
			t.Fatal(err)
		}
	}
	tick.Stop()
	if err := a.proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.proc.done
	a.proc = nil
	t.Logf("credential version %d → %d; replica a killed %v after the rotated token was issued",
		v0, v1, time.Since(issuedAt).Round(time.Millisecond))
	select { // the in-flight request ends with a (its outcome does not matter)
	case <-inflight:
	case <-time.After(clientTimeout):
		t.Fatal("the request in flight on the killed replica did not end")
	}

	afterKill := fake.Stats()
	clientB := b.goClient(t, tn.agent.Key)
	requireSlackOK(t, callSlack(t, clientB, grant.GrantID), aliceAccount, 2)
	if s := fake.Stats(); s.TokenCalls != afterKill.TokenCalls {
		t.Errorf("replica b went to the token endpoint (%d calls) although the store had a fresh token", s.TokenCalls-afterKill.TokenCalls)
	}

	// Wait out any lease the killed replica left behind, then force a refresh
	// on b with an upstream 401.
	rc := redisClient(t)
	waitFor(t, 15*time.Second, "the killed replica's refresh lease to expire", func() bool {
		keys, err := rc.Keys(ctx, c.prefix+"lease:*").Result()
		return err == nil && len(keys) == 0
	})
	fake.ExpireAccessTokens()
	requireSlackOK(t, callSlack(t, clientB, grant.GrantID), aliceAccount, 3)
	s := fake.Stats()
	if s.ReuseDetected != 0 || s.InvalidGrants != 0 {
		t.Errorf("the consumed refresh token was replayed: %+v", s)
	}
	if s.Refreshes != 2 {
		t.Errorf("%d refreshes, want 2 (a's, then b's forced one)", s.Refreshes)
	}
	if st := b.grants("acme")[grant.GrantID].Status; st != "active" {
		t.Errorf("grant status %q, want active", st)
	}
}
