package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func testIdentityProviders(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	_, err := s.GetIdentityProvider(c, app.ID)
	wantErr(t, "GetIdentityProvider before put", err, vault.ErrNotFound)

	p := vault.IdentityProvider{
		AppID: app.ID, Issuer: "https://idp.example.com/", JWKSURL: "https://idp.example.com/jwks.json",
		Audience: "gatehouse", UserClaim: "email", GroupClaim: "groups", Algorithms: []string{"RS256", "ES256"},
		Leeway: 45 * time.Second, CreatedAt: base, UpdatedAt: base,
	}
	get := func(t *testing.T, appID string, want vault.IdentityProvider) {
		t.Helper()
		got, err := s.GetIdentityProvider(c, appID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("GetIdentityProvider (-want +got):\n%s", d)
		}
	}
	wantErr(t, "PutIdentityProvider", s.PutIdentityProvider(c, p), nil)
	get(t, app.ID, p)

	// Replacing keeps created_at; zero fields read back as zero.
	q := vault.IdentityProvider{AppID: app.ID, Issuer: "https://other.example.com", Audience: "aud2",
		CreatedAt: base.Add(time.Hour), UpdatedAt: base.Add(time.Hour)}
	wantErr(t, "PutIdentityProvider replace", s.PutIdentityProvider(c, q), nil)
	want := q
	want.CreatedAt = base
	get(t, app.ID, want)

	for _, tc := range []struct {
		name string
		mut  func(*vault.IdentityProvider)
		err  error
	}{
		{"missing app", func(x *vault.IdentityProvider) { x.AppID = newUUID(t) }, vault.ErrNotFound},
		{"no issuer", func(x *vault.IdentityProvider) { x.Issuer = "" }, vault.ErrInvalid},
		{"no audience", func(x *vault.IdentityProvider) { x.Audience = "" }, vault.ErrInvalid},
		{"control in issuer", func(x *vault.IdentityProvider) { x.Issuer = "https://a\n" }, vault.ErrInvalid},
		{"invalid utf-8 claim", func(x *vault.IdentityProvider) { x.UserClaim = "\xff" }, vault.ErrInvalid},
		{"long jwks url", func(x *vault.IdentityProvider) { x.JWKSURL = "https://" + strings.Repeat("a", 3000) }, vault.ErrInvalid},
		{"empty algorithm", func(x *vault.IdentityProvider) { x.Algorithms = []string{""} }, vault.ErrInvalid},
		{"negative leeway", func(x *vault.IdentityProvider) { x.Leeway = -time.Second }, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := p
			tc.mut(&x)
			wantErr(t, "PutIdentityProvider", s.PutIdentityProvider(c, x), tc.err)
		})
	}
	get(t, app.ID, want)

	// Another app sees none of it (invariant 8).
	_, err = s.GetIdentityProvider(c, other.ID)
	wantErr(t, "GetIdentityProvider other app", err, vault.ErrNotFound)
	wantErr(t, "DeleteIdentityProvider other app", s.DeleteIdentityProvider(c, other.ID), vault.ErrNotFound)
	get(t, app.ID, want)

	wantErr(t, "DeleteIdentityProvider", s.DeleteIdentityProvider(c, app.ID), nil)
	wantErr(t, "DeleteIdentityProvider again", s.DeleteIdentityProvider(c, app.ID), vault.ErrNotFound)
	_, err = s.GetIdentityProvider(c, app.ID)
	wantErr(t, "GetIdentityProvider after delete", err, vault.ErrNotFound)
}

