package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func testCredentials(t *testing.T, s vault.Store) {
	c := ctx(t)
	app := mkApp(t, s)
	cred := mkCred(t, s, app.ID, "openai")
	got, err := s.GetCredential(c, app.ID, cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(cred, got); d != "" {
		t.Fatalf("GetCredential (-want +got):\n%s", d)
	}
	missingApp := newCred(t, newUUID(t), "openai")
	noSeal := newCred(t, app.ID, "openai")
	noSeal.Ciphertext = nil
	badID := newCred(t, app.ID, "openai")
	badID.ID = "cred-1"
	zeroVersion := newCred(t, app.ID, "openai")
	zeroVersion.Version = 0
	for _, tc := range []struct {
		name string
		c    vault.Credential
		want error
	}{
		{"duplicate", cred, vault.ErrConflict},
		{"missing app", missingApp, vault.ErrNotFound},
		{"no ciphertext", noSeal, vault.ErrInvalid},
		{"non-uuid id", badID, vault.ErrInvalid},
		{"version 0", zeroVersion, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "CreateCredential", s.CreateCredential(c, tc.c), tc.want)
		})
	}
	_, err = s.GetCredential(c, app.ID, newUUID(t))
	wantErr(t, "GetCredential missing", err, vault.ErrNotFound)
}

func testUpdateCredentialFence(t *testing.T, s vault.Store) {
	c := ctx(t)
	app := mkApp(t, s)
	cred := mkCred(t, s, app.ID, "openai")
	next := func(from vault.Credential, version int64) vault.Credential {
		n := from
		n.Version = version
		n.KEKID = "kek-2"
		n.WrappedKey = randomBytes(t, 61)
		n.Ciphertext = randomBytes(t, 90)
		n.UpdatedAt = base.Add(time.Duration(version) * time.Hour)
		n.Kind, n.ProviderID = "basic", "other" // must not be changed by an update
		return n
	}
	v2 := next(cred, 2)
	wantErr(t, "UpdateCredential v2", s.UpdateCredential(c, v2), nil)
	got, err := s.GetCredential(c, app.ID, cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := v2
	want.Kind, want.ProviderID, want.CreatedAt = cred.Kind, cred.ProviderID, cred.CreatedAt
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("after update (-want +got):\n%s", d)
	}

	missing := next(newCred(t, app.ID, "openai"), 2)
	for _, tc := range []struct {
		name string
		c    vault.Credential
		want error
	}{
		{"stale v2 again", next(cred, 2), vault.ErrConflict},
		{"skipping to v4", next(cred, 4), vault.ErrConflict},
		{"missing", missing, vault.ErrNotFound},
		{"version 1", next(cred, 1), vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "UpdateCredential", s.UpdateCredential(c, tc.c), tc.want)
			after, err := s.GetCredential(c, app.ID, cred.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, after); d != "" {
				t.Fatalf("failed update changed the row (-want +got):\n%s", d)
			}
		})
	}
	wantErr(t, "UpdateCredential v3", s.UpdateCredential(c, next(cred, 3)), nil)
}

func testDeleteCredential(t *testing.T, s vault.Store) {
	c := ctx(t)
	app := mkApp(t, s)
	cred, keep := mkCred(t, s, app.ID, "openai"), mkCred(t, s, app.ID, "openai")
	g1, g2 := mkGrant(t, s, cred, vault.PrincipalSystem), mkGrant(t, s, cred, "user:alice@example.com")
	g3 := mkGrant(t, s, keep, vault.PrincipalSystem)

	wantErr(t, "DeleteCredential", s.DeleteCredential(c, app.ID, cred.ID), nil)
	_, err := s.GetCredential(c, app.ID, cred.ID)
	wantErr(t, "GetCredential deleted", err, vault.ErrNotFound)
	wantErr(t, "DeleteCredential again", s.DeleteCredential(c, app.ID, cred.ID), vault.ErrNotFound)
	for _, tc := range []struct {
		id, want string
	}{{g1.ID, vault.StatusRevoked}, {g2.ID, vault.StatusRevoked}, {g3.ID, vault.StatusActive}} {
		g, err := s.GetGrant(c, app.ID, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if g.Status != tc.want {
			t.Errorf("grant %s status %s, want %s", tc.id, g.Status, tc.want)
		}
	}
	g := vault.Grant{ID: newUUID(t), AppID: app.ID, CredentialID: cred.ID, ProviderID: "openai", Principal: vault.PrincipalSystem}
	wantErr(t, "CreateGrant on deleted credential", s.CreateGrant(c, g), vault.ErrNotFound)
}

func testGrants(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	cred := mkCred(t, s, app.ID, "openai")
	foreign := mkCred(t, s, other.ID, "openai")
	g := mkGrant(t, s, cred, "user:auth0|5f7c8ec7c33c6c004bbafe82")
	got, err := s.GetGrant(c, app.ID, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(g, got); d != "" {
		t.Fatalf("GetGrant (-want +got):\n%s", d)
	}
	grant := func(mut func(*vault.Grant)) vault.Grant {
		x := vault.Grant{ID: newUUID(t), AppID: app.ID, CredentialID: cred.ID, ProviderID: "openai", Principal: vault.PrincipalSystem}
		mut(&x)
		return x
	}
	for _, tc := range []struct {
		name string
		g    vault.Grant
		want error
	}{
		{"duplicate", g, vault.ErrConflict},
		{"credential of another app", grant(func(x *vault.Grant) { x.CredentialID = foreign.ID }), vault.ErrNotFound},
		{"missing credential", grant(func(x *vault.Grant) { x.CredentialID = newUUID(t) }), vault.ErrNotFound},
		{"provider mismatch", grant(func(x *vault.Grant) { x.ProviderID = "github" }), vault.ErrInvalid},
		{"bad principal", grant(func(x *vault.Grant) { x.Principal = "root" }), vault.ErrInvalid},
		{"bad agent principal", grant(func(x *vault.Grant) { x.Principal = "agent:Bad" }), vault.ErrInvalid},
		{"empty user principal", grant(func(x *vault.Grant) { x.Principal = "user:" }), vault.ErrInvalid},
		{"bad status", grant(func(x *vault.Grant) { x.Status = "paused" }), vault.ErrInvalid},
		{"non-uuid id", grant(func(x *vault.Grant) { x.ID = "g1" }), vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "CreateGrant", s.CreateGrant(c, tc.g), tc.want)
		})
	}
	t.Run("default status active", func(t *testing.T) {
		x := grant(func(*vault.Grant) {})
		wantErr(t, "CreateGrant", s.CreateGrant(c, x), nil)
		got, err := s.GetGrant(c, app.ID, x.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != vault.StatusActive || got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
			t.Fatalf("defaults not applied: %+v", got)
		}
	})
	_, err = s.GetGrant(c, app.ID, newUUID(t))
	wantErr(t, "GetGrant missing", err, vault.ErrNotFound)
	_, err = s.GetGrant(c, app.ID, "not-a-uuid")
	wantErr(t, "GetGrant malformed", err, vault.ErrNotFound)
}

