package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// latencyBuckets cover a proxied call from a cached local refusal (tens of
// microseconds) to a slow upstream (tens of seconds).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Calls counts proxied calls and refusals from their audit events, the one
// record every call already produces. Labels are bounded: provider ids
// come from the catalog, codes from the error contract, rules from the
// operator's policy, statuses are reduced to their class.
type Calls struct {
	requests *prometheus.CounterVec
	refusals *prometheus.CounterVec
	total    prometheus.Histogram
	upstream prometheus.Histogram
	overhead prometheus.Histogram
}

func newCalls() *Calls {
	h := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: latencyBuckets})
	}
	return &Calls{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "requests_total",
			Help: "Proxied calls and refusals by provider, decision (allow, deny, report, tunnel) and status class.",
		}, []string{"provider", "decision", "status_class"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "refusals_total",
			Help: "Refused calls by error code and policy rule (empty when no rule decided).",
		}, []string{"code", "rule"}),
		total:    h("request_duration_seconds", "Time from the request head to the end of the response body, per call."),
		upstream: h("upstream_duration_seconds", "Time the upstream took to answer with its response head, per forwarded call."),
		overhead: h("overhead_duration_seconds", "Gatehouse's own time per forwarded call: total minus upstream."),
	}
}

func (c *Calls) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.requests, c.refusals, c.total, c.upstream, c.overhead}
}

// Observe counts one call from its audit event. Admin events are ignored.
func (c *Calls) Observe(ev audit.Event) {
	if ev.Kind != audit.KindCall {
		return
	}
	provider := ev.ProviderID
	if provider == "" {
		provider = "none"
	}
	c.requests.WithLabelValues(provider, ev.Decision, statusClass(ev.Status)).Inc()
	if ev.ErrorCode != "" {
		c.refusals.WithLabelValues(ev.ErrorCode, ev.Rule).Inc()
	}
	c.total.Observe(ev.TotalLatency.Seconds())
	if ev.UpstreamLatency > 0 {
		c.upstream.Observe(ev.UpstreamLatency.Seconds())
		c.overhead.Observe(max(0, (ev.TotalLatency - ev.UpstreamLatency).Seconds()))
	}
}

// statusClass is "2xx" … "5xx", or "none" for a call without a status
// (a tunnel).
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "none"
	}
	return strconv.Itoa(status/100) + "xx"
}
