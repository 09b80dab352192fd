package admin

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/vault"
)

func TestAgentAccessAPI(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	bot := e.createAgent("demo", "bot")
	e.createAgent("demo", "other")
	grant := e.putSecretFor("demo", "github", "user:alice", "ghp_x")
	revoked := e.putSecretFor("demo", "openai", "user:bob", "sk-x")
	e.must(http.StatusOK, "POST", "/v1/apps/demo/grants/"+revoked.GrantID+"/revoke", nil, nil)

	var byProvider, byGrant accessView
	e.must(http.StatusCreated, "POST", "/v1/apps/demo/agents/bot/access", map[string]string{"provider": "openai"}, &byProvider)
	if ev := e.rec.last(t); ev.Action != "access.add" || ev.AgentID != bot.ID || ev.ProviderID != "openai" {
		t.Errorf("audit event = %+v", ev)
	}
	e.must(http.StatusCreated, "POST", "/v1/apps/demo/agents/"+bot.ID+"/access", map[string]string{"grant": grant.GrantID}, &byGrant)
	if ev := e.rec.last(t); ev.GrantID != grant.GrantID || ev.ProviderID != "github" {
		t.Errorf("audit event = %+v", ev)
	}

	refused := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
	}{
		{"neither", "/v1/apps/demo/agents/bot/access", map[string]string{}, http.StatusBadRequest, CodeInvalidRequest},
		{"both", "/v1/apps/demo/agents/bot/access", map[string]string{"provider": "openai", "grant": grant.GrantID}, http.StatusBadRequest, CodeInvalidRequest},
		{"unknown provider", "/v1/apps/demo/agents/bot/access", map[string]string{"provider": "nope"}, http.StatusBadRequest, CodeInvalidRequest},
		{"unknown grant", "/v1/apps/demo/agents/bot/access", map[string]string{"grant": "0b5c7a43-2f43-4a3c-9d0e-5b7c1a2b3c4d"}, http.StatusNotFound, CodeNotFound},
		{"revoked grant", "/v1/apps/demo/agents/bot/access", map[string]string{"grant": revoked.GrantID}, http.StatusConflict, CodeConflict},
		{"duplicate", "/v1/apps/demo/agents/bot/access", map[string]string{"provider": "openai"}, http.StatusConflict, CodeConflict},
		{"unknown agent", "/v1/apps/demo/agents/ghost/access", map[string]string{"provider": "openai"}, http.StatusNotFound, CodeNotFound},
		{"unknown app", "/v1/apps/nope/agents/bot/access", map[string]string{"provider": "openai"}, http.StatusNotFound, CodeNotFound},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			e.wantErr(tt.status, tt.code, "POST", tt.path, tt.body)
		})
	}

	want := []accessView{byProvider, byGrant}
	sortByID := cmpopts.SortSlices(func(a, b accessView) bool { return a.ID < b.ID })
	var list []accessView
	e.must(http.StatusOK, "GET", "/v1/apps/demo/agents/bot/access", nil, &list)
	if diff := cmp.Diff(want, list, sortByID); diff != "" {
		t.Errorf("agent's access (-want +got):\n%s", diff)
	}
	var all []accessView
	e.must(http.StatusOK, "GET", "/v1/apps/demo/access", nil, &all)
	if diff := cmp.Diff(want, all, sortByID); diff != "" {
		t.Errorf("app's access (-want +got):\n%s", diff)
	}
	for _, v := range all {
		if v.Agent != "bot" || v.AppID != app.ID {
			t.Errorf("entry %+v", v)
		}
	}
	var none []accessView
	e.must(http.StatusOK, "GET", "/v1/apps/demo/agents/other/access", nil, &none)
	if len(none) != 0 {
		t.Errorf("other agent's access = %+v", none)
	}

	// The access set reaches the grant.
	gs, err := e.vault.AccessGrants(t.Context(), app.ID, bot.ID, "github")
	if err != nil || len(gs) != 1 || gs[0].ID != grant.GrantID {
		t.Errorf("AccessGrants = %+v, %v", gs, err)
	}

	e.wantErr(http.StatusNotFound, CodeNotFound, "DELETE", "/v1/apps/demo/agents/other/access/"+byGrant.ID, nil) // another agent's entry
	var removed accessView
	e.must(http.StatusOK, "DELETE", "/v1/apps/demo/agents/bot/access/"+byGrant.ID, nil, &removed)
	if diff := cmp.Diff(byGrant, removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if ev := e.rec.last(t); ev.Action != "access.remove" || ev.GrantID != grant.GrantID {
		t.Errorf("audit event = %+v", ev)
	}
	e.wantErr(http.StatusNotFound, CodeNotFound, "DELETE", "/v1/apps/demo/agents/bot/access/"+byGrant.ID, nil)
	if g, err := e.store.GetGrant(t.Context(), app.ID, grant.GrantID); err != nil || g.Status != vault.StatusActive {
		t.Errorf("grant after removing the access = %+v, %v; want active", g, err)
	}
}

