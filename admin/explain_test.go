package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/proxy"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// fakeExplainer records the requests and answers with out (or fails with
// ErrInvalid for an http:// URL, like the proxy).
type fakeExplainer struct {
	mu   sync.Mutex
	reqs []proxy.ExplainRequest
	out  proxy.Explanation
}

func (f *fakeExplainer) Explain(_ context.Context, req proxy.ExplainRequest) (proxy.Explanation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	if strings.HasPrefix(req.URL, "http://") {
		return proxy.Explanation{}, fmt.Errorf("url must be an absolute https:// URL: %w", vault.ErrInvalid)
	}
	return f.out, nil
}

func (f *fakeExplainer) last() proxy.ExplainRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[len(f.reqs)-1]
}

func TestExplainAPI(t *testing.T) {
	fx := &fakeExplainer{out: proxy.Explanation{Provider: "slack", Matches: []proxy.ExplainMatch{{Rule: "demo.no-post", Effect: "deny"}},
		Decision: &proxy.ExplainedRule{Allowed: false, Rule: "demo.no-post", Code: "policy_denied"}}}
	e := newEnvWith(t, &fakeOAuth{}, func(d *Deps) { d.Explain = fx })
	app := e.createApp("demo")
	bot := e.createAgent("demo", "bot")
	const jwt = "eyJhbGciOiJSUzI1NiJ9.e30.sig"

	tests := []struct {
		name string
		body map[string]string
		want proxy.ExplainRequest
	}{
		{"app key, default method", map[string]string{"url": "https://slack.com/api/chat.postMessage"},
			proxy.ExplainRequest{AppID: app.ID, Method: "GET", URL: "https://slack.com/api/chat.postMessage"}},
		{"agent by name, every field", map[string]string{"agent": "bot", "method": "post", "url": "https://slack.com/api/x",
			"grant": "g1", "user_jwt": jwt, "account": "T1", "source": "10.0.0.1"},
			proxy.ExplainRequest{AppID: app.ID, AgentID: bot.ID, Method: "POST", URL: "https://slack.com/api/x",
				GrantID: "g1", UserJWT: jwt, Account: "T1", Source: "10.0.0.1"}},
		{"agent by id", map[string]string{"agent": bot.ID, "url": "https://slack.com/"},
			proxy.ExplainRequest{AppID: app.ID, AgentID: bot.ID, Method: "GET", URL: "https://slack.com/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got proxy.Explanation
			r := e.must(http.StatusOK, "POST", "/v1/apps/demo/policy/explain", tt.body, &got)
			if diff := cmp.Diff(tt.want, fx.last()); diff != "" {
				t.Errorf("request to the proxy (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(fx.out, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if strings.Contains(string(r.raw), jwt) {
				t.Error("the answer echoes the user JWT")
			}
		})
	}

	refused := []struct {
		name    string
		body    any
		status  int
		message string
	}{
		{"no url", map[string]string{"method": "GET"}, http.StatusBadRequest, `field "url" is required (https://host/path)`},
		{"http url", map[string]string{"url": "http://slack.com/"}, http.StatusBadRequest, "url must be an absolute https:// URL"},
		{"bad method", map[string]string{"url": "https://slack.com/", "method": "GE T"}, http.StatusBadRequest, `field "method" is not an HTTP method`},
		{"unknown agent", map[string]string{"url": "https://slack.com/", "agent": "ghost"}, http.StatusBadRequest, `agent "ghost" does not exist in app "demo"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			got := e.wantErr(tt.status, CodeInvalidRequest, "POST", "/v1/apps/demo/policy/explain", tt.body)
			if diff := cmp.Diff(tt.message, got.Message); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
	e.wantErr(http.StatusNotFound, CodeNotFound, "POST", "/v1/apps/nope/policy/explain", map[string]string{"url": "https://slack.com/"})

	plain := newEnv(t)
	plain.createApp("demo")
	plain.wantErr(http.StatusNotImplemented, CodeInternal, "POST", "/v1/apps/demo/policy/explain", map[string]string{"url": "https://slack.com/"})
}

func TestReadyzShowsPolicyStatus(t *testing.T) {
	var (
		mu  sync.Mutex
		err error
	)
	e := newEnvWith(t, nil, func(d *Deps) {
		d.PolicyStatus = func() error { mu.Lock(); defer mu.Unlock(); return err }
	})
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"loaded", nil, "ok"},
		{"reload failed", fmt.Errorf("p.yaml:3: rules[0].effect: invalid effect"), "p.yaml:3: rules[0].effect: invalid effect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			err = tt.err
			mu.Unlock()
			r := e.get("/readyz", nil, false)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var body readyResponse
			response{raw: []byte(r.body)}.decode(t, &body)
			if body.Policy != tt.want {
				t.Errorf("policy = %q, want %q", body.Policy, tt.want)
			}
		})
	}
}
