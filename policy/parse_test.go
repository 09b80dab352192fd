package policy

import (
	"context"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestParseErrorsGolden checks the exact messages (file:line: field: msg)
// for every invalid file in testdata/parse against its .golden file.
func TestParseErrorsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/parse/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := Parse(file, data)
			if perr == nil {
				t.Fatal("Parse succeeded, want errors")
			}
			got := perr.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			var fe *FieldError
			if !errors.As(perr, &fe) || fe.File != file || fe.Line == 0 {
				t.Errorf("first error %#v: want a *FieldError with file %s and a line", fe, file)
			}
		})
	}
}

func TestParseModel(t *testing.T) {
	src := doc(`  - name: r1
    description: read only
    effect: deny
    match:
      apps: [acme]
      agents: [bot]
      principals: ["user:*"]
      groups: [eng]
      providers: [slack]
      hosts: ["*.slack.com"]
      methods: [POST]
      paths: ["/api/chat.*"]
      actions: [slack.chat.postMessage]
    when:
      time: {zone: Europe/Berlin, days: [mon], from: "09:00", to: "18:00"}
      not_time: {days: [sun]}
      source_cidrs: [10.0.0.0/8, "2001:db8::/32"]
      grant_max_age: 720h
      cel: 'request.method == "GET"'
    rate_limit: {per: agent, rate: 10, period: 1m, burst: 20}
---
apiVersion: gatehouse/v1
kind: Policy
rules:
  - {name: r2, effect: report}
`)
	rules, err := Parse("m.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{{
		Name: "r1", Description: "read only", Effect: EffectDeny,
		Match: Selector{
			Apps: []string{"acme"}, Agents: []string{"bot"}, Principals: []string{"user:*"}, Groups: []string{"eng"},
			Providers: []string{"slack"}, Hosts: []string{"*.slack.com"}, Methods: []string{"POST"},
			Paths: []string{"/api/chat.*"}, Actions: []string{"slack.chat.postMessage"},
		},
		When: Conditions{
			Time:        &Window{Zone: "Europe/Berlin", Days: []string{"mon"}, From: "09:00", To: "18:00"},
			NotTime:     &Window{Days: []string{"sun"}},
			SourceCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"},
			GrantMaxAge: 720 * time.Hour,
			CEL:         `request.method == "GET"`,
		},
		RateLimit: &RateLimit{Per: "agent", Rate: 10, Period: time.Minute, Burst: 20},
	}, {Name: "r2", Effect: EffectReport}}
	if diff := cmp.Diff(want, rules, cmp.AllowUnexported(Rule{}), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".src"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if got := []int{rules[0].src.line, rules[1].src.line}; !cmp.Equal(got, []int{4, 28}) {
		t.Errorf("rule lines = %v, want [4 28]", got)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		rules []Rule
		lim   Limiter
		want  string
	}{
		{"rules in code are named", Config{}, []Rule{{Name: "x", Effect: EffectDeny, When: Conditions{CEL: "nope == 1"}}}, nil,
			`rules["x"].when.cel: invalid CEL expression: 1:1: undeclared reference to 'nope'`},
		{"rate limit without limiter", Config{}, []Rule{{Name: "x", Effect: EffectDeny, RateLimit: &RateLimit{Per: "agent", Rate: 1}}}, nil,
			`rules["x"].rate_limit: rate limits need a Limiter, none configured`},
		{"duplicate names across sources", Config{}, []Rule{{Name: "x", Effect: EffectDeny}, {Name: "x", Effect: EffectAllow}}, nil,
			`rules["x"].name: duplicate rule name "x" (also defined in code)`},
		{"bad default effect", Config{DefaultEffect: "report"}, nil, nil,
			`policy.default_effect: invalid value "report" (want allow or deny)`},
		{"unnamed rule in code", Config{}, []Rule{{Effect: EffectDeny}}, nil,
			`rules[0].name: required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.cfg, tt.rules, tt.lim)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExampleConfig loads the shipped example policy and checks a few of
// its decisions, so the documentation cannot drift from the parser.
func TestExampleConfig(t *testing.T) {
	rules, err := LoadDir("../configs/policies")
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	lim := NewMemoryLimiter(func() time.Time { return time.Date(2025, 6, 11, 12, 0, 0, 0, time.UTC) })
	p, err := Compile(Config{}, rules, lim)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	// A Wednesday at 12:00 UTC, 14:00 in Berlin: within business hours.
	now := time.Date(2025, 6, 11, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   Input
		want Decision
	}{
		{"read-only agent may read", Input{AppID: "acme", Agent: "reporter", ProviderID: "github", Method: "GET", Path: "/repos/a/b", Host: "api.github.com", Now: now},
			Decision{Allowed: true, Reason: "allowed by default"}},
		{"read-only agent may not write", Input{AppID: "acme", Agent: "reporter", ProviderID: "github", Method: "POST", Path: "/repos/a/b/issues", Host: "api.github.com", Now: now},
			Decision{Effect: EffectDeny, Rule: "read-only-reporter", Code: CodePolicyDenied, Reason: `denied by policy rule "read-only-reporter"`}},
		{"no email sending", Input{AppID: "acme", Agent: "assistant", ProviderID: "google", Method: "POST", Host: "gmail.googleapis.com", Path: "/gmail/v1/users/me/messages/send", Now: now},
			Decision{Effect: EffectDeny, Rule: "no-email-sending", Code: CodePolicyDenied, Reason: `denied by policy rule "no-email-sending"`}},
		{"outside business hours", Input{AppID: "acme", Agent: "assistant", ProviderID: "salesforce", Method: "GET", Path: "/x", Now: now.Add(8 * time.Hour)},
			Decision{Effect: EffectDeny, Rule: "salesforce-business-hours", Code: CodePolicyDenied, Reason: `denied by policy rule "salesforce-business-hours"`}},
		{"shadow rule reports", Input{AppID: "acme", Agent: "assistant", ProviderID: "slack", Method: "DELETE", Host: "slack.com", Path: "/api/chat.delete", Now: now},
			Decision{Allowed: true, Reason: "allowed by default", WouldDeny: []string{"shadow-no-slack-deletes"}}},
		{"old grant", Input{AppID: "acme", ProviderID: "slack", Method: "GET", Path: "/api/x", Now: now, GrantCreated: now.Add(-91 * 24 * time.Hour)},
			Decision{Effect: EffectDeny, Rule: "grant-max-age", Code: CodePolicyDenied, Reason: `denied by policy rule "grant-max-age"`}},
		{"admin path outside the office", Input{AppID: "acme", ProviderID: "github", Method: "GET", Path: "/admin/users", Source: netip.MustParseAddr("2001:db9::1"), Now: now},
			Decision{Effect: EffectDeny, Rule: "admin-from-office", Code: CodePolicyDenied, Reason: `denied by policy rule "admin-from-office"`}},
		{"admin path from the office", Input{AppID: "acme", ProviderID: "github", Method: "GET", Path: "/admin/users", Source: netip.MustParseAddr("2001:db8::1"), Now: now},
			Decision{Allowed: true, Reason: "allowed by default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.GrantCreated.IsZero() {
				in.GrantCreated = now.Add(-24 * time.Hour)
			}
			if diff := cmp.Diff(tt.want, p.Evaluate(context.Background(), in)); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}
