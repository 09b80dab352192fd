package vault_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func TestValidatePrincipal(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want error
	}{
		{"system", nil},
		{"agent:worker", nil},
		{"user:auth0|5f7c", nil},
		{"user:alice@example.com", nil},
		{"group:eng", nil},
		{"group:Eng-OnCall", nil},
		{"group:" + strings.Repeat("g", 255), nil},
		{"group:", vault.ErrInvalid},
		{"group:eng team", vault.ErrInvalid},
		{"group:é", vault.ErrInvalid},
		{"group:" + strings.Repeat("g", 256), vault.ErrInvalid},
		{"user:", vault.ErrInvalid},
		{"agent:Worker", vault.ErrInvalid},
		{"groups:eng", vault.ErrInvalid},
		{"root", vault.ErrInvalid},
	} {
		t.Run(tc.p, func(t *testing.T) {
			if err := vault.ValidatePrincipal(tc.p); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("ValidatePrincipal(%q) = %v, want %v", tc.p, err, tc.want)
			}
		})
	}
}

func TestIdentityProvider(t *testing.T) {
	e := newEnv(t)
	c := t.Context()
	p := vault.IdentityProvider{
		AppID: e.app.ID, Issuer: "https://idp.example.com", Audience: "gatehouse",
		GroupClaim: "groups", Algorithms: []string{"RS256"}, Leeway: 10 * time.Second,
	}
	_, err := e.v.IdentityProvider(c, e.app.ID)
	wantIs(t, "IdentityProvider before set", err, vault.ErrNotFound)

	got, err := e.v.SetIdentityProvider(c, p)
	if err != nil {
		t.Fatal(err)
	}
	want := p
	want.CreatedAt, want.UpdatedAt = e.clock.Now(), e.clock.Now()
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("SetIdentityProvider (-want +got):\n%s", d)
	}

	// Cached: one store read for many calls.
	before := e.store.getIdentityProvider.Load()
	for range 3 {
		got, err := e.v.IdentityProvider(c, e.app.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("IdentityProvider (-want +got):\n%s", d)
		}
		got.Algorithms[0] = "none" // the caller's copy
	}
	if n := e.store.getIdentityProvider.Load() - before; n != 1 {
		t.Fatalf("3 IdentityProvider calls read the store %d times, want 1", n)
	}

	// A new configuration is seen at once (invalidation), keeping CreatedAt.
	e.clock.Advance(time.Minute)
	p.Audience = "gatehouse-2"
	if _, err := e.v.SetIdentityProvider(c, p); err != nil {
		t.Fatal(err)
	}
	want.Audience, want.UpdatedAt = "gatehouse-2", e.clock.Now()
	got, err = e.v.IdentityProvider(c, e.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("IdentityProvider after update (-want +got):\n%s", d)
	}

	for _, tc := range []struct {
		name string
		p    vault.IdentityProvider
		want error
	}{
		{"missing app", vault.IdentityProvider{AppID: "0195f6a2-0000-7000-8000-00000000dead", Issuer: "https://i", Audience: "a"}, vault.ErrNotFound},
		{"no issuer", vault.IdentityProvider{AppID: e.app.ID, Audience: "a"}, vault.ErrInvalid},
		{"negative leeway", vault.IdentityProvider{AppID: e.app.ID, Issuer: "https://i", Audience: "a", Leeway: -1}, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.v.SetIdentityProvider(c, tc.p)
			wantIs(t, "SetIdentityProvider", err, tc.want)
		})
	}
	_, err = e.v.IdentityProvider(c, e.other.ID)
	wantIs(t, "IdentityProvider of another app", err, vault.ErrNotFound)
	wantIs(t, "RemoveIdentityProvider of another app", e.v.RemoveIdentityProvider(c, e.other.ID), vault.ErrNotFound)

	wantIs(t, "RemoveIdentityProvider", e.v.RemoveIdentityProvider(c, e.app.ID), nil)
	_, err = e.v.IdentityProvider(c, e.app.ID)
	wantIs(t, "IdentityProvider after remove", err, vault.ErrNotFound)
	wantIs(t, "RemoveIdentityProvider again", e.v.RemoveIdentityProvider(c, e.app.ID), vault.ErrNotFound)
}

