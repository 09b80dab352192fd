package storetest

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func testApps(t *testing.T, s vault.Store) {
	c := ctx(t)
	a, err := s.CreateApp(c, vault.App{Name: unique(t, "app")})
	if err != nil {
		t.Fatal(err)
	}
	if !vault.IsCanonicalUUID(a.ID) || a.CreatedAt.IsZero() {
		t.Fatalf("CreateApp did not fill id and time: %+v", a)
	}
	if a.EgressAllow == nil {
		t.Fatal("CreateApp returned nil EgressAllow, want empty")
	}
	got, err := s.GetApp(c, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, got); d != "" {
		t.Fatalf("GetApp (-created +got):\n%s", d)
	}
	got, err = s.GetAppByName(c, a.Name)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, got); d != "" {
		t.Fatalf("GetAppByName (-created +got):\n%s", d)
	}

	// A caller-chosen id and time are kept.
	want := vault.App{ID: newUUID(t), Name: unique(t, "app"), EgressAllow: []string{"example.com"}, CreatedAt: base}
	b, err := s.CreateApp(c, want)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, b); d != "" {
		t.Fatalf("CreateApp with id (-want +got):\n%s", d)
	}

	// ListApps is ordered by name; the store may hold other apps.
	list, err := s.ListApps(c)
	if err != nil {
		t.Fatal(err)
	}
	var mine []vault.App
	for _, x := range list {
		if x.ID == a.ID || x.ID == b.ID {
			mine = append(mine, x)
		}
	}
	wantList := []vault.App{a, b}
	if b.Name < a.Name {
		wantList = []vault.App{b, a}
	}
	if d := cmp.Diff(wantList, mine); d != "" {
		t.Fatalf("ListApps (-want +got):\n%s", d)
	}

	for _, tc := range []struct{ name, id string }{
		{"missing", newUUID(t)},
		{"malformed", "not-a-uuid"},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.GetApp(c, tc.id)
			wantErr(t, "GetApp", err, vault.ErrNotFound)
		})
	}
	_, err = s.GetAppByName(c, unique(t, "nobody"))
	wantErr(t, "GetAppByName missing", err, vault.ErrNotFound)
	_, err = s.CreateApp(c, vault.App{Name: a.Name})
	wantErr(t, "CreateApp duplicate name", err, vault.ErrConflict)
	_, err = s.CreateApp(c, vault.App{ID: a.ID, Name: unique(t, "app")})
	wantErr(t, "CreateApp duplicate id", err, vault.ErrConflict)
}

func testAppNames(t *testing.T, s vault.Store) {
	for _, tc := range []struct {
		name string
		want error
	}{
		{"", vault.ErrInvalid},
		{"Upper", vault.ErrInvalid},
		{"-lead", vault.ErrInvalid},
		{".lead", vault.ErrInvalid},
		{"with space", vault.ErrInvalid},
		{"uni\u00e7ode", vault.ErrInvalid},
		{strings.Repeat("a", 64), vault.ErrInvalid},
		{"0", nil},
		{"a.b_c-d", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.name
			if tc.want == nil { // keep valid names unique across runs
				name = unique(t, tc.name)
			}
			_, err := s.CreateApp(ctx(t), vault.App{Name: name})
			wantErr(t, "CreateApp", err, tc.want)
		})
	}
	t.Run("max length", func(t *testing.T) {
		name := unique(t, "a")
		name += strings.Repeat("x", 63-len(name))
		_, err := s.CreateApp(ctx(t), vault.App{Name: name})
		wantErr(t, "CreateApp", err, nil)
	})
}

