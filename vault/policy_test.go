package vault_test

import (
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

const testPolicyDoc = "apiVersion: gatehouse/v1\nkind: Policy\nrules: []\n"

// hookCounter is an OnPolicyChange function that counts its calls.
type hookCounter struct{ n atomic.Int64 }

func (h *hookCounter) fn() { h.n.Add(1) }

func (h *hookCounter) waitAtLeast(t *testing.T, what string, n int64) {
	t.Helper()
	waitFor(t, what, func() bool { return h.n.Load() >= n })
}

func TestAppPolicies(t *testing.T) {
	e := newEnv(t)
	c := t.Context()
	var h hookCounter
	e.v.OnPolicyChange(h.fn)

	for i, tc := range []struct {
		name string
		op   func() (vault.AppPolicy, error)
		want vault.AppPolicy
		err  error
	}{
		{"first put", func() (vault.AppPolicy, error) { return e.v.PutAppPolicy(c, e.app.ID, testPolicyDoc) },
			vault.AppPolicy{AppID: e.app.ID, Document: testPolicyDoc, Version: 1, UpdatedAt: e.clock.Now()}, nil},
		{"second put", func() (vault.AppPolicy, error) { return e.v.PutAppPolicy(c, e.app.ID, testPolicyDoc+"# v2\n") },
			vault.AppPolicy{AppID: e.app.ID, Document: testPolicyDoc + "# v2\n", Version: 2, UpdatedAt: e.clock.Now()}, nil},
		{"delete", func() (vault.AppPolicy, error) { return vault.AppPolicy{}, e.v.DeleteAppPolicy(c, e.app.ID) },
			vault.AppPolicy{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.op()
			wantIs(t, tc.name, err, tc.err)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
			// The writer's own hook runs too.
			h.waitAtLeast(t, "the local policy hook", int64(i+1))
		})
	}
	for _, tc := range []struct {
		name string
		err  error
		op   func() error
	}{
		{"put for a missing app", vault.ErrNotFound, func() error {
			_, err := e.v.PutAppPolicy(c, "0195f6a2-0000-7000-8000-00000000dead", testPolicyDoc)
			return err
		}},
		{"empty document", vault.ErrInvalid, func() error { _, err := e.v.PutAppPolicy(c, e.app.ID, ""); return err }},
		{"delete missing", vault.ErrNotFound, func() error { return e.v.DeleteAppPolicy(c, e.app.ID) }},
		{"delete another app's", vault.ErrNotFound, func() error { return e.v.DeleteAppPolicy(c, e.other.ID) }},
	} {
		t.Run(tc.name, func(t *testing.T) { wantIs(t, tc.name, tc.op(), tc.err) })
	}
}

// TestPolicyHookCoalesces: triggers that arrive while the hook runs lead
// to exactly one more call after it, and never to two concurrent calls.
func TestPolicyHookCoalesces(t *testing.T) {
	e := newEnv(t)
	c := t.Context()
	entered, release := make(chan struct{}), make(chan struct{})
	var calls, running, overlap atomic.Int64
	e.v.OnPolicyChange(func() {
		if running.Add(1) > 1 {
			overlap.Add(1)
		}
		if calls.Add(1) == 1 {
			entered <- struct{}{}
			<-release
		}
		running.Add(-1)
	})
	if _, err := e.v.PutAppPolicy(c, e.app.ID, testPolicyDoc); err != nil {
		t.Fatal(err)
	}
	<-entered // the first call is running and blocked
	for range 5 {
		if _, err := e.v.PutAppPolicy(c, e.app.ID, testPolicyDoc); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	waitFor(t, "the follow-up call", func() bool { return calls.Load() == 2 && running.Load() == 0 })
	e.v.Close() // waits for a running hook; no further calls after it
	if calls.Load() != 2 || overlap.Load() != 0 {
		t.Fatalf("calls %d (want 2), overlapping calls %d (want 0)", calls.Load(), overlap.Load())
	}
}

// TestPolicyHookAcrossReplicas: a policy change on one replica runs the
// hook on every replica, through the Redis invalidation channel.
func TestPolicyHookAcrossReplicas(t *testing.T) {
	e := newCacheEnv(t)
	prefix := testPrefix(t)
	a := e.redisVault(t, testRedisURL(), prefix, nil)
	b := e.redisVault(t, testRedisURL(), prefix, nil)
	var ha, hb hookCounter
	a.OnPolicyChange(ha.fn)
	b.OnPolicyChange(hb.fn)
	c := t.Context()

	if _, err := a.PutAppPolicy(c, e.app.ID, testPolicyDoc); err != nil {
		t.Fatal(err)
	}
	ha.waitAtLeast(t, "the writer's hook", 1)
	hb.waitAtLeast(t, "the other replica's hook", 1)

	nb := hb.n.Load()
	if err := a.DeleteAppPolicy(c, e.app.ID); err != nil {
		t.Fatal(err)
	}
	hb.waitAtLeast(t, "the other replica's hook after the delete", nb+1)

	// A policy change does not flush the other replica's caches: the
	// scope names no cached row.
	f := e.fixture(t, b, "worker")
	warm(t, b, f)
	before := b.Stats()
	nb = hb.n.Load()
	if _, err := a.PutAppPolicy(c, e.app.ID, testPolicyDoc); err != nil {
		t.Fatal(err)
	}
	hb.waitAtLeast(t, "the other replica's hook", nb+1)
	warm(t, b, f)
	if got := b.Stats(); got.StoreReads != before.StoreReads || got.RedisReads != before.RedisReads {
		t.Fatalf("a policy change flushed caches: reads %d→%d (store), %d→%d (redis)",
			before.StoreReads, got.StoreReads, before.RedisReads, got.RedisReads)
	}
}
