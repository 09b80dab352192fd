// Package metrics is Gatehouse's Prometheus registry: a dedicated registry
// (never the global one), build information, and collectors that read the
// components' own counters (vault caches, OAuth refresh, audit writer) at
// scrape time, so nothing is added to the proxy's per-request path for
// them. Labels are bounded: no grant, user, request id or path ever
// becomes a label.
package metrics

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// Namespace prefixes every Gatehouse metric.
const Namespace = "gatehouse"

// Sources are the components whose counters are exported. A nil field is
// left out.
type Sources struct {
	Vault func() vault.Stats
	OAuth func() oauth.Stats
	Audit func() audit.Stats
}

// Registry is the process's metrics registry.
type Registry struct {
	reg   *prometheus.Registry
	calls *Calls
}

// New returns a registry with Go runtime and process metrics, build
// information for version, and the collectors of src.
func New(version string, src Sources) (*Registry, error) {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "Always 1; the labels say which build is running.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	calls := newCalls()
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
		&statsCollector{src: src},
	}
	for _, c := range append(cs, calls.collectors()...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return &Registry{reg: reg, calls: calls}, nil
}

// Calls returns the per-call metrics the proxy feeds.
func (r *Registry) Calls() *Calls { return r.calls }

// Handler serves the registry in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// Prometheus returns the underlying registry, for components that add
// their own metrics.
func (r *Registry) Prometheus() *prometheus.Registry { return r.reg }

// desc is one exported series read from a Stats value.
type desc[S any] struct {
	d     *prometheus.Desc
	kind  prometheus.ValueType
	value func(S) float64
}

func counter[S any](name, help string, labels prometheus.Labels, v func(S) float64) desc[S] {
	return desc[S]{prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, nil, labels), prometheus.CounterValue, v}
}

func gauge[S any](name, help string, v func(S) float64) desc[S] {
	return desc[S]{prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, nil, nil), prometheus.GaugeValue, v}
}

