package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

// The OAuth columns on existing rows (credential expiry, grant account),
// UpdateGrant and provider settings.

func testCredentialExpiry(t *testing.T, s vault.Store) {
	c := ctx(t)
	app := mkApp(t, s)
	cred := newCred(t, app.ID, "slack")
	cred.Kind, cred.ExpiresAt = vault.KindOAuth2, base.Add(time.Hour)
	wantErr(t, "CreateCredential", s.CreateCredential(c, cred), nil)
	get := func(t *testing.T, want vault.Credential) {
		t.Helper()
		got, err := s.GetCredential(c, app.ID, cred.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("GetCredential (-want +got):\n%s", d)
		}
	}
	get(t, cred)

	// Sub-microsecond and non-UTC expiries are stored like every timestamp.
	next := cred
	next.Version, next.Ciphertext, next.UpdatedAt = 2, randomBytes(t, 80), base.Add(time.Minute)
	next.ExpiresAt = base.Add(2*time.Hour + 999).In(time.FixedZone("CET", 3600))
	wantErr(t, "UpdateCredential v2", s.UpdateCredential(c, next), nil)
	want := next
	want.ExpiresAt = base.Add(2 * time.Hour)
	get(t, want)

	// A rewrap leaves the expiry alone.
	rewrap := want
	rewrap.KEKID, rewrap.WrappedKey, rewrap.UpdatedAt = "kek-2", randomBytes(t, 61), base.Add(2*time.Minute)
	wantErr(t, "RewrapCredential", s.RewrapCredential(c, rewrap, want.KEKID), nil)
	get(t, rewrap)

	// Zero clears it (a token without expires_in).
	cleared := rewrap
	cleared.Version, cleared.ExpiresAt, cleared.UpdatedAt = 3, time.Time{}, base.Add(3*time.Minute)
	wantErr(t, "UpdateCredential v3", s.UpdateCredential(c, cleared), nil)
	get(t, cleared)
}

