// Command benchproxy is the benchmark behind `make bench`. In one run it
// measures keep-alive HTTPS throughput and p50/p99 latency of
// GET https://api.openai.com/v1/models against one local TLS upstream along
// four paths: direct, through a bare goproxy MITM proxy (the baseline),
// through a full in-process Gatehouse on the embedded default (SQLite vault,
// embedded catalog, CA minter, audit writer), and through the same Gatehouse
// on the production backend (PostgreSQL vault and audit table, Redis cache
// layer; -pg=false skips it). It reports Gatehouse's throughput as ratios
// against the others, measured in the same run, and verifies rather than
// assumes that Gatehouse injected the credential upstream, the baseline did
// not, the audit table holds one row per Gatehouse request, and the cached
// hot path read neither the store nor Redis (the vault's own counters).
//
// Everything listens on loopback; client, proxies and upstream share the
// process, so absolute numbers include the client's and upstream's cost and
// only the ratios travel between machines.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// options are the command-line flags.
type options struct {
	conc       int
	dur        time.Duration
	warmup     time.Duration
	json       bool
	cpuProfile string
	upstreamH2 bool
	rounds     int
	pg         bool
	policy     bool
}

func main() {
	var o options
	flag.IntVar(&o.conc, "c", 16, "concurrent clients, each on its own keep-alive connection")
	flag.DurationVar(&o.dur, "d", 8*time.Second, "measured duration per path")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up per path")
	flag.BoolVar(&o.json, "json", false, "print one JSON object instead of the table")
	flag.IntVar(&o.rounds, "rounds", 4, "split each path's measured duration into this many slices, interleaved with the other paths")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured slices to `file`; goroutines carry a role label "+
		"(gatehouse, goproxy, upstream, client): go tool pprof -tagfocus=role=gatehouse -top FILE")
	flag.BoolVar(&o.policy, "policy", true, "also measure gatehouse-policy: the SQLite Gatehouse with a realistic policy loaded")
	flag.BoolVar(&o.pg, "pg", true, "also measure gatehouse-pg: Gatehouse on PostgreSQL (TEST_DATABASE_URL) with the Redis layer (TEST_REDIS_URL); "+
		"the run fails when they are unreachable (start them with scripts/services.sh); -pg=false skips the path")
	flag.BoolVar(&o.upstreamH2, "upstream-h2", true, "the upstream offers HTTP/2 in ALPN like api.openai.com (used only by transports that attempt HTTP/2)")
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "benchproxy:", err)
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, o, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchproxy:", err)
		os.Exit(1)
	}
	if o.json {
		err = rep.writeJSON(os.Stdout)
	} else {
		err = rep.writeTable(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchproxy:", err)
		os.Exit(1)
	}
	if !rep.Verified {
		fmt.Fprintln(os.Stderr, "benchproxy: verification failed")
		os.Exit(1)
	}
}

// validate keeps a run bounded.
func (o options) validate() error {
	switch {
	case o.conc < 1 || o.conc > 1024:
		return errors.New("-c must be between 1 and 1024")
	case o.dur <= 0 || o.dur > 10*time.Minute:
		return errors.New("-d must be positive and at most 10m")
	case o.warmup < 0 || o.warmup > time.Minute:
		return errors.New("-warmup must be between 0 and 1m")
	case o.rounds < 1 || o.rounds > 100 || o.dur/time.Duration(max(o.rounds, 1)) < 50*time.Millisecond:
		return errors.New("-rounds must be between 1 and 100 with slices (-d / -rounds) of at least 50ms")
	}
	return nil
}

// run starts the upstream and both proxies, warms each path up, measures
// the paths in interleaved slices, and verifies what the upstream and the
// audit table saw. Proxy warnings go to logOut.
func run(ctx context.Context, o options, logOut io.Writer) (*report, error) {
	var profile *os.File
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		profile = f
	}
	secret := "sk-bench-" + rand.Text()
	up, err := startUpstream("Bearer "+secret, o.upstreamH2)
	if err != nil {
		return nil, err
	}
	defer up.close()
	dir, err := os.MkdirTemp("", "benchproxy-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	backends := []namedBackend{
		{pathGatehouse, func(ctx context.Context) (*backend, error) {
			return sqliteBackend(ctx, filepath.Join(dir, pathGatehouse))
		}},
	}
	if o.policy {
		backends = append(backends, namedBackend{pathGatehousePolicy, func(ctx context.Context) (*backend, error) {
			return sqliteBackend(ctx, filepath.Join(dir, pathGatehousePolicy))
		}})
	}
	if o.pg {
		backends = append(backends, namedBackend{pathGatehousePG, func(ctx context.Context) (*backend, error) { return pgBackend(ctx, log) }})
	}
	var ghs []*gatehouse
	stopAll := func() (map[string]auditTally, error) {
		tallies := make(map[string]auditTally, len(ghs))
		var errs []error
		for _, g := range ghs {
			t, err := g.stop(ctx)
			tallies[g.name] = t
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", g.name, err))
			}
		}
		return tallies, errors.Join(errs...)
	}
	for _, b := range backends {
		var g *gatehouse
		pprof.Do(ctx, pprof.Labels("role", b.name), func(ctx context.Context) {
			// Goroutines started here (listener, connections, audit
			// writer, Redis subscription) inherit the label.
			var back *backend
			if back, err = b.open(ctx); err == nil {
				g, err = startGatehouse(ctx, b.name, filepath.Join(dir, b.name), back, up, secret, log)
			}
		})
		if err != nil {
			_, serr := stopAll()
			return nil, errors.Join(fmt.Errorf("%s: %w", b.name, err), serr)
		}
		ghs = append(ghs, g)
	}
	rep, err := measure(ctx, o, up, ghs, profile)
	tallies, serr := stopAll()
	if err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	rep.Audit = tallies
	rep.finish()
	return rep, nil
}

