// Package proxy is Gatehouse's forward HTTPS egress proxy: goproxy wiring for
// CONNECT and absolute-form requests, caller identity, host decisions, grant
// resolution, credential injection, the SSRF-guarded upstream dialer and the
// single place that turns refusals into HTTP responses.
package proxy