func testListGrantsFilter(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	openai, github := mkCred(t, s, app.ID, "openai"), mkCred(t, s, app.ID, "github")
	sys := mkGrant(t, s, openai, vault.PrincipalSystem)
	alice := mkGrant(t, s, openai, "user:alice")
	gh := mkGrant(t, s, github, vault.PrincipalSystem)
	old := mkGrant(t, s, openai, vault.PrincipalSystem)
	mkGrant(t, s, mkCred(t, s, other.ID, "openai"), vault.PrincipalSystem)
	if err := s.SetGrantStatus(c, app.ID, old.ID, vault.StatusRevoked); err != nil {
		t.Fatal(err)
	}
	old, err := s.GetGrant(c, app.ID, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    vault.GrantFilter
		want []vault.Grant
	}{
		{"all", vault.GrantFilter{}, []vault.Grant{sys, alice, gh, old}},
		{"provider", vault.GrantFilter{ProviderID: "openai"}, []vault.Grant{sys, alice, old}},
		{"principal", vault.GrantFilter{Principal: vault.PrincipalSystem}, []vault.Grant{sys, gh, old}},
		{"status", vault.GrantFilter{Status: vault.StatusRevoked}, []vault.Grant{old}},
		{"all three", vault.GrantFilter{ProviderID: "openai", Principal: vault.PrincipalSystem, Status: vault.StatusActive}, []vault.Grant{sys}},
		{"none", vault.GrantFilter{ProviderID: "slack"}, []vault.Grant{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListGrants(c, app.ID, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			// Same created_at everywhere: order by id (UUIDv7, creation order).
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("ListGrants (-want +got):\n%s", d)
			}
		})
	}
}

func testGrantStatusTransitions(t *testing.T, s vault.Store) {
	c := ctx(t)
	app := mkApp(t, s)
	cred := mkCred(t, s, app.ID, "openai")
	g := mkGrant(t, s, cred, vault.PrincipalSystem)
	for _, step := range []struct {
		to, want string
		err      error
	}{
		{vault.StatusNeedsReauth, vault.StatusNeedsReauth, nil},
		{vault.StatusActive, vault.StatusActive, nil},
		{vault.StatusExpired, vault.StatusExpired, nil},
		{vault.StatusActive, vault.StatusActive, nil},
		{vault.StatusActive, vault.StatusActive, nil},
		{"paused", vault.StatusActive, vault.ErrInvalid},
		{"", vault.StatusActive, vault.ErrInvalid},
		{vault.StatusRevoked, vault.StatusRevoked, nil},
		{vault.StatusRevoked, vault.StatusRevoked, nil},
		{vault.StatusActive, vault.StatusRevoked, vault.ErrConflict},
		{vault.StatusNeedsReauth, vault.StatusRevoked, vault.ErrConflict},
	} {
		wantErr(t, "SetGrantStatus "+step.to, s.SetGrantStatus(c, app.ID, g.ID, step.to), step.err)
		got, err := s.GetGrant(c, app.ID, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != step.want {
			t.Fatalf("after SetGrantStatus(%q): status %s, want %s", step.to, got.Status, step.want)
		}
	}
	wantErr(t, "SetGrantStatus missing", s.SetGrantStatus(c, app.ID, newUUID(t), vault.StatusRevoked), vault.ErrNotFound)
}
