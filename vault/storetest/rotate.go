package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

// mkCredUnder stores a credential wrapped (nominally) by kekID.
func mkCredUnder(t *testing.T, s vault.Store, appID, kekID string) vault.Credential {
	t.Helper()
	c := newCred(t, appID, "openai")
	c.KEKID = kekID
	if err := s.CreateCredential(ctx(t), c); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	return c
}

// scanNotUnder pages through ListCredentialsNotUnder with limit, checking
// the paging rules on every page, and returns the rows of the given apps
// (the database may be shared with other tests).
func scanNotUnder(t *testing.T, s vault.Store, active string, limit int, apps ...string) []vault.Credential {
	t.Helper()
	var (
		out   []vault.Credential
		after string
	)
	for {
		page, err := s.ListCredentialsNotUnder(ctx(t), active, after, limit)
		if err != nil {
			t.Fatalf("ListCredentialsNotUnder(after %q): %v", after, err)
		}
		if len(page) > limit {
			t.Fatalf("page of %d rows, limit %d", len(page), limit)
		}
		for _, c := range page {
			if c.ID <= after {
				t.Fatalf("id %s not strictly after %s: pages must be ordered by id", c.ID, after)
			}
			if c.KEKID == active {
				t.Fatalf("credential %s is under the active KEK %s", c.ID, active)
			}
			after = c.ID
			if slices.Contains(apps, c.AppID) {
				out = append(out, c)
			}
		}
		if len(page) < limit {
			return out
		}
	}
}

func byID(cs []vault.Credential) []vault.Credential {
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b vault.Credential) int { return strings.Compare(a.ID, b.ID) })
	return cs
}

func testListCredentialsNotUnder(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	oldA, oldB, active := unique(t, "old-a"), unique(t, "old-b"), unique(t, "active")
	var want []vault.Credential
	for _, a := range []string{app.ID, other.ID} {
		for range 3 {
			want = append(want, mkCredUnder(t, s, a, oldA), mkCredUnder(t, s, a, oldB))
			mkCredUnder(t, s, a, active)
		}
	}
	want = byID(want)

	for _, limit := range []int{1, 2, 5, 1000} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			got := scanNotUnder(t, s, active, limit, app.ID, other.ID)
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("credentials not under %s (-want +got):\n%s", active, d)
			}
		})
	}
	t.Run("after the last id", func(t *testing.T) {
		page, err := s.ListCredentialsNotUnder(c, active, "ffffffff-ffff-ffff-ffff-ffffffffffff", 10)
		if err != nil || len(page) != 0 {
			t.Fatalf("page after the largest id = %d rows, %v; want none", len(page), err)
		}
	})
	t.Run("other active KEK", func(t *testing.T) {
		// Under oldA as the active KEK, oldB and the former active show up.
		got := scanNotUnder(t, s, oldA, 4, app.ID, other.ID)
		for _, cr := range got {
			if cr.KEKID != oldB && cr.KEKID != active {
				t.Fatalf("credential under %s listed as not under %s", cr.KEKID, oldA)
			}
		}
		if len(got) != 12 {
			t.Fatalf("%d credentials not under %s, want 12", len(got), oldA)
		}
	})
	t.Run("updated to the active KEK leaves the scan", func(t *testing.T) {
		next := want[0]
		next.Version, next.KEKID = 2, active
		wantErr(t, "UpdateCredential", s.UpdateCredential(c, next), nil)
		got := scanNotUnder(t, s, active, 3, app.ID, other.ID)
		if d := cmp.Diff(want[1:], got); d != "" {
			t.Fatalf("after update (-want +got):\n%s", d)
		}
	})
	for _, tc := range []struct {
		name   string
		active string
		limit  int
	}{
		{"limit 0", active, 0},
		{"negative limit", active, -1},
		{"empty active KEK", "", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.ListCredentialsNotUnder(c, tc.active, "", tc.limit)
			wantErr(t, "ListCredentialsNotUnder", err, vault.ErrInvalid)
		})
	}
}

