package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchRules builds n rules spread over 20 providers: path and method
// denies, every 10th with a source CIDR and a time window, every 25th with
// a CEL condition, and a couple of provider-independent report rules.
func benchRules(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "- name: r%d\n  effect: deny\n  match: {providers: [p%d], methods: [DELETE, PUT], paths: ['/api/x%d/**']}\n", i, i%20, i)
		if i%10 == 0 || i%25 == 0 {
			b.WriteString("  when:\n")
		}
		if i%10 == 0 {
			b.WriteString("    source_cidrs: [10.0.0.0/8, '2001:db8::/32']\n    time: {zone: Europe/Berlin, days: [mon, tue, wed, thu, fri], from: '09:00', to: '18:00'}\n")
		}
		if i%25 == 0 {
			b.WriteString("    cel: 'request.method == \"DELETE\" && request.path.startsWith(\"/api/\")'\n")
		}
	}
	b.WriteString("- {name: shadow-any, effect: report, match: {agents: [nobody]}}\n")
	b.WriteString("- {name: hosts-any, effect: deny, match: {hosts: ['*.evil.example']}}\n")
	return b.String()
}

func BenchmarkEvaluate(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			clock := &fakeClock{t: time.Date(2025, 6, 11, 12, 0, 0, 0, time.UTC)}
			p := compileYAML(b, Config{}, NewMemoryLimiter(clock.now), benchRules(n))
			in := baseInput()
			in.ProviderID, in.Method, in.Path, in.Host = "p0", "DELETE", "/api/other/thing", "api.example.com"
			ctx := context.Background()
			if d := p.Evaluate(ctx, in); !d.Allowed {
				b.Fatalf("benchmark input denied: %+v", d)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Evaluate(ctx, in)
			}
		})
	}
}

// BenchmarkEvaluateFullMatch measures the expensive path: a rule whose
// CIDR, DST-aware time window and CEL condition are all evaluated.
func BenchmarkEvaluateFullMatch(b *testing.B) {
	clock := &fakeClock{t: time.Date(2025, 6, 11, 12, 0, 0, 0, time.UTC)}
	p := compileYAML(b, Config{}, NewMemoryLimiter(clock.now), benchRules(1000))
	in := baseInput()
	in.ProviderID, in.Method, in.Path = "p0", "DELETE", "/api/x0/thing"
	ctx := context.Background()
	if d := p.Evaluate(ctx, in); d.Rule != "r0" {
		b.Fatalf("benchmark input not denied by r0: %+v", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Evaluate(ctx, in)
	}
}
