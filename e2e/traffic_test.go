package e2e

import (
	"encoding/base64"
	"net/http"
	"testing"
)

// Test secret values. They are distinctive so the hygiene scan can look for
// them anywhere; none is a real credential.
const (
	openaiKey    = "sk-e2e-openai-5f1c0d2a9b8e7f60"
	openaiKey2   = "sk-e2e-openai-second-0a1b2c3d4e"
	anthropicKey = "sk-ant-e2e-77aa66bb55cc44dd"
	twilioUser   = "ACe2e0000000000000000000000000001"
	twilioPass   = "e2e-twilio-auth-token-9d8c7b6a"
	mapsKey      = "AIzaE2E-maps-key-3c2b1a0f9e8d"
)

// okBody is the fake upstream's default answer.
const okBody = `{"ok":true}`

// requireOK checks a forwarded call: 200, the upstream's body, and a
// Gatehouse-Request-Id on the response.
func requireOK(t *testing.T, r reply) {
	t.Helper()
	if r.status != http.StatusOK || string(r.body) != okBody {
		t.Fatalf("status %d body %q, want 200 %s", r.status, r.body, okBody)
	}
	if r.requestID() == "" {
		t.Error("no Gatehouse-Request-Id on the response")
	}
}

// TestCurl: curl with HTTPS_PROXY in its environment and --cacert. The
// secret is piped with a trailing newline, as `echo "$KEY" |` would.
func TestCurl(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", openaiKey+"\n")
	r, _, exit, stderr := g.curl(t, []string{"HTTPS_PROXY=" + g.proxyURL(tn.agent.Key)},
		"--cacert", g.caFile(), "-H", "Gatehouse-Reason: e2e curl", "https://api.openai.com/v1/models")
	if exit != 0 {
		t.Fatalf("curl exit %d: %s", exit, stderr)
	}
	requireOK(t, r)
	requireDelivered(t, g.up.Last(t), "api.openai.com", "Authorization", "Bearer "+openaiKey)
	if got := g.up.Last(t).Path; got != "/v1/models" {
		t.Errorf("upstream path %q", got)
	}
}

// TestGoClient: net/http with the proxy URL as HTTPS_PROXY would give it; a
// client-supplied Authorization is replaced, identity headers stripped.
func TestGoClient(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", openaiKey)
	c := g.goClient(t, tn.agent.Key)
	hdr := http.Header{
		"Authorization":     {"Bearer sk-client-own-value"},
		"Gatehouse-Reason":  {"e2e"},
		"Gatehouse-Context": {"tool=go"},
	}
	for range 2 { // the second call reuses the tunnel
		requireOK(t, goDo(t, c, "GET", "https://api.openai.com/v1/models", hdr))
		requireDelivered(t, g.up.Last(t), "api.openai.com", "Authorization", "Bearer "+openaiKey)
	}
}

// TestPythonClient: urllib.request with ProxyHandler and an ssl context
// that trusts the Gatehouse CA.
func TestPythonClient(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "anthropic", "agent:bot", anthropicKey)
	r := g.python(t, tn.agent.Key, "https://api.anthropic.com/v1/messages", "Gatehouse-Reason: e2e python")
	requireOK(t, r)
	requireDelivered(t, g.up.Last(t), "api.anthropic.com", "x-api-key", anthropicKey)
	requireDelivered(t, g.up.Last(t), "api.anthropic.com", "Authorization", "")
}

// TestPlaceholder: an SDK configured with OPENAI_API_KEY=gatehouse_grant_…
// sends the placeholder where the key goes; it selects that grant even
// when the agent holds two for the provider (without it: ambiguous).
func TestPlaceholder(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "openai", "agent:bot", openaiKey)
	second := g.putSecret("acme", "openai", "agent:bot", openaiKey2)
	c := g.goClient(t, tn.agent.Key)

	goDo(t, c, "GET", "https://api.openai.com/v1/models", nil).requireRefusal(t, http.StatusConflict, "grant_ambiguous")

	before := g.up.Count()
	r := goDo(t, c, "POST", "https://api.openai.com/v1/chat/completions", http.Header{"Authorization": {"Bearer " + second.Placeholder}})
	requireOK(t, r)
	if g.up.Count() != before+1 {
		t.Fatalf("upstream got %d requests, want 1", g.up.Count()-before)
	}
	requireDelivered(t, g.up.Last(t), "api.openai.com", "Authorization", "Bearer "+openaiKey2)

	// The same through Python, the way the openai package sends it.
	requireOK(t, g.python(t, tn.agent.Key, "https://api.openai.com/v1/models", "Authorization: Bearer "+second.Placeholder))
	requireDelivered(t, g.up.Last(t), "api.openai.com", "Authorization", "Bearer "+openaiKey2)
}

// TestBasicProvider: twilio takes "user:pass" on stdin and the upstream
// sees HTTP Basic.
func TestBasicProvider(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	g.putSecret("acme", "twilio", "agent:bot", twilioUser+":"+twilioPass, "--kind", "basic")
	r, _, exit, stderr := g.curl(t, []string{"HTTPS_PROXY=" + g.proxyURL(tn.agent.Key)},
		"--cacert", g.caFile(), "https://api.twilio.com/2010-04-01/Accounts.json")
	if exit != 0 {
		t.Fatalf("curl exit %d: %s", exit, stderr)
	}
	requireOK(t, r)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(twilioUser+":"+twilioPass))
	requireDelivered(t, g.up.Last(t), "api.twilio.com", "Authorization", want)
}

// TestQueryProvider: google-maps injects key= into the query; a
// placeholder in the client's key= is replaced, other parameters kept.
func TestQueryProvider(t *testing.T) {
	t.Parallel()
	g := start(t)
	tn := g.newTenant("acme")
	s := g.putSecret("acme", "google-maps", "agent:bot", mapsKey)
	c := g.goClient(t, tn.agent.Key)
	tests := []struct{ name, query string }{
		{"no key", "address=Main+St"},
		{"placeholder key", "address=Main+St&key=" + s.Placeholder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireOK(t, goDo(t, c, "GET", "https://maps.googleapis.com/maps/api/geocode/json?"+tt.query, nil))
			got := g.up.Last(t)
			if got.RawQuery != "address=Main+St&key="+mapsKey {
				t.Errorf("upstream query %q, want address=Main+St&key=%s", got.RawQuery, mapsKey)
			}
			requireDelivered(t, got, "maps.googleapis.com", "Authorization", "")
		})
	}
}