func testGrantAccount(t *testing.T, s vault.Store) {
	c := ctx(t)
	app := mkApp(t, s)
	cred := mkCred(t, s, app.ID, "slack")
	g := vault.Grant{
		ID: newUUID(t), AppID: app.ID, CredentialID: cred.ID, ProviderID: "slack", Principal: "user:alice",
		Account: "U024BE7LH — Ålice", Status: vault.StatusActive, CreatedAt: base, UpdatedAt: base,
	}
	wantErr(t, "CreateGrant", s.CreateGrant(c, g), nil)
	got, err := s.GetGrant(c, app.ID, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(g, got); d != "" {
		t.Fatalf("GetGrant (-want +got):\n%s", d)
	}
	list, err := s.ListGrants(c, app.ID, vault.GrantFilter{Principal: "user:alice"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]vault.Grant{g}, list); d != "" {
		t.Fatalf("ListGrants (-want +got):\n%s", d)
	}
	for _, account := range []string{"bad\nline", "nul\x00", "\xff\xfe", string(make([]byte, 513))} {
		bad := g
		bad.ID, bad.Account = newUUID(t), account
		wantErr(t, "CreateGrant with a bad account", s.CreateGrant(c, bad), vault.ErrInvalid)
	}
}

func testUpdateGrant(t *testing.T, s vault.Store) {
	c := ctx(t)
	app := mkApp(t, s)
	g := mkGrant(t, s, mkCred(t, s, app.ID, "slack"), "user:alice")
	wantErr(t, "SetGrantStatus", s.SetGrantStatus(c, app.ID, g.ID, vault.StatusNeedsReauth), nil)
	check := func(t *testing.T, want vault.Grant) {
		t.Helper()
		got, err := s.GetGrant(c, app.ID, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("GetGrant (-want +got):\n%s", d)
		}
	}
	upd := g
	upd.Account, upd.Status, upd.UpdatedAt = "U42", vault.StatusActive, base.Add(time.Hour)
	upd.Principal, upd.ProviderID, upd.CredentialID = "user:mallory", "github", newUUID(t) // not updatable
	wantErr(t, "UpdateGrant", s.UpdateGrant(c, upd), nil)
	want := g
	want.Account, want.Status, want.UpdatedAt = "U42", vault.StatusActive, base.Add(time.Hour)
	check(t, want)

	for _, tc := range []struct {
		name string
		mut  func(*vault.Grant)
		err  error
	}{
		{"bad status", func(x *vault.Grant) { x.Status = "paused" }, vault.ErrInvalid},
		{"empty status", func(x *vault.Grant) { x.Status = "" }, vault.ErrInvalid},
		{"bad account", func(x *vault.Grant) { x.Account = "a\rb" }, vault.ErrInvalid},
		{"missing grant", func(x *vault.Grant) { x.ID = newUUID(t) }, vault.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := want
			x.Account = "changed"
			tc.mut(&x)
			wantErr(t, "UpdateGrant", s.UpdateGrant(c, x), tc.err)
			check(t, want)
		})
	}

	wantErr(t, "revoke", s.SetGrantStatus(c, app.ID, g.ID, vault.StatusRevoked), nil)
	revoked, err := s.GetGrant(c, app.ID, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	back := revoked
	back.Status, back.Account = vault.StatusActive, "U43"
	wantErr(t, "UpdateGrant revoked → active", s.UpdateGrant(c, back), vault.ErrConflict)
	check(t, revoked)
	again := revoked
	again.Account = "U44"
	wantErr(t, "UpdateGrant revoked → revoked", s.UpdateGrant(c, again), nil)
	check(t, revoked) // revoked is final: nothing changes
}

// mkClientCred stores an oauth_client credential for provider.
func mkClientCred(t *testing.T, s vault.Store, appID, provider string) vault.Credential {
	t.Helper()
	cr := newCred(t, appID, provider)
	cr.Kind = vault.KindOAuthClient
	if err := s.CreateCredential(ctx(t), cr); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	return cr
}

func testProviderSettings(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	cred := mkClientCred(t, s, app.ID, "slack")
	foreign := mkClientCred(t, s, other.ID, "slack")
	slack := vault.ProviderSettings{
		AppID: app.ID, ProviderID: "slack", ClientID: "1234.5678", Scopes: []string{"chat:write", "users:read"},
		CredentialID: cred.ID, CreatedAt: base, UpdatedAt: base,
	}
	wantErr(t, "PutProviderSettings", s.PutProviderSettings(c, slack), nil)
	get := func(t *testing.T, provider string, want vault.ProviderSettings) {
		t.Helper()
		got, err := s.GetProviderSettings(c, app.ID, provider)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("GetProviderSettings (-want +got):\n%s", d)
		}
	}
	get(t, "slack", slack)

	// Replacing keeps created_at; nil scopes read back as nil.
	replaced := slack
	replaced.ClientID, replaced.Scopes, replaced.CreatedAt, replaced.UpdatedAt = "9999.0000", nil, base.Add(time.Hour), base.Add(time.Hour)
	wantErr(t, "PutProviderSettings again", s.PutProviderSettings(c, replaced), nil)
	want := replaced
	want.CreatedAt = base
	get(t, "slack", want)

	// A public client has no credential; zero times default to now.
	github := vault.ProviderSettings{AppID: app.ID, ProviderID: "github", ClientID: "Iv1.abc"}
	wantErr(t, "PutProviderSettings public", s.PutProviderSettings(c, github), nil)
	gotGH, err := s.GetProviderSettings(c, app.ID, "github")
	if err != nil {
		t.Fatal(err)
	}
	if gotGH.CredentialID != "" || gotGH.CreatedAt.IsZero() || !gotGH.UpdatedAt.Equal(gotGH.CreatedAt) {
		t.Fatalf("public client settings: %+v", gotGH)
	}
	list, err := s.ListProviderSettings(c, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]vault.ProviderSettings{gotGH, want}, list); d != "" {
		t.Fatalf("ListProviderSettings (-want +got):\n%s", d)
	}

	ps := func(mut func(*vault.ProviderSettings)) vault.ProviderSettings {
		x := vault.ProviderSettings{AppID: app.ID, ProviderID: "zoom", ClientID: "zoom-client", CredentialID: cred.ID}
		mut(&x)
		return x
	}
	for _, tc := range []struct {
		name string
		ps   vault.ProviderSettings
		err  error
	}{
		{"missing app", ps(func(x *vault.ProviderSettings) { x.AppID, x.CredentialID = newUUID(t), "" }), vault.ErrNotFound},
		{"credential of another app", ps(func(x *vault.ProviderSettings) { x.CredentialID = foreign.ID }), vault.ErrNotFound},
		{"missing credential", ps(func(x *vault.ProviderSettings) { x.CredentialID = newUUID(t) }), vault.ErrNotFound},
		{"non-uuid credential", ps(func(x *vault.ProviderSettings) { x.CredentialID = "cred-1" }), vault.ErrInvalid},
		{"bad provider", ps(func(x *vault.ProviderSettings) { x.ProviderID = "Zoom" }), vault.ErrInvalid},
		{"empty client id", ps(func(x *vault.ProviderSettings) { x.ClientID = "" }), vault.ErrInvalid},
		{"client id with space", ps(func(x *vault.ProviderSettings) { x.ClientID = "a b" }), vault.ErrInvalid},
		{"empty scope", ps(func(x *vault.ProviderSettings) { x.Scopes = []string{""} }), vault.ErrInvalid},
		{"scope with space", ps(func(x *vault.ProviderSettings) { x.Scopes = []string{"a b"} }), vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "PutProviderSettings", s.PutProviderSettings(c, tc.ps), tc.err)
			_, err := s.GetProviderSettings(c, tc.ps.AppID, tc.ps.ProviderID)
			wantErr(t, "GetProviderSettings after a refused put", err, vault.ErrNotFound)
		})
	}

	wantErr(t, "DeleteProviderSettings", s.DeleteProviderSettings(c, app.ID, "slack"), nil)
	_, err = s.GetProviderSettings(c, app.ID, "slack")
	wantErr(t, "GetProviderSettings deleted", err, vault.ErrNotFound)
	wantErr(t, "DeleteProviderSettings again", s.DeleteProviderSettings(c, app.ID, "slack"), vault.ErrNotFound)
	if _, err := s.GetCredential(c, app.ID, cred.ID); err != nil {
		t.Fatalf("deleting settings deleted their credential: %v", err)
	}
	list, err = s.ListProviderSettings(c, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]vault.ProviderSettings{gotGH}, list); d != "" {
		t.Fatalf("ListProviderSettings after delete (-want +got):\n%s", d)
	}
}
