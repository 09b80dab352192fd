package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// ruleSummary is what the loader tests compare of a rule.
type ruleSummary struct {
	Name   string
	Effect policy.Effect
	Apps   []string
}

func summarize(rules []policy.Rule) []ruleSummary {
	out := make([]ruleSummary, 0, len(rules))
	for _, r := range rules {
		out = append(out, ruleSummary{r.Name, r.Effect, r.Match.Apps})
	}
	return out
}

func TestPolicyLoaderExtraRules(t *testing.T) {
	ctx := context.Background()
	st, err := vault.OpenSQLite(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = st.Close()
		}
	})
	demo, err := st.CreateApp(ctx, vault.App{Name: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	broken, err := st.CreateApp(ctx, vault.App{Name: "broken"})
	if err != nil {
		t.Fatal(err)
	}
	// Stored as is: the store does not validate (an older version's
	// document, say); the API would have refused it.
	if _, err := st.PutAppPolicy(ctx, vault.AppPolicy{AppID: demo.ID, Document: denyPost}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutAppPolicy(ctx, vault.AppPolicy{AppID: broken.ID, Document: "rules: [\n"}); err != nil {
		t.Fatal(err)
	}
	more := t.TempDir()
	writePolicy(t, more, "extra.yaml", denyAll)

	l := &policyLoader{
		engine: policy.NewEngine(nil), more: []string{more}, store: st,
		log: slog.New(slog.DiscardHandler), lastGood: map[string][]policy.Rule{},
	}
	want := []ruleSummary{
		{"no-openai", policy.EffectDeny, nil},
		{"demo.no-post", policy.EffectDeny, []string{demo.ID}},
		{"broken.invalid-policy", policy.EffectDeny, []string{broken.ID}},
	}
	got := summarize(l.extra())
	if diff := cmp.Diff(sortRules(want), sortRules(got)); diff != "" {
		t.Errorf("extra rules (-want +got):\n%s", diff)
	}
	if err := l.status(); err == nil || !strings.Contains(err.Error(), "no valid policy loaded") {
		t.Errorf("status before any load = %v", err)
	}
	l.reload()
	if err := l.status(); err != nil {
		t.Errorf("status after a good load = %v", err)
	}

	// A directory that breaks, and a store that fails, keep their last
	// good rules and show in the status.
	writePolicy(t, more, "extra.yaml", strings.Replace(denyAll, "effect: deny", "effect: block", 1))
	closed = true
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	got = summarize(l.extra())
	if diff := cmp.Diff(sortRules(want), sortRules(got)); diff != "" {
		t.Errorf("extra rules after failures (-want +got):\n%s", diff)
	}
	status := l.status()
	if status == nil || !strings.Contains(status.Error(), `extra.yaml:5: rules[0].effect: invalid effect "block"`) ||
		!strings.Contains(status.Error(), "app policies (the last ones read stay in force)") {
		t.Errorf("status = %v", status)
	}
}

// sortRules orders summaries by name for comparison.
func sortRules(rs []ruleSummary) []ruleSummary {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b ruleSummary) int { return strings.Compare(a.Name, b.Name) })
	return out
}
