package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
)

// benchPolicyRules is how many rules the gatehouse-policy path loads.
const benchPolicyRules = 40

// benchPolicy is a realistic policy for the benchmark's agent and
// provider: a read-only rule for other agents, a business-hours window
// that always holds, a source-CIDR rule, a CEL rule, a report rule, and
// rules for other providers that the index must skip. None denies the
// benchmark's calls, so the path measures evaluation, not refusals.
func benchPolicy() (*policy.Engine, error) {
	var b strings.Builder
	b.WriteString("apiVersion: gatehouse/v1\nkind: Policy\nrules:\n")
	b.WriteString(`  - {name: others-read-only, effect: deny, match: {agents: [other-*], methods: [POST, PUT, PATCH, DELETE]}}
  - {name: always-open, effect: deny, match: {providers: [openai], paths: ["/v1/fine_tuning/**"]}, when: {not_time: {zone: Europe/Berlin, days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}}}
  - {name: from-outside, effect: deny, match: {providers: [openai]}, when: {source_cidrs: [203.0.113.0/24, "2001:db8::/32"]}}
  - {name: no-admin-paths, effect: deny, match: {providers: [openai]}, when: {cel: 'request.path.startsWith("/admin")'}}
  - {name: shadow-deletes, effect: report, match: {providers: [openai], methods: [DELETE]}}
`)
	for i := range benchPolicyRules - 5 {
		fmt.Fprintf(&b, "  - {name: other-%d, effect: deny, match: {providers: [provider-%d], methods: [POST]}}\n", i, i%20)
	}
	rules, err := policy.Parse("bench.yaml", []byte(b.String()))
	if err != nil {
		return nil, fmt.Errorf("bench policy: %w", err)
	}
	p, err := policy.Compile(policy.Config{}, rules, policy.NewMemoryLimiter(time.Now))
	if err != nil {
		return nil, fmt.Errorf("bench policy: %w", err)
	}
	return policy.NewEngine(p), nil
}
