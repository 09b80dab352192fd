package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// report is the outcome of one run; -json prints it as is.
type report struct {
	Config   runConfig              `json:"config"`
	Paths    []result               `json:"paths"`
	Ratios   ratios                 `json:"ratios"`
	Upstream map[string]seen        `json:"upstream"` // what the upstream received per path, warm-up included
	Audit    map[string]auditTally  `json:"audit"`    // per gatehouse path
	HotPath  map[string]vault.Stats `json:"hot_path"` // vault cache counters over the measured slices, per gatehouse path
	Checks   []check                `json:"checks"`
	Verified bool                   `json:"verified"`
}

// runConfig echoes the run's parameters.
type runConfig struct {
	Concurrency int    `json:"concurrency"`
	Duration    string `json:"duration"`
	Warmup      string `json:"warmup"`
	Rounds      int    `json:"rounds"`
	UpstreamH2  bool   `json:"upstream_h2_offered"`
	GoVersion   string `json:"go_version"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	PG          bool   `json:"gatehouse_pg"` // false: -pg=false skipped the PostgreSQL + Redis path
}

// ratios compare Gatehouse with the two references (0 when a reference
// measured nothing).
type ratios struct {
	ThroughputVsGoproxy float64 `json:"gatehouse_goproxy_throughput"`
	ThroughputVsDirect  float64 `json:"gatehouse_direct_throughput"`
	P50VsGoproxy        float64 `json:"gatehouse_goproxy_p50"`
	P99VsGoproxy        float64 `json:"gatehouse_goproxy_p99"`
	// PostgreSQL + Redis against the SQLite default and the baseline (0
	// with -pg=false).
	PGThroughputVsSQLite  float64 `json:"gatehouse_pg_gatehouse_throughput"`
	PGThroughputVsGoproxy float64 `json:"gatehouse_pg_goproxy_throughput"`
	// PolicyThroughputVsNone is Gatehouse with a realistic policy loaded
	// against the same Gatehouse without one (0 when not measured).
	PolicyThroughputVsNone float64 `json:"gatehouse_policy_gatehouse_throughput"`
}

// check is one verification.
type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

func newReport(o options) *report {
	v, procs := goInfo()
	return &report{
		Config: runConfig{
			Concurrency: o.conc, Duration: o.dur.String(), Warmup: o.warmup.String(), Rounds: o.rounds,
			UpstreamH2: o.upstreamH2, GoVersion: v, GOMAXPROCS: procs, PG: o.pg,
		},
		Upstream: make(map[string]seen),
		HotPath:  make(map[string]vault.Stats),
	}
}

// finish computes ratios and runs the checks.
func (r *report) finish() {
	byName := make(map[string]result, len(r.Paths))
	for _, p := range r.Paths {
		byName[p.Path] = p
	}
	gh, gp, di, pg := byName[pathGatehouse], byName[pathGoproxy], byName[pathDirect], byName[pathGatehousePG]
	pol := byName[pathGatehousePolicy]
	r.Ratios = ratios{
		ThroughputVsGoproxy:    ratio(gh.RPS, gp.RPS),
		ThroughputVsDirect:     ratio(gh.RPS, di.RPS),
		P50VsGoproxy:           ratio(float64(gh.P50), float64(gp.P50)),
		P99VsGoproxy:           ratio(float64(gh.P99), float64(gp.P99)),
		PGThroughputVsSQLite:   ratio(pg.RPS, gh.RPS),
		PGThroughputVsGoproxy:  ratio(pg.RPS, gp.RPS),
		PolicyThroughputVsNone: ratio(pol.RPS, gh.RPS),
	}
	r.Checks = verify(r.Paths, r.Upstream, r.Audit, r.HotPath, r.Config.Concurrency)
	r.Verified = len(r.Checks) > 0
	for _, c := range r.Checks {
		r.Verified = r.Verified && c.OK
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// isGatehouse tells the Gatehouse paths from the references.
func isGatehouse(path string) bool {
	return path == pathGatehouse || path == pathGatehousePG || path == pathGatehousePolicy
}

// verify checks, per path, that every request succeeded on a kept-alive
// connection and reached the upstream at the right name; that only
// Gatehouse requests carried the injected credential (all of them did) and
// no proxy credential leaked; that each Gatehouse's audit table holds
// exactly one allowed call row per request; and that each Gatehouse's
// measured requests were answered from its in-process cache: no store read
// and, with Redis, no Redis read (hot, the vault's counters over the
// measured slices).
func verify(paths []result, up map[string]seen, audits map[string]auditTally, hot map[string]vault.Stats, conc int) []check {
	var cs []check
	add := func(name string, ok bool, format string, args ...any) {
		cs = append(cs, check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	for _, p := range paths {
		s := up[p.Path]
		n := p.Path + ": "
		add(n+"every request answered 200 with the upstream's body", p.Errors == 0 && p.Sent > 0,
			"%d ok, %d errors%s", p.Sent, p.Errors, firstErr(p.FirstErr))
		// Go's client transport drops a connection whose request write it
		// has not seen finish within 50ms of the response (a starved
		// writeLoop goroutine on a saturated CPU), so a few reconnects are
		// the client's; a proxy that broke keep-alive reconnects per request.
		reconnects := p.Conns - int64(conc)
		add(n+"keep-alive held (reconnects under 0.1% of requests)", reconnects >= 0 && reconnects*1000 <= int64(p.Sent),
			"%d connections for %d clients", p.Conns, conc)
		add(n+"upstream received every request", s.Total == int64(p.Sent), "upstream %d, client %d", s.Total, p.Sent)
		add(n+"right Host, path and SNI upstream", s.Misrouted == 0, "%d misrouted", s.Misrouted)
		add(n+"no Proxy-Authorization upstream", s.ProxyAuth == 0, "%d leaked", s.ProxyAuth)
		if isGatehouse(p.Path) {
			add(n+"Authorization: Bearer <secret> injected on every request", s.Injected == int64(p.Sent) && s.OtherAuth == 0,
				"%d injected, %d other Authorization, %d requests", s.Injected, s.OtherAuth, p.Sent)
			cs = append(cs, verifyGatehouse(p, audits[p.Path], hot[p.Path], proto(up[pathGoproxy]), proto(s))...)
		} else {
			add(n+"no Authorization upstream", s.Injected == 0 && s.OtherAuth == 0,
				"%d with the secret, %d other", s.Injected, s.OtherAuth)
		}
	}
	return cs
}

// verifyGatehouse checks one Gatehouse path's protocol, audit rows and hot
// path counters.
func verifyGatehouse(p result, a auditTally, hot vault.Stats, gpProto, ghProto string) []check {
	var cs []check
	add := func(name string, ok bool, format string, args ...any) {
		cs = append(cs, check{Name: p.Path + ": " + name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	add("reaches the upstream over the same protocol as goproxy", gpProto == ghProto, "goproxy %s, %s %s", gpProto, p.Path, ghProto)
	add("audit: one allowed call row per request", a.Rows == int64(p.Sent) && a.Allowed == int64(p.Sent),
		"%d rows (%d allowed with the grant) for %d requests", a.Rows, a.Allowed, p.Sent)
	add("audit: writer refused and dropped nothing", a.Writer.Refused == 0 && a.Writer.Dropped == 0,
		"refused %d, dropped %d, written %d", a.Writer.Refused, a.Writer.Dropped, a.Writer.Written)
	// Every measured request reads at least its key and its grant, so a
	// hot path that works shows local hits; one that is bypassed shows
	// store (or Redis) reads.
	hits := hot.LocalHits > 0 && hot.LocalMisses == 0
	if p.Path == pathGatehousePG {
		add(fmt.Sprintf("cached hot path made 0 store reads and 0 Redis reads during %d requests", p.Requests),
			hits && hot.StoreReads == 0 && hot.RedisReads == 0 && p.Requests > 0,
			"%d store reads (PostgreSQL), %d Redis reads, %d local hits, %d local misses", hot.StoreReads, hot.RedisReads, hot.LocalHits, hot.LocalMisses)
	} else {
		add(fmt.Sprintf("cached hot path made 0 store reads during %d requests", p.Requests),
			hits && hot.StoreReads == 0 && p.Requests > 0,
			"%d store reads (SQLite), %d local hits, %d local misses", hot.StoreReads, hot.LocalHits, hot.LocalMisses)
	}
	return cs
}

// statsDelta is the counters' growth from before to after.
func statsDelta(after, before vault.Stats) vault.Stats {
	return vault.Stats{
		LocalHits:              after.LocalHits - before.LocalHits,
		LocalMisses:            after.LocalMisses - before.LocalMisses,
		StaleServed:            after.StaleServed - before.StaleServed,
		StoreReads:             after.StoreReads - before.StoreReads,
		StoreErrors:            after.StoreErrors - before.StoreErrors,
		RedisReads:             after.RedisReads - before.RedisReads,
		RedisHits:              after.RedisHits - before.RedisHits,
		RedisErrors:            after.RedisErrors - before.RedisErrors,
		InvalidationsPublished: after.InvalidationsPublished - before.InvalidationsPublished,
		InvalidationsReceived:  after.InvalidationsReceived - before.InvalidationsReceived,
	}
}

func firstErr(s string) string {
	if s == "" {
		return ""
	}
	return " (first: " + s + ")"
}

// writeJSON prints the report as one JSON object.
func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeTable prints the human-readable report.
func (r *report) writeTable(w io.Writer) error {
	var b strings.Builder
	c := r.Config
	h2 := "HTTP/1.1 only"
	if c.UpstreamH2 {
		h2 = "HTTP/2 offered"
	}
	fmt.Fprintf(&b, "benchproxy: %d clients, %s warm-up + %s per path in %d interleaved rounds, GOMAXPROCS %d, %s, upstream %s\n\n",
		c.Concurrency, c.Warmup, c.Duration, c.Rounds, c.GOMAXPROCS, c.GoVersion, h2)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\trequests\treq/s\tp50\tp99\tclient conns\tupstream conns\tupstream proto\t")
	for _, p := range r.Paths {
		up := r.Upstream[p.Path]
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%d\t%d\t%s\t\n",
			p.Path, p.Requests, p.RPS, us(p.P50), us(p.P99), p.Conns, up.Conns, proto(up))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\ngatehouse/goproxy throughput  %.3f\n", r.Ratios.ThroughputVsGoproxy)
	fmt.Fprintf(&b, "gatehouse/direct throughput   %.3f\n", r.Ratios.ThroughputVsDirect)
	fmt.Fprintf(&b, "gatehouse/goproxy p50, p99    %.2fx, %.2fx\n", r.Ratios.P50VsGoproxy, r.Ratios.P99VsGoproxy)
	if r.Ratios.PolicyThroughputVsNone > 0 {
		fmt.Fprintf(&b, "gatehouse-policy/gatehouse throughput  %.3f  (%d-rule policy vs none)\n", r.Ratios.PolicyThroughputVsNone, benchPolicyRules)
	}
	if !c.PG {
		b.WriteString("gatehouse-pg (PostgreSQL + Redis) skipped: -pg=false\n")
	} else {
		fmt.Fprintf(&b, "gatehouse-pg/gatehouse (sqlite) throughput  %.3f\n", r.Ratios.PGThroughputVsSQLite)
		fmt.Fprintf(&b, "gatehouse-pg/goproxy throughput             %.3f\n", r.Ratios.PGThroughputVsGoproxy)
	}
	fmt.Fprintf(&b, "\nvault cache counters during the measured slices (after warm-up; cache TTL set to %s, longer than the run, so no entry expires):\n", cacheTTL)
	for _, p := range r.Paths {
		h, ok := r.HotPath[p.Path]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "  %-13s %d requests: local hits %d, local misses %d, store reads %d, Redis reads %d (hits %d, errors %d), stale served %d\n",
			p.Path, p.Requests, h.LocalHits, h.LocalMisses, h.StoreReads, h.RedisReads, h.RedisHits, h.RedisErrors, h.StaleServed)
	}
	b.WriteString("\n")
	for _, ch := range r.Checks {
		mark := "ok  "
		if !ch.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "%s %s: %s\n", mark, ch.Name, ch.Detail)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// us formats a latency in microseconds.
func us(d time.Duration) string {
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}

// proto names the protocol the upstream saw for a path.
func proto(s seen) string {
	switch {
	case s.Total == 0:
		return "-"
	case s.HTTP2 == s.Total:
		return "HTTP/2"
	case s.HTTP2 == 0:
		return "HTTP/1.1"
	}
	return "mixed"
}
