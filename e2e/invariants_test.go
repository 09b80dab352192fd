package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPlaintextRefused: a credential never travels over plaintext HTTP
// (invariant 1). curl -x with an http:// URL to a provider host is refused
// and nothing reaches the upstream.
func TestPlaintextRefused(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", openaiKey)
	r, _, _, stderr := g.curl(t, nil, "-x", g.proxyURL(tn.agent.Key), "http://api.openai.com/v1/models")
	if r.status == 0 {
		t.Fatalf("curl got no answer: %s", stderr)
	}
	r.requireRefusal(t, http.StatusForbidden, "plaintext_refused")
	if n := g.up.Count(); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

// TestEgressDenied: an agent's CONNECT to a host no provider owns and no
// allowlist names is refused (invariant 4), seen by curl and on the wire.
func TestEgressDenied(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.connect(t, "unknown.example:443", basicAuth(tn.agent.Key)).requireRefusal(t, http.StatusForbidden, "egress_denied")
	_, connect, exit, _ := g.curl(t, []string{"HTTPS_PROXY=" + g.proxyURL(tn.agent.Key)}, "--cacert", g.caFile(), "https://unknown.example/")
	if connect != http.StatusForbidden || exit == 0 {
		t.Errorf("curl: CONNECT status %d, exit %d; want 403 and a failed transfer", connect, exit)
	}
}

// TestEgressAllowlist: a host on the app's allowlist (set through the CLI)
// gets a blind tunnel: the client sees the upstream's own certificate, the
// upstream sees no credential, and the audit row says tunnel.
func TestEgressAllowlist(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", openaiKey)
	g.cliJSON(nil, "", "app", "egress", "set", "acme", tunnelHost)
	c := g.goClientTrusting(t, tn.agent.Key, g.up.CAFile) // not the Gatehouse CA: no MITM
	r := goDo(t, c, "GET", "https://"+tunnelHost+"/x", http.Header{"Gatehouse-Reason": {"blind"}})
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	got := g.up.Last(t)
	if got.Host != tunnelHost || got.Header.Get("Authorization") != "" {
		t.Errorf("upstream Host %q, Authorization present: %v", got.Host, got.Header.Get("Authorization") != "")
	}
	c.CloseIdleConnections() // a tunnel is audited when it closes
	g.waitAuditRow("acme", func(r auditRow) bool {
		return r.Kind == "call" && r.Host == tunnelHost && r.Decision == "tunnel" && r.AgentID == tn.agent.ID
	})
	g.cliJSON(nil, "", "app", "egress", "set", "acme")
	g.connect(t, tunnelHost+":443", basicAuth(tn.agent.Key)).requireRefusal(t, http.StatusForbidden, "egress_denied")
}

// TestRevokedKey: a key revoked through the CLI is refused on the very
// next request, on a new connection and on a tunnel opened before.
func TestRevokedKey(t *testing.T) {
	t.Parallel()
	g := start(t)
	g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", openaiKey)
	k := g.createKey("acme", "bot")
	pooled := g.goClient(t, k.Key)
	requireOK(t, goDo(t, pooled, "GET", "https://api.openai.com/v1/models", nil))

	g.cliJSON(nil, "", "key", "revoke", k.ID, "--app", "acme")
	before := g.up.Count()
	t.Run("new connection", func(t *testing.T) {
		g.connect(t, "api.openai.com:443", basicAuth(k.Key)).requireRefusal(t, http.StatusProxyAuthRequired, "key_revoked")
	})
	t.Run("tunnel opened before the revocation", func(t *testing.T) {
		r := goDo(t, pooled, "GET", "https://api.openai.com/v1/models", nil)
		r.requireRefusal(t, http.StatusProxyAuthRequired, "key_revoked")
	})
	if n := g.up.Count() - before; n != 0 {
		t.Errorf("the upstream received %d requests made with the revoked key", n)
	}
}

// TestRevokedGrant: a rotated secret is used by the next request; a grant
// revoked through the CLI is refused on the next one.
func TestRevokedGrant(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	s := g.putSecret("acme", "openai", "agent:bot", openaiKey)
	c := g.goClient(t, tn.agent.Key)
	requireOK(t, goDo(t, c, "GET", "https://api.openai.com/v1/models", nil))
	requireDelivered(t, g.up.Last(t), "api.openai.com", "Authorization", "Bearer "+openaiKey)

	g.rememberSecret("rotated openai secret", openaiKey2, false)
	g.cliJSON(nil, openaiKey2, "secret", "rotate", s.GrantID, "--app", "acme")
	requireOK(t, goDo(t, c, "GET", "https://api.openai.com/v1/models", nil))
	requireDelivered(t, g.up.Last(t), "api.openai.com", "Authorization", "Bearer "+openaiKey2)

	g.cliJSON(nil, "", "grant", "revoke", s.GrantID, "--app", "acme")
	before := g.up.Count()
	r := goDo(t, c, "GET", "https://api.openai.com/v1/models", nil)
	code := r.requireRefusal(t, http.StatusForbidden, r.header.Get("Gatehouse-Error"))["code"]
	t.Logf("implicit use of the revoked grant: %v", code)
	if code != "grant_revoked" && code != "grant_not_found" {
		t.Errorf("implicit use of a revoked grant: code %v, want grant_revoked or grant_not_found", code)
	}
	goDo(t, c, "GET", "https://api.openai.com/v1/models", http.Header{"Gatehouse-Grant": {s.GrantID}}).
		requireRefusal(t, http.StatusForbidden, "grant_revoked")
	if n := g.up.Count() - before; n != 0 {
		t.Errorf("the upstream received %d requests after the revocation", n)
	}
}

// TestCrossAppGrant: another app's grant id answers exactly like an id that
// does not exist (invariant 8), as a header and as a placeholder.
func TestCrossAppGrant(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", openaiKey)
	g.newTenant("other")
	foreign := g.putSecret("other", "openai", "system", openaiKey2)
	const unknown = "0190b6a4-1c2d-7e3f-8a9b-0c1d2e3f4a5b"
	c := g.goClient(t, tn.agent.Key)
	tests := []struct {
		name string
		hdr  func(id string) http.Header
	}{
		{"Gatehouse-Grant", func(id string) http.Header { return http.Header{"Gatehouse-Grant": {id}} }},
		{"placeholder", func(id string) http.Header { return http.Header{"Authorization": {"Bearer gatehouse_grant_" + id}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := goDo(t, c, "GET", "https://api.openai.com/v1/models", tt.hdr(foreign.GrantID))
			b := goDo(t, c, "GET", "https://api.openai.com/v1/models", tt.hdr(unknown))
			fa := a.requireRefusal(t, http.StatusForbidden, "grant_not_found")
			fb := b.requireRefusal(t, http.StatusForbidden, "grant_not_found")
			if diff := cmp.Diff(shape(fb, unknown), shape(fa, foreign.GrantID)); diff != "" {
				t.Errorf("foreign grant answer differs from unknown grant answer (-unknown +foreign):\n%s", diff)
			}
		})
	}
	if n := g.up.Count(); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

// shape is an error body with the request id dropped and the given grant
// id masked, so two answers can be compared for anything else they reveal.
func shape(fields map[string]any, grantID string) map[string]string {
	out := map[string]string{}
	for k, v := range fields {
		if k == "request_id" {
			continue
		}
		s, ok := v.(string)
		if !ok {
			s = "<non-string>"
		}
		out[k] = strings.ReplaceAll(s, grantID, "<id>")
	}
	return out
}

// TestBadProxyAuthorization: malformed or wrong keys are 407 with the
// error contract.
func TestBadProxyAuthorization(t *testing.T) {
	t.Parallel()
	g := start(t)
	g.newTenant("acme")
	tests := []struct{ name, auth, code string }{
		{"bad base64", "Basic !!!not*base64!!!", "key_invalid"},
		{"well-formed unknown key", basicAuth("gatehouse_agent_aaaaaaaaaaaaaaaa_" + strings.Repeat("b", 52)), "key_invalid"},
		{"no key", "", "proxy_auth_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g.connect(t, "api.openai.com:443", tt.auth).requireRefusal(t, http.StatusProxyAuthRequired, tt.code)
		})
	}
}

// TestMalformedConnect: nonsense CONNECT targets get 400 with the error
// contract or a clean close, never a crash; the proxy serves afterwards.
func TestMalformedConnect(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", openaiKey)
	auth := "Proxy-Authorization: " + basicAuth(tn.agent.Key) + "\r\n"
	heads := map[string]string{
		"no port":         "CONNECT nonsense HTTP/1.1\r\nHost: nonsense\r\n" + auth + "\r\n",
		"port 99999":      "CONNECT api.openai.com:99999 HTTP/1.1\r\nHost: api.openai.com:99999\r\n" + auth + "\r\n",
		"empty authority": "CONNECT :443 HTTP/1.1\r\nHost: :443\r\n" + auth + "\r\n",
		"path as target":  "CONNECT /etc/passwd HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n",
		"garbage line":    "CONNECT\r\n\r\n",
	}
	for name, head := range heads {
		t.Run(name, func(t *testing.T) {
			r, err := g.rawMaybe(t, head)
			if err != nil {
				t.Logf("closed without an answer (%v)", err)
				return
			}
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 or a close: %s", r.status, r.body)
			}
			t.Logf("answered %d %s", r.status, r.header.Get("Gatehouse-Error"))
			if r.header.Get("Gatehouse-Error") != "" {
				r.errorBody(t)
			} else if !badRequestFromHTTPServer(r) {
				t.Errorf("400 without the error contract: %v %q", r.header, r.body)
			}
		})
	}
	g.requireServing(t, tn.agent.Key)
}

// badRequestFromHTTPServer recognises Go's own answer to an unparsable
// request line, which never reaches the proxy code.
func badRequestFromHTTPServer(r reply) bool {
	return strings.HasPrefix(string(r.body), "400 Bad Request")
}

// TestOversizedHeaders: a request head over 64 KiB is 431 on the proxy
// listener; the proxy serves afterwards.
func TestOversizedHeaders(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", openaiKey)
	big := "X-Big: " + strings.Repeat("a", 80<<10) + "\r\n"
	auth := "Proxy-Authorization: " + basicAuth(tn.agent.Key) + "\r\n"
	heads := []string{
		"GET http://api.openai.com/v1/models HTTP/1.1\r\nHost: api.openai.com\r\n" + auth + big + "\r\n",
		"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n" + auth + big + "\r\n",
	}
	for _, head := range heads {
		t.Run(methodOf(head), func(t *testing.T) {
			if r := g.raw(t, head); r.status != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("status %d, want 431", r.status)
			}
		})
	}
	if n := g.up.Count(); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
	g.requireServing(t, tn.agent.Key)
}

// requireServing checks the process is alive and still proxies a call.
func (g *gatehouse) requireServing(t *testing.T, key string) {
	t.Helper()
	g.proc.alive(t, g.logPath)
	requireOK(t, goDo(t, g.goClient(t, key), "GET", "https://api.openai.com/v1/models", nil))
}
