package oauth_test

import (
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/fakeoauth"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// replicas are n Vault+Manager pairs over one PostgreSQL schema, sharing a
// Redis for the refresh lease when withRedis, and a grant connected through
// the first.
func replicas(t *testing.T, e *env, n int, withRedis bool) ([]replica, vault.Grant) {
	t.Helper()
	vs, app := e.postgres(t, n)
	var rs []replica
	if withRedis {
		rdb, prefix := testRedis(t)
		for _, v := range vs {
			rs = append(rs, replica{v: v, m: e.manager(t, v, rdb, prefix, oauth.Config{})})
		}
	} else {
		for _, v := range vs {
			rs = append(rs, replica{v: v, m: e.manager(t, v, nil, "", oauth.Config{})})
		}
	}
	g := e.connect(t, rs[0], oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice"})
	// Every replica has the token set cached before it expires, as a busy
	// proxy would.
	for _, r := range rs {
		if _, err := r.m.Token(t.Context(), g); err != nil {
			t.Fatal(err)
		}
	}
	return rs, g
}

func TestRefreshStormAcrossReplicas(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration // token endpoint latency
		fail  int           // transient 503s before it answers
	}{
		{"fast endpoint", 0, 0},
		{"slow endpoint", 300 * time.Millisecond, 0},
		{"transient failures", 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fakeoauth.Options{RotateRefresh: true, AccessTTL: ttl}, provider{})
			rs, g := replicas(t, e, 2, true)
			before := stored(t, rs[0].v, g)
			e.fake.SetDelay(tc.delay)
			e.fake.FailNext(tc.fail, 503)
			e.clock.Advance(ttl + time.Minute)
			start := e.fake.Stats()

			const calls = 200
			results := make([]vault.Material, calls)
			errs := make([]error, calls)
			var wg sync.WaitGroup
			for i := range calls {
				wg.Go(func() {
					results[i], errs[i] = rs[i%len(rs)].m.Token(t.Context(), g)
				})
			}
			wg.Wait()

			end := e.fake.Stats()
			if n := end.Refreshes - start.Refreshes; n != 1 {
				t.Errorf("successful refreshes at the token endpoint = %d, want exactly 1", n)
			}
			if n := end.TokenCalls - start.TokenCalls; n != 1+tc.fail {
				t.Errorf("token endpoint requests = %d, want %d", n, 1+tc.fail)
			}
			if end.ReuseDetected != 0 {
				t.Errorf("refresh token reuse detected %d times", end.ReuseDetected)
			}
			after := stored(t, rs[0].v, g)
			if after.Version != before.Version+1 {
				t.Errorf("stored version %d → %d, want one write", before.Version, after.Version)
			}
			for i := range calls {
				switch {
				case errs[i] != nil:
					t.Fatalf("call %d: %v", i, errs[i])
				case results[i].AccessToken != after.AccessToken:
					t.Fatalf("call %d got a token other than the one stored", i)
				case !e.clock.Now().Before(results[i].Expiry):
					t.Fatalf("call %d got an expired token", i)
				}
			}
			var waits int64
			for _, r := range rs {
				waits += r.m.Stats().LeaseWaits
			}
			if refreshes := rs[0].m.Stats().Refreshes + rs[1].m.Stats().Refreshes; refreshes != 1 {
				t.Errorf("manager refresh counters sum to %d, want 1", refreshes)
			}
			t.Logf("lease waits: %d", waits)
		})
	}
}

func TestFenceConflictWithoutLease(t *testing.T) {
	// Without Redis two replicas both reach the token endpoint (the gate
	// holds both requests until both arrived); the version fence lets one
	// write win and the other returns the winner's token set.
	e := newEnv(t, fakeoauth.Options{AccessTTL: ttl}, provider{})
	rs, g := replicas(t, e, 2, false)
	before := stored(t, rs[0].v, g)
	e.clock.Advance(ttl + time.Minute)
	e.gate.armed.Store(true)

	results := make([]vault.Material, len(rs))
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() { results[i], errs[i] = r.m.Token(t.Context(), g) })
	}
	wg.Wait()

	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	after := stored(t, rs[0].v, g)
	if after.Version != before.Version+1 {
		t.Errorf("stored version %d → %d, want exactly one winning write", before.Version, after.Version)
	}
	for i, m := range results {
		if m.AccessToken != after.AccessToken || m.Version != after.Version {
			t.Errorf("replica %d returned version %d, not the winner's token set (version %d)", i, m.Version, after.Version)
		}
	}
	if n := e.fake.Stats().Refreshes; n != 2 {
		t.Errorf("token endpoint refreshes = %d, want 2 (no lease)", n)
	}
	if c := rs[0].m.Stats().Conflicts + rs[1].m.Stats().Conflicts; c != 1 {
		t.Errorf("fence conflicts = %d, want 1", c)
	}
}

func TestDeadLeaseHolderIsTakenOver(t *testing.T) {
	// A replica died holding the lease: the others wait for it to expire
	// (LeaseTTL), then refresh themselves.
	e := newEnv(t, fakeoauth.Options{RotateRefresh: true, AccessTTL: ttl}, provider{})
	vs, app := e.postgres(t, 1)
	rdb, prefix := testRedis(t)
	m := e.manager(t, vs[0], rdb, prefix, oauth.Config{LeaseTTL: 500 * time.Millisecond, TokenTimeout: 400 * time.Millisecond})
	g := e.connect(t, replica{v: vs[0], m: m}, oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice"})
	if err := rdb.Set(t.Context(), prefix+"lease:refresh:"+g.CredentialID, "dead-replica", 500*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(ttl + time.Minute)
	got, err := m.Token(t.Context(), g)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if !e.clock.Now().Before(got.Expiry) {
		t.Error("expired token returned")
	}
	if st := m.Stats(); st.LeaseWaits != 1 || st.Refreshes != 1 {
		t.Errorf("stats = %+v, want 1 lease wait and 1 refresh", st)
	}
}