func testAppPolicies(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	doc := "apiVersion: gatehouse/v1\nkind: Policy\nrules: []\n"

	put := func(t *testing.T, p vault.AppPolicy, want vault.AppPolicy) {
		t.Helper()
		got, err := s.PutAppPolicy(c, p)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("PutAppPolicy (-want +got):\n%s", d)
		}
		stored, err := s.GetAppPolicy(c, p.AppID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, stored); d != "" {
			t.Fatalf("GetAppPolicy after put (-want +got):\n%s", d)
		}
	}
	v1 := vault.AppPolicy{AppID: app.ID, Document: doc, Version: 1, UpdatedAt: base}
	put(t, vault.AppPolicy{AppID: app.ID, Document: doc, Version: 42, UpdatedAt: base}, v1)
	v2 := vault.AppPolicy{AppID: app.ID, Document: doc + "# two\n", Version: 2, UpdatedAt: base.Add(time.Minute)}
	put(t, vault.AppPolicy{AppID: app.ID, Document: v2.Document, UpdatedAt: v2.UpdatedAt}, v2)
	o1 := vault.AppPolicy{AppID: other.ID, Document: "# other\n" + doc, Version: 1, UpdatedAt: base}
	put(t, vault.AppPolicy{AppID: other.ID, Document: o1.Document, UpdatedAt: base}, o1)

	for _, tc := range []struct {
		name string
		p    vault.AppPolicy
		err  error
	}{
		{"missing app", vault.AppPolicy{AppID: newUUID(t), Document: doc}, vault.ErrNotFound},
		{"empty document", vault.AppPolicy{AppID: app.ID, Document: " \n"}, vault.ErrInvalid},
		{"nul byte", vault.AppPolicy{AppID: app.ID, Document: doc + "\x00"}, vault.ErrInvalid},
		{"invalid utf-8", vault.AppPolicy{AppID: app.ID, Document: doc + "\xff"}, vault.ErrInvalid},
		{"too long", vault.AppPolicy{AppID: app.ID, Document: strings.Repeat("#", 1<<20+1)}, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PutAppPolicy(c, tc.p)
			wantErr(t, "PutAppPolicy", err, tc.err)
		})
	}

	list, err := s.ListAppPolicies(c)
	if err != nil {
		t.Fatal(err)
	}
	// The database may be shared with other tests: look at our two apps only.
	mine := map[string]vault.AppPolicy{}
	for _, p := range list {
		if p.AppID == app.ID || p.AppID == other.ID {
			mine[p.AppID] = p
		}
	}
	if d := cmp.Diff(map[string]vault.AppPolicy{app.ID: v2, other.ID: o1}, mine); d != "" {
		t.Fatalf("ListAppPolicies (-want +got):\n%s", d)
	}

	wantErr(t, "DeleteAppPolicy", s.DeleteAppPolicy(c, app.ID), nil)
	wantErr(t, "DeleteAppPolicy again", s.DeleteAppPolicy(c, app.ID), vault.ErrNotFound)
	wantErr(t, "DeleteAppPolicy missing app", s.DeleteAppPolicy(c, newUUID(t)), vault.ErrNotFound)
	_, err = s.GetAppPolicy(c, app.ID)
	wantErr(t, "GetAppPolicy after delete", err, vault.ErrNotFound)
	if got, err := s.GetAppPolicy(c, other.ID); err != nil || got != o1 {
		t.Fatalf("deleting one app's policy touched another's: %+v, %v", got, err)
	}
	// A policy written after a delete starts again at version 1.
	put(t, vault.AppPolicy{AppID: app.ID, Document: doc, UpdatedAt: base}, v1)
}

func testUsers(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	list := func(t *testing.T, appID string, want []vault.User) {
		t.Helper()
		got, err := s.ListUsers(c, appID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("ListUsers (-want +got):\n%s", d)
		}
	}
	list(t, app.ID, []vault.User{})

	bob := vault.User{AppID: app.ID, ID: "bob@example.com", FirstSeen: base, LastSeen: base}
	alice := vault.User{AppID: app.ID, ID: "auth0|alice", Groups: []string{"eng", "Domain Users"}, FirstSeen: base, LastSeen: base}
	for _, u := range []vault.User{bob, alice} {
		wantErr(t, "TouchUser", s.TouchUser(c, u), nil)
	}
	list(t, app.ID, []vault.User{alice, bob})

	// Later sights replace groups and move last_seen forward, never back,
	// and keep first_seen.
	later := base.Add(time.Hour)
	wantErr(t, "TouchUser later", s.TouchUser(c, vault.User{AppID: app.ID, ID: alice.ID, Groups: []string{"ops"}, FirstSeen: later, LastSeen: later}), nil)
	wantErr(t, "TouchUser out of order", s.TouchUser(c, vault.User{AppID: app.ID, ID: bob.ID, Groups: []string{"x"}, FirstSeen: base.Add(-time.Hour), LastSeen: base.Add(-time.Hour)}), nil)
	alice2 := vault.User{AppID: app.ID, ID: alice.ID, Groups: []string{"ops"}, FirstSeen: base, LastSeen: later}
	bob2 := vault.User{AppID: app.ID, ID: bob.ID, Groups: []string{"x"}, FirstSeen: base, LastSeen: base}
	list(t, app.ID, []vault.User{alice2, bob2})
	list(t, other.ID, []vault.User{})

	for _, tc := range []struct {
		name string
		u    vault.User
		err  error
	}{
		{"missing app", vault.User{AppID: newUUID(t), ID: "carol"}, vault.ErrNotFound},
		{"empty id", vault.User{AppID: app.ID}, vault.ErrInvalid},
		{"space in id", vault.User{AppID: app.ID, ID: "carol smith"}, vault.ErrInvalid},
		{"long id", vault.User{AppID: app.ID, ID: strings.Repeat("c", 256)}, vault.ErrInvalid},
		{"empty group", vault.User{AppID: app.ID, ID: "carol", Groups: []string{""}}, vault.ErrInvalid},
		{"control in group", vault.User{AppID: app.ID, ID: "carol", Groups: []string{"a\tb"}}, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "TouchUser", s.TouchUser(c, tc.u), tc.err)
		})
	}
	list(t, app.ID, []vault.User{alice2, bob2})
}
