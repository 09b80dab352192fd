package vault

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBoundTTL(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		expires time.Time
		want    time.Duration
	}{
		{"no expiry", time.Time{}, 5 * time.Minute},
		{"expires later", now.Add(time.Hour), 5 * time.Minute},
		{"expires sooner", now.Add(90 * time.Second), 90 * time.Second},
		{"expires now", now, 0},
		{"expired", now.Add(-time.Second), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := boundTTL(5*time.Minute, now, tc.expires); got != tc.want {
				t.Fatalf("boundTTL = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInvalidationMessage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		want    []string
	}{
		{"scopes", `{"v":1,"scopes":["key:abc","app:x"]}`, []string{"key:abc", "app:x"}},
		{"garbage", `not json`, []string{scopeAll}},
		{"newer version", `{"v":2,"scopes":["key:abc"]}`, []string{scopeAll}},
		{"no scopes", `{"v":1,"scopes":[]}`, []string{scopeAll}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, decodeInvalidation(tc.payload)); d != "" {
				t.Fatalf("decodeInvalidation (-want +got):\n%s", d)
			}
		})
	}
	msg, err := encodeInvalidation([]string{"key:abc", scopeAll})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"key:abc", scopeAll}, decodeInvalidation(msg)); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
}

func TestGrantsForItemUnambiguous(t *testing.T) {
	if a, b := grantsForItem("a", "b:c"), grantsForItem("a:b", "c"); a == b {
		t.Fatalf("two provider/principal pairs share the item %q", a)
	}
}