var (
	vaultDescs = []desc[vault.Stats]{
		counter("credential_cache_requests_total", "Credential, key and grant cache lookups by layer and result.", prometheus.Labels{"layer": "local", "result": "hit"}, func(s vault.Stats) float64 { return float64(s.LocalHits) }),
		counter("credential_cache_requests_total", "Credential, key and grant cache lookups by layer and result.", prometheus.Labels{"layer": "local", "result": "miss"}, func(s vault.Stats) float64 { return float64(s.LocalMisses) }),
		counter("credential_cache_requests_total", "Credential, key and grant cache lookups by layer and result.", prometheus.Labels{"layer": "local", "result": "stale"}, func(s vault.Stats) float64 { return float64(s.StaleServed) }),
		counter("credential_cache_requests_total", "Credential, key and grant cache lookups by layer and result.", prometheus.Labels{"layer": "redis", "result": "hit"}, func(s vault.Stats) float64 { return float64(s.RedisHits) }),
		counter("credential_cache_requests_total", "Credential, key and grant cache lookups by layer and result.", prometheus.Labels{"layer": "redis", "result": "miss"}, func(s vault.Stats) float64 { return float64(s.RedisReads - min(s.RedisHits, s.RedisReads)) }),
		counter("vault_store_reads_total", "Store reads made to fill a cache.", nil, func(s vault.Stats) float64 { return float64(s.StoreReads) }),
		counter("vault_errors_total", "Failed vault calls by backend.", prometheus.Labels{"backend": "store"}, func(s vault.Stats) float64 { return float64(s.StoreErrors) }),
		counter("vault_errors_total", "Failed vault calls by backend.", prometheus.Labels{"backend": "redis"}, func(s vault.Stats) float64 { return float64(s.RedisErrors) }),
		counter("vault_invalidations_total", "Cache invalidation messages by direction.", prometheus.Labels{"direction": "published"}, func(s vault.Stats) float64 { return float64(s.InvalidationsPublished) }),
		counter("vault_invalidations_total", "Cache invalidation messages by direction.", prometheus.Labels{"direction": "received"}, func(s vault.Stats) float64 { return float64(s.InvalidationsReceived) }),
	}
	oauthDescs = []desc[oauth.Stats]{
		counter("oauth_refreshes_total", "OAuth token refreshes by outcome.", prometheus.Labels{"outcome": "refreshed"}, func(s oauth.Stats) float64 { return float64(s.Refreshes) }),
		counter("oauth_refreshes_total", "OAuth token refreshes by outcome.", prometheus.Labels{"outcome": "failed"}, func(s oauth.Stats) float64 { return float64(s.RefreshFailures) }),
		counter("oauth_refreshes_total", "OAuth token refreshes by outcome.", prometheus.Labels{"outcome": "reused"}, func(s oauth.Stats) float64 { return float64(s.Reused) }),
		counter("oauth_refreshes_total", "OAuth token refreshes by outcome.", prometheus.Labels{"outcome": "needs_reauth"}, func(s oauth.Stats) float64 { return float64(s.Reauth) }),
		counter("oauth_token_endpoint_calls_total", "Requests to providers' token endpoints (every attempt).", nil, func(s oauth.Stats) float64 { return float64(s.TokenCalls) }),
		counter("oauth_proactive_refreshes_total", "Background refreshes started ahead of expiry.", nil, func(s oauth.Stats) float64 { return float64(s.ProactiveRefreshes) }),
		counter("oauth_lease_waits_total", "Refreshes that waited for another replica's lease.", nil, func(s oauth.Stats) float64 { return float64(s.LeaseWaits) }),
		counter("oauth_lease_errors_total", "Refreshes that could not take the Redis lease because Redis failed.", nil, func(s oauth.Stats) float64 { return float64(s.LeaseErrors) }),
		counter("oauth_fence_conflicts_total", "Version-fenced token writes lost to another writer.", nil, func(s oauth.Stats) float64 { return float64(s.Conflicts) }),
	}
	auditDescs = []desc[audit.Stats]{
		gauge("audit_queue_depth", "Audit events accepted and not yet written.", func(s audit.Stats) float64 { return float64(s.Queued) }),
		counter("audit_events_total", "Audit events by outcome; refused must stay 0 unless the store cannot keep up.", prometheus.Labels{"outcome": "written"}, func(s audit.Stats) float64 { return float64(s.Written) }),
		counter("audit_events_total", "Audit events by outcome; refused must stay 0 unless the store cannot keep up.", prometheus.Labels{"outcome": "refused"}, func(s audit.Stats) float64 { return float64(s.Refused) }),
		counter("audit_events_total", "Audit events by outcome; refused must stay 0 unless the store cannot keep up.", prometheus.Labels{"outcome": "dropped"}, func(s audit.Stats) float64 { return float64(s.Dropped) }),
		counter("audit_insert_errors_total", "Failed audit store writes (each retried).", nil, func(s audit.Stats) float64 { return float64(s.InsertErrors) }),
	}
)

// statsCollector exports the components' counters at scrape time.
type statsCollector struct{ src Sources }

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, c.src.Vault, vaultDescs)
	describe(ch, c.src.OAuth, oauthDescs)
	describe(ch, c.src.Audit, auditDescs)
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	collect(ch, c.src.Vault, vaultDescs)
	collect(ch, c.src.OAuth, oauthDescs)
	collect(ch, c.src.Audit, auditDescs)
}

func describe[S any](ch chan<- *prometheus.Desc, src func() S, ds []desc[S]) {
	if src == nil {
		return
	}
	for _, d := range ds {
		ch <- d.d
	}
}

func collect[S any](ch chan<- prometheus.Metric, src func() S, ds []desc[S]) {
	if src == nil {
		return
	}
	s := src()
	for _, d := range ds {
		ch <- prometheus.MustNewConstMetric(d.d, d.kind, d.value(s))
	}
}
