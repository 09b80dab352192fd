package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/vault"
)

const openaiKey = "sk-test-openai-0123456789abcdef"

// TestInjection covers the happy path and invariant 3: the upstream receives
// exactly the vault's credential in the provider's place and none of the
// client's identity headers, placeholders or Proxy-Authorization.
func TestInjection(t *testing.T) {
	e := newEnv(t)
	g := e.secret("openai", "agent:bot", openaiKey)
	tests := []struct {
		name string
		hdr  http.Header
	}{
		{"implicit agent grant", nil},
		{"placeholder in Authorization", http.Header{"Authorization": {"Bearer " + vault.GrantPlaceholderPrefix + g.ID}}},
		{"Gatehouse-Grant header", http.Header{"Gatehouse-Grant": {g.ID}, "Gatehouse-Reason": {"triage"}, "Gatehouse-Context": {"tool=x"}}},
		{"client credential replaced", http.Header{"Authorization": {"Bearer sk-client-own"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(e.client(e.agentKey), "GET", "https://api.openai.com/v1/models", tt.hdr)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if resp.Header.Get(headerRequestID) == "" {
				t.Error("no Gatehouse-Request-Id on the response")
			}
			got := e.upstream.Last(t)
			if diff := cmp.Diff([]string{"Bearer " + openaiKey}, got.Header.Values("Authorization")); diff != "" {
				t.Errorf("Authorization (-want +got):\n%s", diff)
			}
			for name, vs := range got.Header {
				if strings.HasPrefix(name, "Gatehouse-") || strings.HasPrefix(name, "Proxy-") {
					t.Errorf("upstream received %s", name)
				}
				for _, v := range vs {
					if strings.Contains(v, vault.GrantPlaceholderPrefix) || strings.Contains(v, e.agentKey) {
						t.Errorf("upstream received a placeholder or key in %s", name)
					}
				}
			}
			if got.SNI != "api.openai.com" || got.Host != "api.openai.com" {
				t.Errorf("upstream SNI/Host = %q/%q", got.SNI, got.Host)
			}
		})
	}
}

func TestQueryInjection(t *testing.T) {
	e := newEnv(t)
	e.secret("google-maps", "agent:bot", "maps-key-123")
	resp, body := e.do(e.client(e.agentKey), "GET", "https://maps.googleapis.com/maps/api/geocode/json?address=x&key=mine", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := e.upstream.Last(t).RawQuery; got != "address=x&key=maps-key-123" {
		t.Errorf("query = %q", got)
	}
}

// TestRefusals checks the status and code of each refusal of the error
// contract that this layer produces.
func TestRefusals(t *testing.T) {
	e := newEnv(t)
	g := e.secret("openai", "agent:bot", openaiKey)
	sys := e.secret("anthropic", "system", "sk-ant-system")
	other, err := e.store.CreateApp(t.Context(), vault.App{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, err := e.vault.PutSecret(t.Context(), other.ID, "openai", "api_key", "system", vault.Material{Token: "sk-foreign"})
	if err != nil {
		t.Fatal(err)
	}
	revokedKey, k, err := e.vault.IssueKey(t.Context(), e.app.ID, e.agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.vault.RevokeKey(t.Context(), e.app.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	g2 := e.secret("openai", "system", "sk-revoked")
	if err := e.vault.RevokeGrant(t.Context(), e.app.ID, g2.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		key    string
		url    string
		hdr    http.Header
		status int
		code   string
	}{
		{"no key", "", "https://api.openai.com/v1/models", nil, 407, CodeProxyAuthRequired},
		{"wrong key", "gatehouse_agent_aaaaaaaaaaaaaaaa_" + strings.Repeat("b", 52), "https://api.openai.com/v1/models", nil, 407, CodeKeyInvalid},
		{"garbage key", "not-a-key", "https://api.openai.com/v1/models", nil, 407, CodeKeyInvalid},
		{"revoked key", revokedKey, "https://api.openai.com/v1/models", nil, 407, CodeKeyRevoked},
		{"unknown host denied for agent", e.agentKey, "https://unknown.example/", nil, 403, CodeEgressDenied},
		{"plaintext to provider", e.agentKey, "http://api.openai.com/v1/models", nil, 403, CodePlaintextRefused},
		{"cross-app grant is not found", e.agentKey, "https://api.openai.com/v1/models", http.Header{"Gatehouse-Grant": {foreign.ID}}, 403, CodeGrantNotFound},
		{"unknown grant", e.agentKey, "https://api.openai.com/v1/models", http.Header{"Gatehouse-Grant": {"0190b6a4-1c2d-7e3f-8a9b-0c1d2e3f4a5b"}}, 403, CodeGrantNotFound},
		{"malformed grant id", e.agentKey, "https://api.openai.com/v1/models", http.Header{"Gatehouse-Grant": {"../../etc"}}, 403, CodeGrantNotFound},
		{"malformed placeholder", e.agentKey, "https://api.openai.com/v1/models", http.Header{"Authorization": {"Bearer gatehouse_grant_zzz"}}, 403, CodeGrantNotFound},
		{"revoked grant", e.appKey, "https://api.openai.com/v1/models", http.Header{"Gatehouse-Grant": {g2.ID}}, 403, CodeGrantRevoked},
		{"agent may not use system grant", e.agentKey, "https://api.anthropic.com/v1/messages", nil, 403, CodeNotEntitled},
		{"grant of another provider", e.agentKey, "https://api.anthropic.com/v1/messages", http.Header{"Gatehouse-Grant": {g.ID}}, 403, CodeNotEntitled},
		{"no grant at all", e.agentKey, "https://api.stripe.com/v1/charges", nil, 403, CodeGrantNotFound},
		{"two placeholders", e.appKey, "https://api.openai.com/v1/models", http.Header{"Authorization": {"Bearer " + vault.GrantPlaceholderPrefix + g.ID}, "X-Other": {vault.GrantPlaceholderPrefix + sys.ID}}, 409, CodeGrantAmbiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.upstream.Count()
			resp, body := e.request(tt.key, "GET", tt.url, tt.hdr)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			code, _ := errorOf(t, resp, body)
			if code != tt.code {
				t.Errorf("code %q, want %q (%s)", code, tt.code, body)
			}
			if tt.status == 407 && resp.Header.Get("Proxy-Authenticate") != `Basic realm="gatehouse"` {
				t.Errorf("Proxy-Authenticate = %q", resp.Header.Get("Proxy-Authenticate"))
			}
			if e.upstream.Count() != before {
				t.Error("a refused request reached the upstream")
			}
		})
	}
}

// TestAmbiguous lists the candidates when an agent has two grants.
func TestAmbiguous(t *testing.T) {
	e := newEnv(t)
	a := e.secret("openai", "agent:bot", "sk-1")
	b := e.secret("openai", "agent:bot", "sk-2")
	resp, body := e.do(e.client(e.agentKey), "GET", "https://api.openai.com/v1/models", nil)
	code, fields := errorOf(t, resp, body)
	if resp.StatusCode != 409 || code != CodeGrantAmbiguous {
		t.Fatalf("got %d %s", resp.StatusCode, code)
	}
	want := []any{a.ID, b.ID}
	if a.ID > b.ID {
		want = []any{b.ID, a.ID}
	}
	if diff := cmp.Diff(want, fields["candidates"]); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
}

// rawConnect opens a CONNECT tunnel by hand and returns the conn after a
// 200, for tests that need to misbehave inside the tunnel.
func (e *env) rawConnect(t *testing.T, target, key string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	auth := base64.StdEncoding.EncodeToString([]byte("x:" + key))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Basic %s\r\n\r\n", target, target, auth)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT status %d", resp.StatusCode)
	}
	return c
}

// TestHostAndSNIMismatch covers invariant 2: inner Host, SNI and scheme are
// checked against the CONNECT authority.
func TestHostAndSNIMismatch(t *testing.T) {
	e := newEnv(t)
	e.secret("openai", "agent:bot", openaiKey)
	e.secret("anthropic", "agent:bot", "sk-ant")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.ca.CertPEM())
	tests := []struct {
		name       string
		sni        string
		host       string
		plaintext  bool
		wantCode   string
		wantStatus int
	}{
		{"other provider in Host", "api.openai.com", "api.anthropic.com", false, CodeHostMismatch, 403},
		{"other port in Host", "api.openai.com", "api.openai.com:8443", false, CodeHostMismatch, 403},
		{"SNI of another host", "api.anthropic.com", "api.openai.com", false, CodeHostMismatch, 403},
		{"plaintext inside tunnel", "", "api.openai.com", true, CodePlaintextRefused, 403},
		{"matching", "api.openai.com", "API.OpenAI.com:443", false, "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.upstream.Count()
			var c net.Conn = e.rawConnect(t, "api.openai.com:443", e.agentKey)
			if !tt.plaintext {
				// The mismatched SNI case cannot verify our leaf (it names the
				// CONNECT host); a misbehaving client would skip verification.
				tc := tls.Client(c, &tls.Config{ServerName: tt.sni, RootCAs: pool, InsecureSkipVerify: tt.sni != "api.openai.com"})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c = tc
			}
			fmt.Fprintf(c, "GET /v1/models HTTP/1.1\r\nHost: %s\r\n\r\n", tt.host)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tt.wantCode != "" {
				if code, _ := errorOf(t, resp, body); code != tt.wantCode {
					t.Errorf("code %q, want %q", code, tt.wantCode)
				}
				if e.upstream.Count() != before {
					t.Error("a refused request reached the upstream")
				}
			}
		})
	}
}

// TestEgress covers invariants 4 and 5: blind tunnels only for allowlisted
// hosts, and never to private addresses unless allowed.
func TestEgress(t *testing.T) {
	t.Run("allowlisted host tunnels", func(t *testing.T) {
		e := newEnv(t)
		if err := e.vault.SetAppEgress(t.Context(), e.app.ID, []string{"allowed.example"}); err != nil {
			t.Fatal(err)
		}
		c := e.client(e.agentKey)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(e.upstream.CAPEM) // blind tunnel: the upstream's own cert
		c.Transport.(*http.Transport).TLSClientConfig.RootCAs = pool
		resp, body := e.do(c, "GET", "https://allowed.example/x", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if e.upstream.Last(t).Header.Get("Authorization") != "" {
			t.Error("a blind tunnel carried a credential")
		}
		evs := e.auditEvents()
		if len(evs) != 1 || evs[0].Decision != audit.DecisionTunnel || evs[0].BytesOut == 0 {
			t.Errorf("tunnel audit = %+v", evs)
		}
	})
	t.Run("private address refused", func(t *testing.T) {
		e := newEnv(t)
		if err := e.vault.SetAppEgress(t.Context(), e.app.ID, []string{"127.0.0.1:" + port(e.upstream.Addr())}); err != nil {
			t.Fatal(err)
		}
		resp, body := e.request(e.agentKey, "GET", "https://"+e.upstream.Addr()+"/", nil)
		if code, _ := errorOf(t, resp, body); resp.StatusCode != 403 || code != CodeEgressDenied {
			t.Fatalf("got %d %s", resp.StatusCode, code)
		}
	})
	t.Run("private address allowed by cidr", func(t *testing.T) {
		e := newEnv(t, withUpstream(func(u *UpstreamConfig) { u.AllowCIDRs = []string{"127.0.0.0/8"} }))
		if err := e.vault.SetAppEgress(t.Context(), e.app.ID, []string{"127.0.0.1:" + port(e.upstream.Addr())}); err != nil {
			t.Fatal(err)
		}
		c := e.client(e.agentKey)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(e.upstream.CAPEM)
		c.Transport.(*http.Transport).TLSClientConfig.RootCAs = pool
		resp, body := e.do(c, "GET", "https://"+e.upstream.Addr()+"/", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestRevokedKeyOpenTunnel: revoking a key stops a tunnel that is already
// open with it at its next request.
func TestRevokedKeyOpenTunnel(t *testing.T) {
	e := newEnv(t)
	e.secret("openai", "agent:bot", openaiKey)
	key, k, err := e.vault.IssueKey(t.Context(), e.app.ID, e.agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(key)
	if resp, _ := e.do(c, "GET", "https://api.openai.com/v1/models", nil); resp.StatusCode != 200 {
		t.Fatalf("before revoke: %d", resp.StatusCode)
	}
	if err := e.vault.RevokeKey(t.Context(), e.app.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	before := e.upstream.Count()
	resp, body := e.do(c, "GET", "https://api.openai.com/v1/models", nil) // same pooled tunnel
	if code, _ := errorOf(t, resp, body); resp.StatusCode != 407 || code != CodeKeyRevoked {
		t.Fatalf("after revoke: %d %s", resp.StatusCode, code)
	}
	if e.upstream.Count() != before {
		t.Error("the revoked key's request reached the upstream")
	}
}

// TestProviderOfHost: a plaintext request is matched to the provider that
// owns its host, on any port, so the refusal is audited against the right
// provider.
func TestProviderOfHost(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		a    authority
		want string
	}{
		{authority{"api.openai.com", 80}, "openai"},
		{authority{"api.anthropic.com", 8080}, "anthropic"},
		{authority{"unknown.example", 80}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.a.String(), func(t *testing.T) {
			p, ok := e.srv.providerOfHost(tt.a)
			got := ""
			if ok {
				got = p.ID
			}
			if got != tt.want {
				t.Errorf("providerOfHost(%v) = %q, want %q", tt.a, got, tt.want)
			}
		})
	}
}
