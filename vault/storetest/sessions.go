package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

// newSession returns a pending session of appID expiring ttl after base,
// with a random state hash.
func newSession(t *testing.T, appID string, ttl time.Duration) vault.ConnectSession {
	t.Helper()
	return vault.ConnectSession{
		ID: newUUID(t), StateHash: randomBytes(t, 32), AppID: appID, ProviderID: "slack",
		Principal: "user:alice", RedirectURI: "https://gatehouse.example/oauth/callback",
		Status: vault.SessionPending, CreatedAt: base, ExpiresAt: base.Add(ttl),
	}
}

func mkSession(t *testing.T, s vault.Store, appID string, ttl time.Duration) vault.ConnectSession {
	t.Helper()
	cs := newSession(t, appID, ttl)
	if err := s.CreateConnectSession(ctx(t), cs); err != nil {
		t.Fatalf("CreateConnectSession: %v", err)
	}
	return cs
}

func testConnectSessions(t *testing.T, s vault.Store) {
	c := ctx(t)
	app := mkApp(t, s)
	cs := newSession(t, app.ID, 10*time.Minute)
	cs.Agent, cs.GrantID, cs.Scopes = "worker", newUUID(t), []string{"chat:write"}
	wantErr(t, "CreateConnectSession", s.CreateConnectSession(c, cs), nil)
	get := func(t *testing.T, want vault.ConnectSession) {
		t.Helper()
		got, err := s.GetConnectSession(c, app.ID, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("GetConnectSession (-want +got):\n%s", d)
		}
	}
	get(t, cs)

	session := func(mut func(*vault.ConnectSession)) vault.ConnectSession {
		x := newSession(t, app.ID, time.Minute)
		mut(&x)
		return x
	}
	done := base
	for _, tc := range []struct {
		name string
		cs   vault.ConnectSession
		err  error
	}{
		{"duplicate id", session(func(x *vault.ConnectSession) { x.ID = cs.ID }), vault.ErrConflict},
		{"duplicate state", session(func(x *vault.ConnectSession) { x.StateHash = cs.StateHash }), vault.ErrConflict},
		{"missing app", session(func(x *vault.ConnectSession) { x.AppID = newUUID(t) }), vault.ErrNotFound},
		{"non-uuid id", session(func(x *vault.ConnectSession) { x.ID = "s1" }), vault.ErrInvalid},
		{"short state hash", session(func(x *vault.ConnectSession) { x.StateHash = x.StateHash[:16] }), vault.ErrInvalid},
		{"no expiry", session(func(x *vault.ConnectSession) { x.ExpiresAt = time.Time{} }), vault.ErrInvalid},
		{"bad principal", session(func(x *vault.ConnectSession) { x.Principal = "root" }), vault.ErrInvalid},
		{"bad agent", session(func(x *vault.ConnectSession) { x.Agent = "Worker" }), vault.ErrInvalid},
		{"bad grant id", session(func(x *vault.ConnectSession) { x.GrantID = "g1" }), vault.ErrInvalid},
		{"bad provider", session(func(x *vault.ConnectSession) { x.ProviderID = "" }), vault.ErrInvalid},
		{"no redirect", session(func(x *vault.ConnectSession) { x.RedirectURI = "" }), vault.ErrInvalid},
		{"bad scope", session(func(x *vault.ConnectSession) { x.Scopes = []string{"a\nb"} }), vault.ErrInvalid},
		{"created complete", session(func(x *vault.ConnectSession) { x.Status = vault.SessionComplete }), vault.ErrInvalid},
		{"created finished", session(func(x *vault.ConnectSession) { x.CompletedAt = &done }), vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "CreateConnectSession", s.CreateConnectSession(c, tc.cs), tc.err)
		})
	}

	// Claim: pending → exchanging, once.
	claimed, err := s.ClaimConnectSession(c, cs.StateHash, base.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := cs
	want.Status = vault.SessionExchanging
	if d := cmp.Diff(want, claimed); d != "" {
		t.Fatalf("ClaimConnectSession (-want +got):\n%s", d)
	}
	get(t, want)
	_, err = s.ClaimConnectSession(c, cs.StateHash, base.Add(time.Minute))
	wantErr(t, "ClaimConnectSession again", err, vault.ErrNotFound)
	_, err = s.ClaimConnectSession(c, randomBytes(t, 32), base)
	wantErr(t, "ClaimConnectSession unknown state", err, vault.ErrNotFound)
	_, err = s.ClaimConnectSession(c, nil, base)
	wantErr(t, "ClaimConnectSession empty state", err, vault.ErrNotFound)

	// Finish: only an exchanging session, only with a valid outcome.
	pending := mkSession(t, s, app.ID, time.Hour)
	grantID := newUUID(t)
	finished := base.Add(2 * time.Minute)
	complete := want
	complete.Status, complete.GrantID, complete.CompletedAt = vault.SessionComplete, grantID, &finished
	for _, tc := range []struct {
		name string
		mut  func(*vault.ConnectSession)
		err  error
	}{
		{"still pending", func(x *vault.ConnectSession) { x.ID = pending.ID }, vault.ErrConflict},
		{"missing", func(x *vault.ConnectSession) { x.ID = newUUID(t) }, vault.ErrNotFound},
		{"status pending", func(x *vault.ConnectSession) { x.Status = vault.SessionPending }, vault.ErrInvalid},
		{"status exchanging", func(x *vault.ConnectSession) { x.Status = vault.SessionExchanging }, vault.ErrInvalid},
		{"complete without grant", func(x *vault.ConnectSession) { x.GrantID = "" }, vault.ErrInvalid},
		{"failed without code", func(x *vault.ConnectSession) { x.Status, x.ErrorCode = vault.SessionFailed, "" }, vault.ErrInvalid},
		{"code with newline", func(x *vault.ConnectSession) { x.Status, x.ErrorCode = vault.SessionFailed, "access\ndenied" }, vault.ErrInvalid},
		{"message not UTF-8", func(x *vault.ConnectSession) {
			x.Status, x.ErrorCode, x.ErrorMessage = vault.SessionFailed, "access_denied", "\xff"
		}, vault.ErrInvalid},
		{"message too long", func(x *vault.ConnectSession) {
			x.Status, x.ErrorCode, x.ErrorMessage = vault.SessionFailed, "access_denied", string(make([]byte, 5000))
		}, vault.ErrInvalid},
	} {
		t.Run("finish "+tc.name, func(t *testing.T) {
			x := complete
			tc.mut(&x)
			wantErr(t, "FinishConnectSession", s.FinishConnectSession(c, x), tc.err)
			get(t, want)
		})
	}
	wantErr(t, "FinishConnectSession", s.FinishConnectSession(c, complete), nil)
	get(t, complete)
	wantErr(t, "FinishConnectSession again", s.FinishConnectSession(c, complete), vault.ErrConflict)

	// A failed outcome keeps the provider's words; a zero CompletedAt is now.
	bad := mkSession(t, s, app.ID, time.Hour)
	if _, err := s.ClaimConnectSession(c, bad.StateHash, base); err != nil {
		t.Fatal(err)
	}
	failed := bad
	failed.Status, failed.ErrorCode, failed.ErrorMessage = vault.SessionFailed, "access denied", "The user denied the request — «non»"
	wantErr(t, "FinishConnectSession failed", s.FinishConnectSession(c, failed), nil)
	got, err := s.GetConnectSession(c, app.ID, bad.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.CompletedAt == nil {
		t.Fatal("finished session has no completion time")
	}
	failed.CompletedAt = got.CompletedAt
	if d := cmp.Diff(failed, got); d != "" {
		t.Fatalf("failed session (-want +got):\n%s", d)
	}
	_, err = s.GetConnectSession(c, app.ID, newUUID(t))
	wantErr(t, "GetConnectSession missing", err, vault.ErrNotFound)
}

func testConnectSessionExpiry(t *testing.T, s vault.Store) {
	c := ctx(t)
	app := mkApp(t, s)
	cs := mkSession(t, s, app.ID, 10*time.Minute)
	for _, at := range []time.Time{cs.ExpiresAt, cs.ExpiresAt.Add(time.Microsecond), cs.ExpiresAt.Add(time.Hour)} {
		_, err := s.ClaimConnectSession(c, cs.StateHash, at)
		wantErr(t, "ClaimConnectSession at "+at.Format(time.RFC3339Nano), err, vault.ErrNotFound)
	}
	got, err := s.GetConnectSession(c, app.ID, cs.ID)
	if err != nil || got.Status != vault.SessionPending {
		t.Fatalf("expired claims changed the session: %s, %v", got.Status, err)
	}
	if _, err := s.ClaimConnectSession(c, cs.StateHash, cs.ExpiresAt.Add(-time.Microsecond)); err != nil {
		t.Fatalf("claim a microsecond before expiry: %v", err)
	}

	// DeleteConnectSessions removes what expired before the cut-off, in
	// any status and app, and nothing else. Far-past expiries keep other
	// tests sharing the database out of the count.
	other := mkApp(t, s)
	old := time.Date(1999, 1, 2, 3, 4, 5, 0, time.UTC)
	var gone []vault.ConnectSession
	for i, appID := range []string{app.ID, other.ID, app.ID} {
		x := newSession(t, appID, 0)
		x.CreatedAt, x.ExpiresAt = old.Add(-time.Hour), old.Add(time.Duration(i)*time.Microsecond)
		wantErr(t, "CreateConnectSession", s.CreateConnectSession(c, x), nil)
		gone = append(gone, x)
	}
	keep := newSession(t, app.ID, 0)
	keep.CreatedAt, keep.ExpiresAt = old.Add(-time.Hour), old.Add(3*time.Microsecond)
	wantErr(t, "CreateConnectSession", s.CreateConnectSession(c, keep), nil)
	n, err := s.DeleteConnectSessions(c, keep.ExpiresAt)
	if err != nil || n != len(gone) {
		t.Fatalf("DeleteConnectSessions = %d, %v; want %d", n, err, len(gone))
	}
	for _, x := range gone {
		_, err := s.GetConnectSession(c, x.AppID, x.ID)
		wantErr(t, "GetConnectSession deleted", err, vault.ErrNotFound)
	}
	if _, err := s.GetConnectSession(c, app.ID, keep.ID); err != nil {
		t.Fatalf("session expiring at the cut-off was deleted: %v", err)
	}
	if _, err := s.GetConnectSession(c, app.ID, cs.ID); err != nil {
		t.Fatalf("current session was deleted: %v", err)
	}
}

// testConcurrentClaims races claims of one state: exactly one caller gets
// the session, every other ErrNotFound.
func testConcurrentClaims(t *testing.T, s vault.Store) {
	const racers = 16
	c := ctx(t)
	app := mkApp(t, s)
	cs := mkSession(t, s, app.ID, time.Hour)
	got := make([]vault.ConnectSession, racers)
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.ClaimConnectSession(c, cs.StateHash, base)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("claims %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, vault.ErrNotFound):
			t.Fatalf("claim %d: %v, want ErrNotFound", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no claim won")
	}
	if got[winner].ID != cs.ID || got[winner].Status != vault.SessionExchanging {
		t.Fatalf("winner got %s in status %s", got[winner].ID, got[winner].Status)
	}
}