// TestIdentityProviderAcrossReplicas: a replica that cached the identity
// provider sees another replica's change once the invalidation arrives,
// long before its cache entry expires.
func TestIdentityProviderAcrossReplicas(t *testing.T) {
	e := newCacheEnv(t)
	prefix := testPrefix(t)
	a := e.redisVault(t, testRedisURL(), prefix, nil)
	b := e.redisVault(t, testRedisURL(), prefix, nil)
	c := t.Context()
	p := vault.IdentityProvider{AppID: e.app.ID, Issuer: "https://idp.example.com", Audience: "one"}
	if _, err := a.SetIdentityProvider(c, p); err != nil {
		t.Fatal(err)
	}
	if got, err := b.IdentityProvider(c, e.app.ID); err != nil || got.Audience != "one" {
		t.Fatalf("replica b: %+v, %v", got, err)
	}
	p.Audience = "two"
	if _, err := a.SetIdentityProvider(c, p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica b to see the new audience", func() bool {
		got, err := b.IdentityProvider(c, e.app.ID)
		return err == nil && got.Audience == "two"
	})
	if err := a.RemoveIdentityProvider(c, e.app.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica b to see the removal", func() bool {
		_, err := b.IdentityProvider(c, e.app.ID)
		return errors.Is(err, vault.ErrNotFound)
	})
}

func TestSeeUser(t *testing.T) {
	e := newEnv(t)
	c := t.Context()
	start := e.clock.Now()
	users := func(t *testing.T, want []vault.User) {
		t.Helper()
		got, err := e.store.ListUsers(c, e.app.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("users (-want +got):\n%s", d)
		}
	}
	for _, tc := range []struct {
		name    string
		advance time.Duration
		app, id string
		groups  []string
		err     error
		writes  int64 // store writes so far
		want    []vault.User
	}{
		{"first sight writes", 0, "", "alice", []string{"eng"}, nil, 1,
			[]vault.User{{AppID: e.app.ID, ID: "alice", Groups: []string{"eng"}, FirstSeen: start, LastSeen: start}}},
		{"second sight is throttled", time.Minute, "", "alice", []string{"ops"}, nil, 1,
			[]vault.User{{AppID: e.app.ID, ID: "alice", Groups: []string{"eng"}, FirstSeen: start, LastSeen: start}}},
		{"still throttled just before the hour", 58*time.Minute + 59*time.Second, "", "alice", nil, nil, 1,
			[]vault.User{{AppID: e.app.ID, ID: "alice", Groups: []string{"eng"}, FirstSeen: start, LastSeen: start}}},
		{"written again after the hour", time.Second, "", "alice", []string{"ops"}, nil, 2,
			[]vault.User{{AppID: e.app.ID, ID: "alice", Groups: []string{"ops"}, FirstSeen: start, LastSeen: start.Add(vault.SeeUserInterval)}}},
		{"another user is its own first sight", 0, "", "bob@example.com", nil, nil, 3,
			[]vault.User{
				{AppID: e.app.ID, ID: "alice", Groups: []string{"ops"}, FirstSeen: start, LastSeen: start.Add(vault.SeeUserInterval)},
				{AppID: e.app.ID, ID: "bob@example.com", FirstSeen: start.Add(vault.SeeUserInterval), LastSeen: start.Add(vault.SeeUserInterval)},
			}},
		{"same id in another app is another user", 0, e.other.ID, "alice", nil, nil, 4, nil},
		{"invalid id writes nothing", 0, "", "alice smith", nil, vault.ErrInvalid, 4, nil},
		{"invalid group writes nothing", 0, "", "carol", []string{"a\nb"}, vault.ErrInvalid, 4, nil},
		{"missing app", 0, "0195f6a2-0000-7000-8000-00000000dead", "alice", nil, vault.ErrNotFound, 5, nil},
		{"a failed write is not remembered", 0, "0195f6a2-0000-7000-8000-00000000dead", "alice", nil, vault.ErrNotFound, 6, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.clock.Advance(tc.advance)
			app := tc.app
			if app == "" {
				app = e.app.ID
			}
			wantIs(t, "SeeUser", e.v.SeeUser(c, app, tc.id, tc.groups), tc.err)
			if n := e.store.touchUser.Load(); n != tc.writes {
				t.Fatalf("%d store writes, want %d", n, tc.writes)
			}
			if tc.want != nil {
				users(t, tc.want)
			}
		})
	}

	// Another process (a new Vault) writes on its first sight.
	v2 := vault.New(e.store, e.keys, randomKEK(t), vault.Options{Now: e.clock.Now})
	t.Cleanup(v2.Close)
	before := e.store.touchUser.Load()
	wantIs(t, "SeeUser in a new process", v2.SeeUser(c, e.app.ID, "alice", nil), nil)
	if n := e.store.touchUser.Load() - before; n != 1 {
		t.Fatalf("new process: %d writes on first sight, want 1", n)
	}
}

// wantIs fails unless err matches target (nil: no error).
func wantIs(t *testing.T, op string, err, target error) {
	t.Helper()
	if (target == nil) != (err == nil) || !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", op, err, target)
	}
}
