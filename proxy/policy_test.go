package proxy

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// compilePolicy compiles rules (YAML rule list) with a memory limiter.
func compilePolicy(t *testing.T, cfg policy.Config, rules string) *policy.Engine {
	t.Helper()
	doc := "apiVersion: gatehouse/v1\nkind: Policy\nrules:\n" + rules
	rs, err := policy.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(cfg, rs, policy.NewMemoryLimiter(time.Now))
	if err != nil {
		t.Fatal(err)
	}
	return policy.NewEngine(p)
}

// TestPolicyEnforced covers DESIGN.md request flow step 6 after the
// entitlement: rules restrict, deny is policy_denied naming the rule, a
// report rule lets the call through and marks its audit event, a rate
// limit answers 429 rate_limited with Retry-After, and an engine without a
// valid policy denies everything.
func TestPolicyEnforced(t *testing.T) {
	rules := `
  - name: bot-read-only
    effect: deny
    match: {agents: [bot], methods: [POST, PUT, PATCH, DELETE]}
  - name: shadow-models
    effect: report
    match: {paths: ["/v1/models"]}
  - name: bot-rate
    effect: deny
    match: {agents: [bot], paths: ["/v1/limited"]}
    rate_limit: {per: agent, rate: 2, period: 1h, burst: 2}
`
	e := newEnv(t, func(c *envConfig) { c.policy = compilePolicy(t, policy.Config{}, rules) })
	e.secret("openai", "agent:"+e.agent.Name, "sk-bot")
	type result struct {
		Status int
		Code   string
		Rule   any
	}
	call := func(key, method, path string) (result, http.Header) {
		t.Helper()
		resp, b := e.request(key, method, "https://api.openai.com"+path, nil)
		if resp.StatusCode == http.StatusOK {
			return result{Status: 200}, resp.Header
		}
		code, fields := errorOf(t, resp, b)
		return result{resp.StatusCode, code, fields["rule"]}, resp.Header
	}
	for _, tc := range []struct {
		name, key, method, path string
		want                    result
	}{
		{"agent GET allowed", e.agentKey, "GET", "/v1/files", result{Status: 200}},
		{"agent POST denied", e.agentKey, "POST", "/v1/files", result{403, CodePolicyDenied, "bot-read-only"}},
		{"report rule lets the call through", e.agentKey, "GET", "/v1/models", result{Status: 200}},
		{"rate limit 1/2", e.agentKey, "GET", "/v1/limited", result{Status: 200}},
		{"rate limit 2/2", e.agentKey, "GET", "/v1/limited", result{Status: 200}},
	} {
		got, _ := call(tc.key, tc.method, tc.path)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	got, hdr := call(e.agentKey, "GET", "/v1/limited")
	if diff := cmp.Diff(result{429, CodeRateLimited, "bot-rate"}, got); diff != "" {
		t.Errorf("rate limit exhausted (-want +got):\n%s", diff)
	}
	if hdr.Get("Retry-After") == "" || hdr.Get("Retry-After") == "0" {
		t.Errorf("Retry-After = %q, want a positive number of seconds", hdr.Get("Retry-After"))
	}
	evs := e.auditEvents()
	var decisions []string
	for _, ev := range evs {
		if ev.Kind == audit.KindCall {
			decisions = append(decisions, fmt.Sprintf("%s %s %s %s (%s)", ev.Method, ev.Path, ev.Decision, ev.Rule, ev.DecisionReason))
		}
	}
	want := []string{
		"GET /v1/files allow  (allowed by default)",
		`POST /v1/files deny bot-read-only (denied by policy rule "bot-read-only")`,
		"GET /v1/models report shadow-models (report rules would deny: shadow-models)",
		"GET /v1/limited allow  (allowed by default)",
		"GET /v1/limited allow  (allowed by default)",
		`GET /v1/limited deny bot-rate (rate limit of policy rule "bot-rate" exceeded)`,
	}
	if diff := cmp.Diff(want, decisions); diff != "" {
		t.Errorf("audit decisions (-want +got):\n%s", diff)
	}
}

// TestNoValidPolicyDenies: an engine that never got a valid policy (every
// load failed) refuses every call (DESIGN.md: with no good policy at all
// the proxy denies).
func TestNoValidPolicyDenies(t *testing.T) {
	e := newEnv(t, func(c *envConfig) { c.policy = policy.NewEngine(nil) })
	e.secret("openai", "system", "sk-system")
	resp, b := e.request(e.appKey, "GET", "https://api.openai.com/v1/models", nil)
	if code, _ := errorOf(t, resp, b); resp.StatusCode != 403 || code != CodePolicyDenied {
		t.Fatalf("status %d code %q, want 403 policy_denied", resp.StatusCode, code)
	}
	if n := e.upstream.Count(); n != 0 {
		t.Errorf("upstream saw %d requests, want 0", n)
	}
}

// scriptedUsers is a Users double: JWT verification itself is tested in
// package identity against a local JWKS server; here the proxy's use of
// the verified user is.
type scriptedUsers map[string]identity.User

func (u scriptedUsers) Verify(_ context.Context, _, token string) (identity.User, error) {
	switch token {
	case "expired":
		return identity.User{}, fmt.Errorf("verify: %w", identity.ErrExpired)
	case "idp-down":
		return identity.User{}, fmt.Errorf("verify: %w", identity.ErrUnavailable)
	}
	if user, ok := u[token]; ok {
		return user, nil
	}
	return identity.User{}, fmt.Errorf("verify: %w", identity.ErrSignature)
}

// TestUserGrant covers resolution step 5.3: the Gatehouse-User JWT's user
// reaches its own grants and its IdP groups' grants, Gatehouse-Account
// picks among several, and verification failures have their codes.
func TestUserGrant(t *testing.T) {
	users := scriptedUsers{"jwt-alice": {ID: "alice", Groups: []string{"eng"}}}
	e := newEnv(t, func(c *envConfig) { c.users = users })
	ctx := t.Context()
	oauthGrant := func(provider, principal, account, token string) {
		t.Helper()
		_, _, err := e.vault.PutOAuthGrant(ctx, e.app.ID, provider, principal, account,
			vault.Material{AccessToken: token, Expiry: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	oauthGrant("openai", "user:alice", "acct-1", "tok-alice-1")
	oauthGrant("openai", "user:alice", "acct-2", "tok-alice-2")
	oauthGrant("anthropic", "group:eng", "team", "tok-eng")

	type result struct {
		Status int
		Code   string
		Auth   string // what the upstream got
	}
	for _, tc := range []struct {
		name, key, host string
		hdr             http.Header
		want            result
	}{
		{"two accounts are ambiguous", e.appKey, "api.openai.com", http.Header{"Gatehouse-User": {"jwt-alice"}}, result{409, CodeGrantAmbiguous, ""}},
		{"Gatehouse-Account picks one", e.appKey, "api.openai.com", http.Header{"Gatehouse-User": {"jwt-alice"}, "Gatehouse-Account": {"acct-2"}}, result{200, "", "Bearer tok-alice-2"}},
		{"unknown account", e.appKey, "api.openai.com", http.Header{"Gatehouse-User": {"jwt-alice"}, "Gatehouse-Account": {"nope"}}, result{403, CodeGrantNotFound, ""}},
		{"group grant", e.appKey, "api.anthropic.com", http.Header{"Gatehouse-User": {"jwt-alice"}}, result{200, "", ""}},
		{"expired token", e.appKey, "api.openai.com", http.Header{"Gatehouse-User": {"expired"}}, result{403, CodeUserInvalid, ""}},
		{"forged token", e.appKey, "api.openai.com", http.Header{"Gatehouse-User": {"forged"}}, result{403, CodeUserInvalid, ""}},
		{"identity provider down", e.appKey, "api.openai.com", http.Header{"Gatehouse-User": {"idp-down"}}, result{503, CodeIdentityUnavailable, ""}},
		{"agent without delegation", e.agentKey, "api.openai.com", http.Header{"Gatehouse-User": {"jwt-alice"}, "Gatehouse-Account": {"acct-1"}}, result{403, CodeNotEntitled, ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.upstream.Count()
			resp, b := e.request(tc.key, "GET", "https://"+tc.host+"/v1/models", tc.hdr)
			got := result{Status: resp.StatusCode}
			if resp.StatusCode != http.StatusOK {
				got.Code, _ = errorOf(t, resp, b)
			} else {
				last := e.upstream.Last(t)
				if tc.host == "api.openai.com" {
					got.Auth = last.Header.Get("Authorization")
				}
				// Invariant 3: the user's JWT and the account choice are
				// for the proxy only.
				for name, vs := range last.Header {
					if strings.HasPrefix(name, "Gatehouse-") || slices.ContainsFunc(vs, func(v string) bool { return strings.Contains(v, "jwt-alice") }) {
						t.Errorf("upstream got %s: %q", name, vs)
					}
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if resp.StatusCode != http.StatusOK && e.upstream.Count() != before {
				t.Error("a refused call reached the upstream")
			}
		})
	}
}
