package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func testKeys(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	agent := mkAgent(t, s, app.ID)
	foreignAgent := mkAgent(t, s, other.ID)

	appKey := mkKey(t, s, app.ID, "")
	agentKey := mkKey(t, s, app.ID, agent.ID)
	for _, want := range []vault.Key{appKey, agentKey} {
		got, err := s.GetKey(c, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("GetKey (-want +got):\n%s", d)
		}
	}
	list, err := s.ListKeys(c, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("ListKeys returned %d keys, want 2", len(list))
	}
	otherList, err := s.ListKeys(c, other.ID)
	if err != nil || len(otherList) != 0 {
		t.Fatalf("ListKeys(other app) = %v, %v; want empty", otherList, err)
	}

	for _, tc := range []struct {
		name string
		k    vault.Key
		want error
	}{
		{"duplicate id", vault.Key{ID: appKey.ID, AppID: app.ID, Hash: []byte("h")}, vault.ErrConflict},
		{"agent of another app", vault.Key{ID: unique(t, "k"), AppID: app.ID, AgentID: foreignAgent.ID, Hash: []byte("h")}, vault.ErrNotFound},
		{"missing agent", vault.Key{ID: unique(t, "k"), AppID: app.ID, AgentID: newUUID(t), Hash: []byte("h")}, vault.ErrNotFound},
		{"missing app", vault.Key{ID: unique(t, "k"), AppID: newUUID(t), Hash: []byte("h")}, vault.ErrNotFound},
		{"empty hash", vault.Key{ID: unique(t, "k"), AppID: app.ID}, vault.ErrInvalid},
		{"empty id", vault.Key{AppID: app.ID, Hash: []byte("h")}, vault.ErrInvalid},
		{"bad status", vault.Key{ID: unique(t, "k"), AppID: app.ID, Hash: []byte("h"), Status: "paused"}, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, "CreateKey", s.CreateKey(c, tc.k), tc.want)
		})
	}
	t.Run("default status active", func(t *testing.T) {
		k := vault.Key{ID: unique(t, "k"), AppID: app.ID, Hash: []byte("h")}
		wantErr(t, "CreateKey", s.CreateKey(c, k), nil)
		got, err := s.GetKey(c, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != vault.KeyActive || got.CreatedAt.IsZero() || got.RevokedAt != nil {
			t.Fatalf("defaults not applied: %+v", got)
		}
	})
	_, err = s.GetKey(c, unique(t, "missing"))
	wantErr(t, "GetKey missing", err, vault.ErrNotFound)
}

func testRevokeKey(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	k := mkKey(t, s, app.ID, "")

	wantErr(t, "RevokeKey from another app", s.RevokeKey(c, other.ID, k.ID), vault.ErrNotFound)
	got, err := s.GetKey(c, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != vault.KeyActive {
		t.Fatalf("foreign RevokeKey changed the key: %+v", got)
	}

	wantErr(t, "RevokeKey", s.RevokeKey(c, app.ID, k.ID), nil)
	first, err := s.GetKey(c, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != vault.KeyRevoked || first.RevokedAt == nil {
		t.Fatalf("revoked key: %+v", first)
	}
	wantErr(t, "RevokeKey again", s.RevokeKey(c, app.ID, k.ID), nil)
	second, err := s.GetKey(c, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(first, second); d != "" {
		t.Fatalf("second revocation changed the key (-first +second):\n%s", d)
	}
	wantErr(t, "RevokeKey missing", s.RevokeKey(c, app.ID, unique(t, "k")), vault.ErrNotFound)
}

func testDeprecateKey(t *testing.T, s vault.Store) {
	c := ctx(t)
	app, other := mkApp(t, s), mkApp(t, s)
	k := mkKey(t, s, app.ID, "")
	until := base.Add(24 * time.Hour)

	wantErr(t, "DeprecateKey from another app", s.DeprecateKey(c, other.ID, k.ID, until), vault.ErrNotFound)
	wantErr(t, "DeprecateKey missing", s.DeprecateKey(c, app.ID, unique(t, "k"), until), vault.ErrNotFound)
	wantErr(t, "DeprecateKey without expiry", s.DeprecateKey(c, app.ID, k.ID, time.Time{}), vault.ErrInvalid)
	wantErr(t, "DeprecateKey", s.DeprecateKey(c, app.ID, k.ID, until), nil)
	got, err := s.GetKey(c, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := k
	want.Status, want.ExpiresAt = vault.KeyDeprecated, &until
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("deprecated key (-want +got):\n%s", d)
	}
	wantErr(t, "DeprecateKey again", s.DeprecateKey(c, app.ID, k.ID, until.Add(time.Hour)), vault.ErrConflict)

	// A deprecated key can still be revoked; a revoked one not deprecated.
	wantErr(t, "RevokeKey deprecated", s.RevokeKey(c, app.ID, k.ID), nil)
	got, err = s.GetKey(c, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != vault.KeyRevoked || got.RevokedAt == nil {
		t.Fatalf("revoked deprecated key: %+v", got)
	}
	wantErr(t, "DeprecateKey revoked", s.DeprecateKey(c, app.ID, k.ID, until), vault.ErrConflict)

	// DeleteAgent revokes the agent's deprecated keys too.
	agent := mkAgent(t, s, app.ID)
	ak := mkKey(t, s, app.ID, agent.ID)
	wantErr(t, "DeprecateKey agent key", s.DeprecateKey(c, app.ID, ak.ID, until), nil)
	wantErr(t, "DeleteAgent", s.DeleteAgent(c, app.ID, agent.ID), nil)
	if got, err := s.GetKey(c, ak.ID); err != nil || got.Status != vault.KeyRevoked {
		t.Fatalf("deprecated key of a deleted agent: %+v, %v; want revoked", got, err)
	}
}