func testAppEgress(t *testing.T, s vault.Store) {
	c := ctx(t)
	a := mkApp(t, s)
	for _, tc := range []struct {
		name string
		in   []string
		want []string
		err  error
	}{
		{"normalised", []string{"API.Example.com.", "*.svc.example.com:8443", "api.example.com"},
			[]string{"api.example.com", "*.svc.example.com:8443"}, nil},
		{"empty", nil, []string{}, nil},
		{"bad port", []string{"example.com:0"}, nil, vault.ErrInvalid},
		{"bad host", []string{"exa mple.com"}, nil, vault.ErrInvalid},
		{"bare wildcard", []string{"*."}, nil, vault.ErrInvalid},
		{"url", []string{"https://example.com"}, nil, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := s.GetApp(c, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			err = s.SetAppEgress(c, a.ID, tc.in)
			wantErr(t, "SetAppEgress", err, tc.err)
			got, err := s.GetApp(c, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			if tc.err != nil {
				want = before.EgressAllow
			}
			if d := cmp.Diff(want, got.EgressAllow); d != "" {
				t.Fatalf("egress (-want +got):\n%s", d)
			}
		})
	}
	wantErr(t, "SetAppEgress missing app", s.SetAppEgress(c, newUUID(t), []string{"example.com"}), vault.ErrNotFound)
}

func testAgents(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	b, err := s.CreateAgent(c, vault.Agent{AppID: app.ID, Name: "b-" + unique(t, "agent")})
	if err != nil {
		t.Fatal(err)
	}
	if !vault.IsCanonicalUUID(b.ID) || b.CreatedAt.IsZero() || b.AppID != app.ID {
		t.Fatalf("CreateAgent did not fill fields: %+v", b)
	}
	a, err := s.CreateAgent(c, vault.Agent{AppID: app.ID, Name: "a-" + unique(t, "agent"), CreatedAt: base})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAgent(c, app.ID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(a, got); d != "" {
		t.Fatalf("GetAgent (-want +got):\n%s", d)
	}
	got, err = s.GetAgentByName(c, app.ID, b.Name)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(b, got); d != "" {
		t.Fatalf("GetAgentByName (-want +got):\n%s", d)
	}
	list, err := s.ListAgents(c, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]vault.Agent{a, b}, list); d != "" {
		t.Fatalf("ListAgents (-want +got):\n%s", d)
	}
	empty, err := s.ListAgents(c, other.ID)
	if err != nil || len(empty) != 0 {
		t.Fatalf("ListAgents(other app) = %v, %v; want empty", empty, err)
	}

	_, err = s.CreateAgent(c, vault.Agent{AppID: app.ID, Name: a.Name})
	wantErr(t, "CreateAgent duplicate name", err, vault.ErrConflict)
	_, err = s.CreateAgent(c, vault.Agent{AppID: other.ID, Name: a.Name})
	wantErr(t, "CreateAgent same name in another app", err, nil)
	_, err = s.CreateAgent(c, vault.Agent{AppID: newUUID(t), Name: unique(t, "agent")})
	wantErr(t, "CreateAgent missing app", err, vault.ErrNotFound)
	_, err = s.CreateAgent(c, vault.Agent{AppID: app.ID, Name: "Bad Name"})
	wantErr(t, "CreateAgent bad name", err, vault.ErrInvalid)
	_, err = s.GetAgent(c, app.ID, newUUID(t))
	wantErr(t, "GetAgent missing", err, vault.ErrNotFound)
	_, err = s.GetAgentByName(c, app.ID, "nobody")
	wantErr(t, "GetAgentByName missing", err, vault.ErrNotFound)
}

func testDeleteAgent(t *testing.T, s vault.Store) {
	c := ctx(t)
	app := mkApp(t, s)
	doomed, keep := mkAgent(t, s, app.ID), mkAgent(t, s, app.ID)
	doomedKey, keepKey, appKey := mkKey(t, s, app.ID, doomed.ID), mkKey(t, s, app.ID, keep.ID), mkKey(t, s, app.ID, "")
	cred := mkCred(t, s, app.ID, "openai")
	doomedGrant := mkGrant(t, s, cred, "agent:"+doomed.Name)
	keepGrant := mkGrant(t, s, cred, "agent:"+keep.Name)
	sysGrant := mkGrant(t, s, cred, vault.PrincipalSystem)

	wantErr(t, "DeleteAgent", s.DeleteAgent(c, app.ID, doomed.ID), nil)
	_, err := s.GetAgent(c, app.ID, doomed.ID)
	wantErr(t, "GetAgent deleted", err, vault.ErrNotFound)
	wantErr(t, "DeleteAgent again", s.DeleteAgent(c, app.ID, doomed.ID), vault.ErrNotFound)

	for _, tc := range []struct {
		id, want string
	}{{doomedKey.ID, vault.KeyRevoked}, {keepKey.ID, vault.KeyActive}, {appKey.ID, vault.KeyActive}} {
		k, err := s.GetKey(c, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if k.Status != tc.want {
			t.Errorf("key %s status %s, want %s", tc.id, k.Status, tc.want)
		}
	}
	k, err := s.GetKey(c, doomedKey.ID)
	if err != nil {
		t.Fatal(err)
	}
	if k.AgentID != doomed.ID || k.RevokedAt == nil {
		t.Errorf("revoked agent key lost its agent or revocation time: %+v", k)
	}
	for _, tc := range []struct {
		id, want string
	}{{doomedGrant.ID, vault.StatusRevoked}, {keepGrant.ID, vault.StatusActive}, {sysGrant.ID, vault.StatusActive}} {
		g, err := s.GetGrant(c, app.ID, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if g.Status != tc.want {
			t.Errorf("grant %s (%s) status %s, want %s", tc.id, g.Principal, g.Status, tc.want)
		}
	}
	// The name is free again; the new agent does not inherit the old grants.
	again, err := s.CreateAgent(c, vault.Agent{AppID: app.ID, Name: doomed.Name})
	if err != nil {
		t.Fatal(err)
	}
	active, err := s.ListGrants(c, app.ID, vault.GrantFilter{Principal: "agent:" + again.Name, Status: vault.StatusActive})
	if err != nil || len(active) != 0 {
		t.Fatalf("re-created agent has active grants %v, %v", active, err)
	}
}
