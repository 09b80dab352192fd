package policy

import (
	"net/netip"
	"testing"
	"time"
)

// doc wraps rule YAML (a "rules:" list body) in a policy document.
func doc(rules string) string {
	return "apiVersion: gatehouse/v1\nkind: Policy\nrules:\n" + rules
}

// compileYAML parses and compiles rules given as a rules-list body.
func compileYAML(t testing.TB, cfg Config, lim Limiter, rules string) *Policy {
	t.Helper()
	rs, err := Parse("test.yaml", []byte(doc(rules)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	p, err := Compile(cfg, rs, lim)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// baseInput is a plain agent call to Slack at a fixed time (a Wednesday).
func baseInput() Input {
	return Input{
		AppID: "acme", Agent: "bot", Principal: "user:alice", ProviderID: "slack", GrantID: "g1",
		Groups: []string{"eng"},
		Host:   "slack.com", Method: "GET", Path: "/api/conversations.list",
		Action:       "slack.conversations.list",
		Source:       netip.MustParseAddr("10.1.2.3"),
		GrantCreated: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		Now:          time.Date(2025, 6, 11, 12, 0, 0, 0, time.UTC),
	}
}