func testRewrapCredential(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, intruder := mkApp(t, s), mkApp(t, s)
	oldKEK, newKEK := unique(t, "old"), unique(t, "new")
	cred := mkCredUnder(t, s, app.ID, oldKEK)
	rewrap := func(mut func(*vault.Credential)) vault.Credential {
		r := cred
		r.KEKID, r.WrappedKey = newKEK, randomBytes(t, 61)
		r.UpdatedAt = base.Add(time.Hour)
		// Everything but kek_id, wrapped_key and updated_at is ignored.
		r.Ciphertext, r.Kind, r.ProviderID, r.CreatedAt = randomBytes(t, 90), "basic", "other", base.Add(2*time.Hour)
		mut(&r)
		return r
	}
	keep := func(*vault.Credential) {}
	done := rewrap(keep)
	wantErr(t, "RewrapCredential", s.RewrapCredential(c, done, oldKEK), nil)
	want := cred
	want.KEKID, want.WrappedKey, want.UpdatedAt = done.KEKID, done.WrappedKey, done.UpdatedAt
	check := func(t *testing.T, what string) {
		t.Helper()
		got, err := s.GetCredential(c, app.ID, cred.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("%s (-want +got):\n%s", what, d)
		}
	}
	check(t, "after rewrap")

	for _, tc := range []struct {
		name   string
		c      vault.Credential
		oldKEK string
		want   error
	}{
		{"stale old KEK", rewrap(keep), oldKEK, vault.ErrConflict},
		{"wrong version", rewrap(func(r *vault.Credential) { r.Version = 2 }), newKEK, vault.ErrConflict},
		{"another app", rewrap(func(r *vault.Credential) { r.AppID = intruder.ID }), newKEK, vault.ErrNotFound},
		{"missing app", rewrap(func(r *vault.Credential) { r.AppID = newUUID(t) }), newKEK, vault.ErrNotFound},
		{"missing credential", rewrap(func(r *vault.Credential) { r.ID = newUUID(t) }), newKEK, vault.ErrNotFound},
		{"no wrapped key", rewrap(func(r *vault.Credential) { r.WrappedKey = nil }), newKEK, vault.ErrInvalid},
		{"no new KEK id", rewrap(func(r *vault.Credential) { r.KEKID = "" }), newKEK, vault.ErrInvalid},
		{"no old KEK id", rewrap(keep), "", vault.ErrInvalid},
		{"non-uuid id", rewrap(func(r *vault.Credential) { r.ID = "cred-1" }), newKEK, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "RewrapCredential", s.RewrapCredential(c, tc.c, tc.oldKEK), tc.want)
			check(t, "failed rewrap changed the row")
		})
	}

	t.Run("after a secret rotation", func(t *testing.T) {
		next := want
		next.Version, next.KEKID, next.WrappedKey, next.Ciphertext = 2, oldKEK, randomBytes(t, 61), randomBytes(t, 80)
		wantErr(t, "UpdateCredential", s.UpdateCredential(c, next), nil)
		// A rewrap read before the rotation loses its version fence even
		// though the KEK id matches again.
		stale := rewrap(keep)
		wantErr(t, "RewrapCredential v1", s.RewrapCredential(c, stale, oldKEK), vault.ErrConflict)
		want = next
		check(t, "stale rewrap changed the row")
		// Re-read, rewrapped at the current version: accepted.
		fresh := next
		fresh.KEKID, fresh.WrappedKey, fresh.UpdatedAt = newKEK, randomBytes(t, 61), time.Time{}
		wantErr(t, "RewrapCredential v2", s.RewrapCredential(c, fresh, oldKEK), nil)
		got, err := s.GetCredential(c, app.ID, cred.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.UpdatedAt.IsZero() {
			t.Fatal("a zero UpdatedAt must be stored as the store's current time")
		}
		want.KEKID, want.WrappedKey, want.UpdatedAt = fresh.KEKID, fresh.WrappedKey, got.UpdatedAt
		check(t, "rewrap at version 2")
	})
}

// testConcurrentRewraps races rewrappers holding the same fence against a
// secret rotation: at most one rewrap wins, the rotation always wins (a
// rewrap never changes the version), and the final row is the rotation's.
func testConcurrentRewraps(t *testing.T, s vault.Store) {
	const racers = 8
	c := ctx(t)
	app := mkApp(t, s)
	oldKEK, newKEK := unique(t, "old"), unique(t, "new")
	cred := mkCredUnder(t, s, app.ID, oldKEK)
	rotation := cred
	rotation.Version, rotation.KEKID = 2, newKEK
	rotation.WrappedKey, rotation.Ciphertext = []byte("rotation-wrap"), []byte("rotation-ciphertext")

	errs := make([]error, racers)
	var rotErr error
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			r := cred
			r.KEKID, r.WrappedKey = newKEK, fmt.Appendf(nil, "rewrap-%02d", i)
			<-start
			errs[i] = s.RewrapCredential(c, r, oldKEK)
		})
	}
	wg.Go(func() {
		<-start
		rotErr = s.UpdateCredential(c, rotation)
	})
	close(start)
	wg.Wait()

	wantErr(t, "UpdateCredential racing rewraps", rotErr, nil)
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, vault.ErrConflict):
			t.Fatalf("rewrap %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if winners > 1 {
		t.Fatalf("%d rewraps with the same fence won, want at most 1", winners)
	}
	got, err := s.GetCredential(c, app.ID, cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || string(got.WrappedKey) != "rotation-wrap" || string(got.Ciphertext) != "rotation-ciphertext" {
		t.Fatalf("final row version %d wrap %q ciphertext %q, want the rotation's", got.Version, got.WrappedKey, got.Ciphertext)
	}
}