func TestKeyRotate(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	bot := e.createAgent("demo", "bot")

	tests := []struct {
		name      string
		body      any
		wantGrace time.Duration
		oldWorks  bool
	}{
		{"default grace", nil, 24 * time.Hour, true},
		{"explicit grace", map[string]string{"grace": "1h"}, time.Hour, true},
		{"no grace revokes", map[string]string{"grace": "0s"}, 0, false},
	}
	keyID, plaintext := bot.KeyID, bot.Key
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			var got rotatedKey
			e.must(http.StatusCreated, "POST", "/v1/apps/demo/keys/"+keyID+"/rotate", tt.body, &got)
			if got.AgentID != bot.ID || got.AppID != app.ID || got.ID == keyID || got.Plaintext == "" || got.Replaced.ID != keyID {
				t.Fatalf("rotated = %+v", got)
			}
			if tt.oldWorks {
				if got.Replaced.Status != vault.KeyDeprecated || got.Replaced.ExpiresAt == nil {
					t.Fatalf("replaced key = %+v", got.Replaced)
				}
				if d := got.Replaced.ExpiresAt.Sub(start); d < tt.wantGrace-time.Minute || d > tt.wantGrace+time.Minute {
					t.Errorf("grace ends in %s, want about %s", d, tt.wantGrace)
				}
			} else if got.Replaced.Status != vault.KeyRevoked {
				t.Errorf("replaced key status %q, want revoked", got.Replaced.Status)
			}
			_, err := e.vault.Authenticate(t.Context(), plaintext)
			if tt.oldWorks != (err == nil) {
				t.Errorf("Authenticate(old key) = %v, want works=%v", err, tt.oldWorks)
			}
			if k, err := e.vault.Authenticate(t.Context(), got.Plaintext); err != nil || k.ID != got.ID {
				t.Errorf("Authenticate(new key) = %+v, %v", k, err)
			}
			if ev := e.rec.last(t); ev.Action != "key.rotate" || ev.KeyID != got.ID || ev.AgentID != bot.ID {
				t.Errorf("audit event = %+v", ev)
			}
			e.wantErr(http.StatusConflict, CodeConflict, "POST", "/v1/apps/demo/keys/"+keyID+"/rotate", nil) // already rotated
			keyID, plaintext = got.ID, got.Plaintext
		})
	}
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "POST", "/v1/apps/demo/keys/"+keyID+"/rotate", map[string]string{"grace": "-1h"})
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "POST", "/v1/apps/demo/keys/"+keyID+"/rotate", map[string]string{"grace": "1000h"})
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "POST", "/v1/apps/demo/keys/"+keyID+"/rotate", map[string]string{"grace": "soon"})
	e.wantErr(http.StatusNotFound, CodeNotFound, "POST", "/v1/apps/demo/keys/abcdefghijklmnop/rotate", nil)
	e.createApp("other")
	e.wantErr(http.StatusNotFound, CodeNotFound, "POST", "/v1/apps/other/keys/"+keyID+"/rotate", nil) // another app's key
	if _, err := e.vault.Authenticate(t.Context(), plaintext); err != nil {
		t.Errorf("refused rotations broke the current key: %v", err)
	}
}
