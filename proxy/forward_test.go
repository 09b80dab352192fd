package proxy

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// TestUpstreamFailure: an unreachable or untrusted upstream is a 502 with the
// error contract inside the tunnel, not a reset connection.
func TestUpstreamFailure(t *testing.T) {
	tests := []struct {
		name string
		opt  envOption
		code string
	}{
		{"unreachable", withUpstream(func(u *UpstreamConfig) { u.Resolve["api.openai.com:443"] = "127.0.0.1:1" }), CodeUpstreamUnreachable},
		{"untrusted certificate", withUpstream(func(u *UpstreamConfig) { u.ExtraRoots = nil }), CodeUpstreamTLSFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opt)
			e.secret("openai", "agent:bot", openaiKey)
			resp, body := e.do(e.client(e.agentKey), "GET", "https://api.openai.com/v1/models", nil)
			code, _ := errorOf(t, resp, body)
			if resp.StatusCode != http.StatusBadGateway || code != tt.code {
				t.Fatalf("got %d %s: %s", resp.StatusCode, code, body)
			}
		})
	}
}

// TestPlainHTTPAllowlisted: plaintext http:// to an allowlisted non-provider
// host is forwarded, stripped of identity headers and never given a
// credential.
func TestPlainHTTPAllowlisted(t *testing.T) {
	var got http.Header
	plain := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(204)
	})}
	e := newEnv(t, withUpstream(func(u *UpstreamConfig) { u.AllowCIDRs = []string{"127.0.0.0/8"} }))
	ln := listen(t)
	go func() { _ = plain.Serve(ln) }()
	t.Cleanup(func() { plain.Close() })
	e.secret("openai", "agent:bot", openaiKey)
	if err := e.vault.SetAppEgress(t.Context(), e.app.ID, []string{"127.0.0.1:" + port(ln.Addr().String())}); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(e.client(e.agentKey), "GET", "http://"+ln.Addr().String()+"/x", http.Header{"Gatehouse-Grant": {"x"}})
	if resp.StatusCode != 204 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	for name := range got {
		if strings.HasPrefix(name, "Gatehouse-") || strings.HasPrefix(name, "Proxy-") || name == "Authorization" {
			t.Errorf("plaintext upstream received %s", name)
		}
	}
	t.Run("not allowlisted", func(t *testing.T) {
		resp, body := e.do(e.client(e.agentKey), "GET", "http://not-listed.example/x", nil)
		if code, _ := errorOf(t, resp, body); resp.StatusCode != 403 || code != CodeEgressDenied {
			t.Fatalf("got %d %s", resp.StatusCode, code)
		}
	})
}

// TestAuditEvents: one event per call and per refusal, with the fields the
// security team reads, query values redacted and no secret anywhere in the
// rows or in the logs (security invariant 6).
func TestAuditEvents(t *testing.T) {
	e := newEnv(t)
	g := e.secret("openai", "agent:bot", openaiKey)
	c := e.client(e.agentKey)
	ok, _ := e.do(c, "GET", "https://api.openai.com/v1/models?token=hunter2&x=1", http.Header{"Gatehouse-Reason": {"nightly"}, "Gatehouse-Context": {"run=42"}})
	denied, _ := e.request(e.agentKey, "GET", "https://unknown.example/", nil)
	evs := e.auditEvents()
	byID := map[string]audit.Event{}
	for _, ev := range evs {
		byID[ev.RequestID] = ev
	}
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2: %+v", len(evs), evs)
	}
	ignore := cmpopts.IgnoreFields(audit.Event{}, "ID", "Time", "UpstreamLatency", "TotalLatency", "ClientAddr", "BytesOut")
	want := audit.Event{
		Kind: audit.KindCall, RequestID: ok.Header.Get(headerRequestID), AppID: e.app.ID, KeyID: keyID(e.agentKey),
		AgentID: e.agent.ID, Principal: "agent:bot", GrantID: g.ID, ProviderID: "openai", Method: "GET",
		Host: "api.openai.com", Path: "/v1/models?token=REDACTED&x=REDACTED", Status: 200, Decision: audit.DecisionAllow,
		Reason: "nightly", Context: "run=42",
	}
	if diff := cmp.Diff(want, byID[want.RequestID], ignore); diff != "" {
		t.Errorf("allowed event (-want +got):\n%s", diff)
	}
	if ev := byID[want.RequestID]; ev.BytesOut != int64(len(`{"ok":true}`)) || ev.TotalLatency <= 0 {
		t.Errorf("bytes_out %d total latency %v", ev.BytesOut, ev.TotalLatency)
	}
	wantDenied := audit.Event{
		Kind: audit.KindCall, RequestID: denied.Header.Get(headerRequestID), AppID: e.app.ID, KeyID: keyID(e.agentKey),
		AgentID: e.agent.ID, Method: "CONNECT", Host: "unknown.example", Status: 403, Decision: audit.DecisionDeny,
		ErrorCode: CodeEgressDenied,
	}
	if diff := cmp.Diff(wantDenied, byID[wantDenied.RequestID], ignore); diff != "" {
		t.Errorf("denied event (-want +got):\n%s", diff)
	}
	for _, secret := range []string{openaiKey, e.agentKey, "hunter2"} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("a secret appears in the logs")
		}
		for _, ev := range evs {
			if strings.Contains(cmp.Diff(audit.Event{}, ev), secret) {
				t.Errorf("a secret appears in audit event %s", ev.RequestID)
			}
		}
	}
}

// keyID extracts the public key id from a plaintext key.
func keyID(key string) string {
	parts := strings.Split(key, "_")
	return parts[2]
}

// blockingStore holds every insert until released, to fill the audit queue.
type blockingStore struct {
	audit.Store
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStore) InsertEvents(ctx context.Context, evs []audit.Event) error {
	b.once.Do(func() { close(b.entered) })
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Store.InsertEvents(ctx, evs)
}

// TestAuditUnavailable: when the audit queue is full the proxy refuses new
// calls with 503 audit_unavailable instead of forwarding them unaudited.
func TestAuditUnavailable(t *testing.T) {
	bs := &blockingStore{entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnv(t, func(c *envConfig) {
		c.auditCfg.QueueSize, c.auditCfg.BatchSize = 2, 1
		c.auditStore = func(s audit.Store) audit.Store { bs.Store = s; return bs }
	})
	e.secret("openai", "agent:bot", openaiKey)
	c := e.client(e.agentKey)
	if resp, _ := e.do(c, "GET", "https://api.openai.com/v1/models", nil); resp.StatusCode != 200 {
		t.Fatalf("first call: %d", resp.StatusCode)
	}
	<-bs.entered // the writer is stuck on the first event
	before := e.upstream.Count()
	sawRefusal := false
	for range 4 {
		resp, body := e.do(c, "GET", "https://api.openai.com/v1/models", nil)
		if resp.StatusCode == http.StatusServiceUnavailable {
			if code, _ := errorOf(t, resp, body); code != CodeAuditUnavailable {
				t.Fatalf("code %s", code)
			}
			sawRefusal = true
			break
		}
	}
	if !sawRefusal {
		t.Fatal("the proxy kept forwarding with a full audit queue")
	}
	if n := e.upstream.Count() - before; n > 1 {
		t.Errorf("%d calls were forwarded after the queue filled", n)
	}
	close(bs.release)
}
