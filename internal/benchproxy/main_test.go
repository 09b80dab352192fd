package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/vault"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 0.5, 2 * time.Millisecond},
		{"median of even is the lower", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 0.50, 50 * time.Millisecond},
		{"p100 is the max", ms(1, 5, 9), 1, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

// goodRun is a consistent outcome: every check passes.
func goodRun() ([]result, map[string]seen, map[string]auditTally, map[string]vault.Stats) {
	paths := []result{
		{Path: pathDirect, Sent: 100, Conns: 4},
		{Path: pathGoproxy, Sent: 80, Conns: 4},
		{Path: pathGatehouse, Sent: 50, Requests: 40, Conns: 4},
		{Path: pathGatehousePG, Sent: 30, Requests: 20, Conns: 4},
	}
	up := map[string]seen{
		pathDirect:      {Total: 100},
		pathGoproxy:     {Total: 80, HTTP2: 80},
		pathGatehouse:   {Total: 50, Injected: 50, HTTP2: 50},
		pathGatehousePG: {Total: 30, Injected: 30, HTTP2: 30},
	}
	audits := map[string]auditTally{
		pathGatehouse:   {Rows: 50, Allowed: 50, Writer: audit.Stats{Written: 50}},
		pathGatehousePG: {Rows: 30, Allowed: 30, Writer: audit.Stats{Written: 30}},
	}
	hot := map[string]vault.Stats{
		pathGatehouse:   {LocalHits: 160},
		pathGatehousePG: {LocalHits: 80},
	}
	return paths, up, audits, hot
}

// runState is what verify reads, for the mutations of TestVerify.
type runState struct {
	paths  []result
	up     map[string]seen
	audits map[string]auditTally
	hot    map[string]vault.Stats
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *runState)
		fails  []string
	}{
		{"consistent run passes", func(*runState) {}, nil},
		{"gatehouse did not inject", func(r *runState) {
			s := r.up[pathGatehouse]
			s.Injected = 49
			r.up[pathGatehouse] = s
		}, []string{"gatehouse: Authorization: Bearer <secret> injected on every request"}},
		{"baseline forwarded an Authorization", func(r *runState) {
			s := r.up[pathGoproxy]
			s.OtherAuth = 1
			r.up[pathGoproxy] = s
		}, []string{"goproxy: no Authorization upstream"}},
		{"proxy credential leaked", func(r *runState) {
			s := r.up[pathGatehouse]
			s.ProxyAuth = 2
			r.up[pathGatehouse] = s
		}, []string{"gatehouse: no Proxy-Authorization upstream"}},
		{"audit row missing", func(r *runState) {
			r.audits[pathGatehouse] = auditTally{Rows: 49, Allowed: 49}
		}, []string{"gatehouse: audit: one allowed call row per request"}},
		{"audit row denied", func(r *runState) {
			r.audits[pathGatehouse] = auditTally{Rows: 50, Allowed: 49}
		}, []string{"gatehouse: audit: one allowed call row per request"}},
		{"audit queue overflowed", func(r *runState) {
			r.audits[pathGatehousePG] = auditTally{Rows: 30, Allowed: 30, Writer: audit.Stats{Refused: 1}}
		}, []string{"gatehouse-pg: audit: writer refused and dropped nothing"}},
		{"request errors and reconnects", func(r *runState) {
			r.paths[0].Errors, r.paths[0].FirstErr = 1, "boom"
			r.paths[1].Conns = 5
		}, []string{"direct: every request answered 200 with the upstream's body", "goproxy: keep-alive held (reconnects under 0.1% of requests)"}},
		{"one reconnect in 1000 requests is the client's", func(r *runState) {
			r.paths[0].Sent, r.paths[0].Conns = 1000, 5
			r.up[pathDirect] = seen{Total: 1000}
		}, nil},
		{"two reconnects in 1000 requests", func(r *runState) {
			r.paths[0].Sent, r.paths[0].Conns = 1000, 6
			r.up[pathDirect] = seen{Total: 1000}
		}, []string{"direct: keep-alive held (reconnects under 0.1% of requests)"}},
		{"upstream missed requests", func(r *runState) {
			r.paths[2].Sent = 51
		}, []string{
			"gatehouse: upstream received every request",
			"gatehouse: Authorization: Bearer <secret> injected on every request",
			"gatehouse: audit: one allowed call row per request",
		}},
		{"proxies use different upstream protocols", func(r *runState) {
			s := r.up[pathGoproxy]
			s.HTTP2 = 0
			r.up[pathGoproxy] = s
		}, []string{
			"gatehouse: reaches the upstream over the same protocol as goproxy",
			"gatehouse-pg: reaches the upstream over the same protocol as goproxy",
		}},
		{"misrouted", func(r *runState) {
			s := r.up[pathDirect]
			s.Misrouted = 1
			r.up[pathDirect] = s
		}, []string{"direct: right Host, path and SNI upstream"}},
		{"sqlite hot path read the store", func(r *runState) {
			r.hot[pathGatehouse] = vault.Stats{LocalHits: 159, LocalMisses: 1, StoreReads: 1}
		}, []string{"gatehouse: cached hot path made 0 store reads during 40 requests"}},
		{"pg hot path read Redis", func(r *runState) {
			r.hot[pathGatehousePG] = vault.Stats{LocalHits: 79, LocalMisses: 1, RedisReads: 1, RedisHits: 1}
		}, []string{"gatehouse-pg: cached hot path made 0 store reads and 0 Redis reads during 20 requests"}},
		{"pg hot path read PostgreSQL", func(r *runState) {
			r.hot[pathGatehousePG] = vault.Stats{LocalHits: 80, StoreReads: 2}
		}, []string{"gatehouse-pg: cached hot path made 0 store reads and 0 Redis reads during 20 requests"}},
		{"hot path bypassed the cache", func(r *runState) {
			r.hot[pathGatehouse] = vault.Stats{}
		}, []string{"gatehouse: cached hot path made 0 store reads during 40 requests"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths, up, audits, hot := goodRun()
			tt.mutate(&runState{paths, up, audits, hot})
			var fails []string
			for _, c := range verify(paths, up, audits, hot, 4) {
				if !c.OK {
					fails = append(fails, c.Name)
				}
			}
			if diff := cmp.Diff(tt.fails, fails); diff != "" {
				t.Errorf("failed checks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCertCacheMintsOnce(t *testing.T) {
	c := &certCache{m: make(map[string]*tls.Certificate)}
	calls := 0
	gen := func() (*tls.Certificate, error) { calls++; return &tls.Certificate{}, nil }
	a, err := c.Fetch("api.openai.com", gen)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Fetch("api.openai.com", gen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch("other.example", gen); err != nil {
		t.Fatal(err)
	}
	if a != b || calls != 2 {
		t.Errorf("same host: same cert %v; gen calls %d, want 2", a == b, calls)
	}
}

// TestRunEndToEnd runs all four paths briefly (gatehouse-pg on the
// machine's PostgreSQL and Redis, as the vault's tests do) and expects every check to
// pass, the JSON output to parse, and a CPU profile to be written.
func TestRunEndToEnd(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	var logs bytes.Buffer
	rep, err := run(t.Context(), options{conc: 2, dur: 400 * time.Millisecond, warmup: 100 * time.Millisecond, rounds: 2, upstreamH2: true, cpuProfile: prof, pg: true}, &logs)
	if err != nil {
		t.Fatal(err)
	}
	// Keep-alive is asserted loosely here: under -race a starved client
	// writeLoop makes Go's transport redial now and then (see verify).
	for _, c := range rep.Checks {
		if !c.OK && !strings.Contains(c.Name, "keep-alive") {
			var b strings.Builder
			_ = rep.writeTable(&b)
			t.Fatalf("check %q failed:\n%s\nlogs:\n%s", c.Name, b.String(), logs.String())
		}
	}
	var names []string
	for _, p := range rep.Paths {
		names = append(names, p.Path)
		if p.Requests == 0 || p.RPS <= 0 || p.P50 <= 0 || p.P99 < p.P50 {
			t.Errorf("%s: implausible measurement %+v", p.Path, p)
		}
		if p.Conns > int64(p.Sent)/4 {
			t.Errorf("%s: %d connections for %d requests: keep-alive is not held", p.Path, p.Conns, p.Sent)
		}
	}
	if diff := cmp.Diff([]string{pathDirect, pathGoproxy, pathGatehouse, pathGatehousePG}, names); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	var js bytes.Buffer
	if err := rep.writeJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON output does not parse: %v", err)
	}
	if diff := cmp.Diff(rep.Ratios, back.Ratios); diff != "" {
		t.Errorf("JSON ratios (-want +got):\n%s", diff)
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Errorf("cpu profile not written: %v", err)
	}
	for _, secret := range []string{"sk-bench-", "gatehouse_agent_"} {
		if strings.Contains(js.String(), secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("%s… appears in the report or logs", secret)
		}
	}
}
