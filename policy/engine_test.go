package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestWatchHotReload: a good file applies; a bad one keeps the good policy
// and reports file:line: field; a fixed one applies. No sleeps: the test
// waits on onError and polls decisions with a ticker and a deadline.
func TestWatchHotReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	write := func(body string) {
		t.Helper()
		// Write then rename, as editors and config maps do, so the
		// watcher never sees a half-written file.
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, []byte(doc(body)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write("- {name: no-post, effect: deny, match: {methods: [POST]}}\n")

	e := NewEngine(nil)
	errs := make(chan error, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- e.Watch(ctx, dir, Config{}, nil, func() []Rule {
			return []Rule{{Name: "api-rule", Effect: EffectReport, Match: Selector{Agents: []string{"bot"}}}}
		}, func(err error) { errs <- err })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})

	post := baseInput()
	post.Method = "POST"
	get := baseInput()
	waitFor := func(what string, in Input, want Decision) {
		t.Helper()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(10 * time.Second)
		for {
			got := e.Evaluate(context.Background(), in)
			if cmp.Equal(want, got) {
				return
			}
			select {
			case err := <-errs:
				t.Fatalf("%s: unexpected load error: %v", what, err)
			case <-deadline:
				t.Fatalf("%s: decision never became the wanted one (-want +got):\n%s", what, cmp.Diff(want, got))
			case <-tick.C:
			}
		}
	}
	waitFor("initial load", post, deniedBy("no-post"))
	waitFor("initial load, extra rules", get, Decision{Allowed: true, Reason: "allowed by default", WouldDeny: []string{"api-rule"}})

	// A bad file: the error names file, line and field; the good policy stays.
	write("- {name: no-post, effect: deny, match: {methods: [POST]}}\n- {name: broken, effect: deny, when: {time: {zone: Mars/Base}}}\n")
	select {
	case err := <-errs:
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Fatalf("error %v is not a *FieldError", err)
		}
		want := file + ":5: rules[1].when.time.zone: unknown time zone \"Mars/Base\""
		if diff := cmp.Diff(want, err.Error()); diff != "" {
			t.Errorf("error (-want +got):\n%s", diff)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bad file was never reported")
	}
	if diff := cmp.Diff(deniedBy("no-post"), e.Evaluate(context.Background(), post)); diff != "" {
		t.Errorf("after bad file, policy changed (-want +got):\n%s", diff)
	}

	// Fixed: now GET is denied and POST allowed.
	write("- {name: no-get, effect: deny, match: {methods: [GET]}}\n")
	waitFor("fixed file", get, deniedBy("no-get"))
	waitFor("fixed file", post, Decision{Allowed: true, Reason: "allowed by default", WouldDeny: []string{"api-rule"}})
}

func TestReloadKeepsPolicyOnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(doc("- {name: d, effect: deny}\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	e := NewEngine(nil)
	if err := e.Reload(dir, Config{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	// A rule from the API that duplicates a file rule's name is refused.
	err := e.Reload(dir, Config{}, nil, func() []Rule { return []Rule{{Name: "d", Effect: EffectAllow}} })
	if err == nil || !strings.Contains(err.Error(), `duplicate rule name "d"`) {
		t.Fatalf("Reload error = %v, want a duplicate name error", err)
	}
	if diff := cmp.Diff(deniedBy("d"), e.Evaluate(context.Background(), baseInput())); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
}
