package policy

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func deniedBy(rule string) Decision {
	return Decision{Effect: EffectDeny, Rule: rule, Code: CodePolicyDenied, Reason: `denied by policy rule "` + rule + `"`}
}

var allowedByDefault = Decision{Allowed: true, Reason: "allowed by default"}

// TestMatchDimensions checks each match field and condition with one deny
// rule: an input that matches is denied, one that differs in that single
// dimension is allowed.
func TestMatchDimensions(t *testing.T) {
	tests := []struct {
		name string
		rule string // the rule body after "effect: deny"
		hit  func(*Input)
		miss func(*Input)
	}{
		{"apps", "match: {apps: [acme]}", nil, func(in *Input) { in.AppID = "other" }},
		{"apps glob", "match: {apps: ['ac*']}", nil, func(in *Input) { in.AppID = "bcme" }},
		{"agents", "match: {agents: [bot]}", nil, func(in *Input) { in.Agent = "" }},
		{"principals glob", "match: {principals: ['user:*']}", nil, func(in *Input) { in.Principal = "system" }},
		{"groups", "match: {groups: [admins, eng]}", nil, func(in *Input) { in.Groups = nil }},
		{"providers", "match: {providers: [github, slack]}", nil, func(in *Input) { in.ProviderID = "github2" }},
		{"providers glob", "match: {providers: ['sl*']}", nil, func(in *Input) { in.ProviderID = "github" }},
		{"hosts wildcard", "match: {hosts: ['*.slack.com']}", func(in *Input) { in.Host = "files.slack.com" }, func(in *Input) { in.Host = "slack.com" }},
		{"hosts case and port", "match: {hosts: ['SLACK.com']}", func(in *Input) { in.Host = "Slack.COM:443" }, func(in *Input) { in.Host = "slack.org" }},
		{"methods", "match: {methods: [post, PUT]}", func(in *Input) { in.Method = "POST" }, func(in *Input) { in.Method = "GET" }},
		{"paths star", "match: {paths: ['/api/chat.*']}", func(in *Input) { in.Path = "/api/chat.postMessage" }, func(in *Input) { in.Path = "/api/chat/x" }},
		{"paths star stops at slash", "match: {paths: ['/repos/*']}", func(in *Input) { in.Path = "/repos/a" }, func(in *Input) { in.Path = "/repos/a/b" }},
		{"paths double star", "match: {paths: ['/repos/**/issues']}", func(in *Input) { in.Path = "/repos/a/b/issues" }, func(in *Input) { in.Path = "/repos/a/b/pulls" }},
		{"actions", "match: {actions: [slack.conversations.list]}", nil, func(in *Input) { in.Action = "" }},
		{"source IPv4", "when: {source_cidrs: [10.0.0.0/8]}", nil, func(in *Input) { in.Source = netip.MustParseAddr("192.168.1.1") }},
		{"source IPv4-mapped", "when: {source_cidrs: [10.0.0.0/8]}", func(in *Input) { in.Source = netip.MustParseAddr("::ffff:10.9.9.9") }, func(in *Input) { in.Source = netip.MustParseAddr("::ffff:11.0.0.1") }},
		{"source IPv6", "when: {source_cidrs: ['2001:db8::/32']}", func(in *Input) { in.Source = netip.MustParseAddr("2001:db8:1::5") }, func(in *Input) { in.Source = netip.MustParseAddr("2001:db9::1") }},
		{"source single address", "when: {source_cidrs: ['fd00::1']}", func(in *Input) { in.Source = netip.MustParseAddr("fd00::1") }, func(in *Input) { in.Source = netip.MustParseAddr("fd00::2") }},
		{"source unknown", "when: {source_cidrs: ['0.0.0.0/0', '::/0']}", nil, func(in *Input) { in.Source = netip.Addr{} }},
		{"time window", "when: {time: {zone: UTC, days: [wed], from: '11:00', to: '13:00'}}", nil, func(in *Input) { in.Now = in.Now.Add(2 * time.Hour) }},
		{"not_time window", "when: {not_time: {zone: UTC, from: '09:00', to: '18:00'}}", func(in *Input) { in.Now = in.Now.Add(8 * time.Hour) }, nil},
		{"grant_max_age exceeded", "when: {grant_max_age: 240h}", nil, func(in *Input) { in.GrantCreated = in.Now.Add(-239 * time.Hour) }},
		{"grant_max_age unknown creation", "when: {grant_max_age: 240h}", func(in *Input) { in.GrantCreated = time.Time{} }, func(in *Input) { in.GrantCreated = in.Now }},
		{"cel", `when: {cel: 'request.method == "GET" && !request.path.startsWith("/admin")'}`, nil, func(in *Input) { in.Path = "/admin/x" }},
		{"cel groups and time", `when: {cel: '"eng" in request.groups && request.time.getHours() == 12'}`, nil, func(in *Input) { in.Groups = []string{"ops"} }},
		{"cel source", `when: {cel: 'request.source.startsWith("10.")'}`, nil, func(in *Input) { in.Source = netip.MustParseAddr("11.0.0.1") }},
		{"all fields together", "match: {apps: [acme], agents: [bot], providers: [slack], methods: [GET]}\n  when: {source_cidrs: [10.0.0.0/8]}", nil, func(in *Input) { in.Method = "DELETE" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := compileYAML(t, Config{}, nil, "- name: r\n  effect: deny\n  "+tt.rule+"\n")
			for _, c := range []struct {
				mod  func(*Input)
				want Decision
			}{{tt.hit, deniedBy("r")}, {tt.miss, allowedByDefault}} {
				in := baseInput()
				if c.mod != nil {
					c.mod(&in)
				}
				got := p.Evaluate(context.Background(), in)
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("input %+v: decision (-want +got):\n%s", in, diff)
				}
			}
		})
	}
}