// namedBackend opens the backend of the gatehouse path name.
type namedBackend struct {
	name string
	open func(ctx context.Context) (*backend, error)
}

// measure builds the paths (direct, goproxy, then one per gatehouse, the
// first being the SQLite one), warms each up and measures them in
// interleaved slices, profiling the measured slices into profile if set.
// It records each gatehouse vault's cache counters over the measured
// slices only.
func measure(ctx context.Context, o options, up *upstream, ghs []*gatehouse, profile *os.File) (*report, error) {
	rep := newReport(o)
	slice := func(r *runner, warmup, dur time.Duration) {
		before := up.snapshot()
		r.slice(ctx, warmup, dur)
		rep.Upstream[r.path.name] = rep.Upstream[r.path.name].plus(up.snapshot().minus(before))
	}
	var ghRunners []*runner
	for _, g := range ghs {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(g.caPEM) {
			return nil, fmt.Errorf("%s CA is not PEM", g.name)
		}
		r := newRunner(proxyPath(g.name, g.addr, g.key, pool), o.conc, o.dur)
		defer r.close()
		// One request first: the protocol Gatehouse's upstream transport
		// negotiates is the one the baseline's transport is built for.
		before := up.snapshot()
		r.probe(ctx)
		rep.Upstream[g.name] = up.snapshot().minus(before)
		ghRunners = append(ghRunners, r)
	}
	bl, err := startBaseline(up, rep.Upstream[ghs[0].name].HTTP2 > 0)
	if err != nil {
		return nil, err
	}
	defer bl.close()
	runners := []*runner{
		newRunner(directPath(up), o.conc, o.dur),
		// The baseline gets the same client configuration, key included
		// (it ignores it), so the client side costs the same on both.
		newRunner(proxyPath(pathGoproxy, bl.addr, ghs[0].key, bl.ca.pool()), o.conc, o.dur),
	}
	for _, r := range runners {
		defer r.close()
	}
	runners = append(runners, ghRunners...)
	for _, r := range runners {
		slice(r, o.warmup, 0)
	}
	// Cache counters from here to the end of the measured slices: every
	// credential, key and grant is cached by now, so these are the hot
	// path's reads.
	statsBefore := make([]vault.Stats, len(ghs))
	for i, g := range ghs {
		statsBefore[i] = g.vault.Stats()
	}
	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	// Paths take turns in short slices, each round starting with the next
	// path, so load from anything else on the machine spreads over all
	// three instead of skewing whichever ran during it.
	for round := range o.rounds {
		for i := range runners {
			slice(runners[(round+i)%len(runners)], 0, o.dur/time.Duration(o.rounds))
		}
	}
	if profile != nil {
		pprof.StopCPUProfile()
	}
	for i, g := range ghs {
		rep.HotPath[g.name] = statsDelta(g.vault.Stats(), statsBefore[i])
	}
	for _, r := range runners {
		rep.Paths = append(rep.Paths, r.result())
	}
	return rep, nil
}

// Path names, also the keys of the report.
const (
	pathDirect    = "direct"
	pathGoproxy   = "goproxy"
	pathGatehouse = "gatehouse"
	// pathGatehousePG is Gatehouse on PostgreSQL with the Redis layer.
	pathGatehousePG = "gatehouse-pg"
	// pathGatehousePolicy is the SQLite Gatehouse with a realistic policy.
	pathGatehousePolicy = "gatehouse-policy"
)

// directPath is the client talking TLS to the upstream itself.
func directPath(up *upstream) path {
	roots := up.ca.pool()
	return path{name: pathDirect, transport: func(dial dialFunc) *http.Transport {
		tr := clientTransport(dial, roots)
		d := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d(ctx, network, up.addr)
		}
		return tr
	}}
}

// proxyPath is the client using a proxy the way HTTPS_PROXY does, with key
// in the proxy URL's userinfo (sent as Proxy-Authorization on CONNECT),
// trusting the proxy's MITM CA.
func proxyPath(name, addr, key string, roots *x509.CertPool) path {
	pu := &url.URL{Scheme: "http", Host: addr, User: url.UserPassword("bench", key)}
	return path{name: name, transport: func(dial dialFunc) *http.Transport {
		tr := clientTransport(dial, roots)
		tr.Proxy = http.ProxyURL(pu)
		return tr
	}}
}

// clientTransport is one worker's transport: a single keep-alive
// connection, HTTP/1.1 (what the proxies speak to clients).
func clientTransport(dial dialFunc, roots *x509.CertPool) *http.Transport {
	return &http.Transport{
		DialContext:         dial,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: requestTimeout,
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
		ForceAttemptHTTP2:   false,
	}
}

// goInfo describes the runtime for the report.
func goInfo() (version string, procs int) { return runtime.Version(), runtime.GOMAXPROCS(0) }