// TestSemantics covers precedence, strict mode, report mode and failing
// closed.
func TestSemantics(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		cfg   Config
		rules string
		ctx   context.Context
		mod   func(*Input)
		want  Decision
	}{
		{
			name: "no rules allows",
			want: allowedByDefault,
		},
		{
			name: "deny wins over an earlier allow",
			rules: `- {name: a, effect: allow, match: {providers: [slack]}}
- {name: d, effect: deny, match: {methods: [GET]}}
`,
			want: deniedBy("d"),
		},
		{
			name: "first matching deny is reported",
			rules: `- {name: d1, effect: deny, match: {agents: [bot]}}
- {name: d2, effect: deny}
`,
			want: deniedBy("d1"),
		},
		{
			name:  "allow rule names the decision",
			rules: "- {name: a, effect: allow, match: {agents: [bot]}}\n",
			want:  Decision{Allowed: true, Effect: EffectAllow, Rule: "a", Reason: `allowed by policy rule "a"`},
		},
		{
			name:  "strict mode without a matching allow denies",
			cfg:   Config{DefaultEffect: EffectDeny},
			rules: "- {name: a, effect: allow, match: {methods: [POST]}}\n",
			want:  Decision{Code: CodePolicyDenied, Reason: "no policy rule allows this call (strict mode)"},
		},
		{
			name:  "strict mode with a matching allow allows",
			cfg:   Config{DefaultEffect: EffectDeny},
			rules: "- {name: a, effect: allow, match: {methods: [GET]}}\n",
			want:  Decision{Allowed: true, Effect: EffectAllow, Rule: "a", Reason: `allowed by policy rule "a"`},
		},
		{
			name: "strict mode: deny still wins over allow",
			cfg:  Config{DefaultEffect: EffectDeny},
			rules: `- {name: a, effect: allow}
- {name: d, effect: deny, match: {paths: ['/api/**']}}
`,
			want: deniedBy("d"),
		},
		{
			name:  "strict mode: report alone does not allow",
			cfg:   Config{DefaultEffect: EffectDeny},
			rules: "- {name: r, effect: report}\n",
			want:  Decision{Code: CodePolicyDenied, Reason: "no policy rule allows this call (strict mode)"},
		},
		{
			name: "report never blocks and lists every would-deny",
			rules: `- {name: r1, effect: report, match: {methods: [GET]}}
- {name: r2, effect: report, match: {agents: [bot]}}
- {name: r3, effect: report, match: {agents: [other]}}
`,
			want: Decision{Allowed: true, Reason: "allowed by default", WouldDeny: []string{"r1", "r2"}},
		},
		{
			name: "report alongside allow",
			rules: `- {name: a, effect: allow}
- {name: r, effect: report, match: {methods: [GET]}}
`,
			want: Decision{Allowed: true, Effect: EffectAllow, Rule: "a", Reason: `allowed by policy rule "a"`, WouldDeny: []string{"r"}},
		},
		{
			name: "deny beats report",
			rules: `- {name: r, effect: report}
- {name: d, effect: deny}
`,
			want: deniedBy("d"),
		},
		{
			name:  "CEL runtime error fails closed",
			rules: `- {name: c, effect: allow, when: {cel: 'request.nope == "x"'}}` + "\n",
			want:  Decision{Effect: EffectDeny, Rule: "c", Code: CodePolicyDenied, Reason: `rule "c" could not be evaluated; denied (fail closed)`},
		},
		{
			name:  "CEL error in a report rule is reported, never enforced",
			rules: `- {name: c, effect: report, when: {cel: 'int(request.path) > 1'}}` + "\n",
			want:  Decision{Allowed: true, Reason: "allowed by default", WouldDeny: []string{"c"}},
		},
		{
			name:  "CEL cost overrun fails closed",
			rules: `- {name: c, effect: deny, when: {cel: 'request.path.size() > 0 && [1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, a+b+c+d > 0))))'}}` + "\n",
			want:  Decision{Effect: EffectDeny, Rule: "c", Code: CodePolicyDenied, Reason: `rule "c" could not be evaluated; denied (fail closed)`},
		},
		{
			name:  "CEL with a cancelled context fails closed",
			ctx:   cancelled,
			rules: `- {name: c, effect: allow, when: {cel: '[1,2,3].all(x, x > 0)'}}` + "\n",
			want:  Decision{Effect: EffectDeny, Rule: "c", Code: CodePolicyDenied, Reason: `rule "c" could not be evaluated; denied (fail closed)`},
		},
		{
			name:  "time window without a request time fails closed",
			rules: "- {name: w, effect: allow, when: {time: {from: '09:00', to: '17:00'}}}\n",
			mod:   func(in *Input) { in.Now = time.Time{} },
			want:  Decision{Effect: EffectDeny, Rule: "w", Code: CodePolicyDenied, Reason: `rule "w" could not be evaluated; denied (fail closed)`},
		},
		{
			name: "unrelated provider rules are not consulted",
			rules: `- {name: gh, effect: deny, match: {providers: [github]}}
- {name: any, effect: report}
`,
			want: Decision{Allowed: true, Reason: "allowed by default", WouldDeny: []string{"any"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := compileYAML(t, tt.cfg, nil, tt.rules)
			in := baseInput()
			if tt.mod != nil {
				tt.mod(&in)
			}
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			if diff := cmp.Diff(tt.want, p.Evaluate(ctx, in)); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEngineWithoutPolicyDenies(t *testing.T) {
	e := NewEngine(nil)
	want := Decision{Code: CodePolicyDenied, Reason: "no valid policy loaded"}
	if diff := cmp.Diff(want, e.Evaluate(context.Background(), baseInput())); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
	e.Swap(compileYAML(t, Config{}, nil, ""))
	if diff := cmp.Diff(allowedByDefault, e.Evaluate(context.Background(), baseInput())); diff != "" {
		t.Errorf("after Swap (-want +got):\n%s", diff)
	}
}

func TestExplain(t *testing.T) {
	lim := &countingLimiter{}
	p := compileYAML(t, Config{}, lim, `- name: allow-read
  effect: allow
  match: {methods: [GET]}
- name: limit
  effect: deny
  match: {providers: [slack]}
  rate_limit: {per: agent, rate: 1, period: 1h, burst: 1}
- name: gh
  effect: deny
  match: {providers: [github]}
- name: shadow
  effect: report
  when: {source_cidrs: [10.0.0.0/8], cel: 'request.agent == "bot"'}
`)
	d, matches := p.Explain(context.Background(), baseInput())
	wantD := Decision{Allowed: true, Effect: EffectAllow, Rule: "allow-read", Reason: `allowed by policy rule "allow-read"`, WouldDeny: []string{"shadow"}}
	if diff := cmp.Diff(wantD, d); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
	wantM := []Match{
		{Rule: "allow-read", Effect: EffectAllow, File: "test.yaml", Line: 4, Why: []string{`methods: "GET"`}},
		{Rule: "limit", Effect: EffectDeny, File: "test.yaml", Line: 7, Why: []string{`providers: "slack"`, "rate_limit: per agent, 0.0002778/s, burst 1 (tokens not consumed by explain)"}},
		{Rule: "shadow", Effect: EffectReport, File: "test.yaml", Line: 14, Why: []string{`when.source_cidrs: "10.1.2.3"`, "when.cel"}},
	}
	if diff := cmp.Diff(wantM, matches); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}
	if lim.calls != 0 {
		t.Errorf("Explain called the limiter %d times, want 0", lim.calls)
	}
}

// countingLimiter always allows and counts calls.
type countingLimiter struct{ calls int }

func (l *countingLimiter) Allow(context.Context, string, float64, int) (bool, time.Duration, error) {
	l.calls++
	return true, 0, nil
}

// TestCELErrorKinds checks, through Explain, that each fail-closed case is
// the error it claims to be (and not, say, a compile problem).
func TestCELErrorKinds(t *testing.T) {
	tests := []struct {
		name, expr, want string
	}{
		{"missing key", `request.nope == "x"`, "no such key: nope"},
		{"cost limit", `[1,2,3,4,5,6,7,8,9,10].all(a, [1,2,3,4,5,6,7,8,9,10].all(b, [1,2,3,4,5,6,7,8,9,10].all(c, [1,2,3,4,5,6,7,8,9,10].all(d, a+b+c+d > 0))))`, "operation cancelled: actual cost limit exceeded"},
		{"not a bool at runtime", `request.path`, "CEL expression did not return a bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := compileYAML(t, Config{}, nil, "- {name: c, effect: deny, when: {cel: '"+tt.expr+"'}}\n")
			d, m := p.Explain(context.Background(), baseInput())
			if d.Allowed || d.Rule != "c" || len(m) != 1 {
				t.Fatalf("decision %+v, matches %+v: want denied by c with one match", d, m)
			}
			if diff := cmp.Diff(tt.want, m[0].Error); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}
