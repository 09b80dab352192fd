package admin

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func TestAgents(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	bot := e.createAgent("demo", "bot")
	if !strings.HasPrefix(bot.Key, vault.AgentKeyPrefix) || bot.ID == "" || bot.KeyID == "" || bot.AppID != app.ID {
		t.Fatalf("created agent = %+v", bot)
	}
	k, err := e.vault.Authenticate(t.Context(), bot.Key)
	if err != nil || k.AgentID != bot.ID || k.ID != bot.KeyID {
		t.Fatalf("Authenticate(agent key) = %+v, %v", k, err)
	}
	if ev := e.rec.last(t); ev.Action != "agent.create" || ev.AgentID != bot.ID || ev.KeyID != bot.KeyID {
		t.Errorf("audit event = %+v", ev)
	}
	other := e.createAgent(app.ID, "other") // app by id

	e.wantErr(http.StatusConflict, CodeConflict, "POST", "/v1/apps/demo/agents", map[string]string{"name": "bot"})
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "POST", "/v1/apps/demo/agents", map[string]string{"name": "-bad"})
	e.wantErr(http.StatusNotFound, CodeNotFound, "POST", "/v1/apps/nope/agents", map[string]string{"name": "bot"})

	var list []vault.Agent
	r := e.must(http.StatusOK, "GET", "/v1/apps/demo/agents", nil, &list)
	if diff := cmp.Diff([]vault.Agent{bot.Agent, other.Agent}, list); diff != "" {
		t.Errorf("list agents (-want +got):\n%s", diff)
	}
	if strings.Contains(string(r.raw), bot.Key) {
		t.Error("agent list shows a key")
	}

	// Deleting revokes the agent's keys and its grants.
	grant := e.putSecret("demo", "agent:bot", "sk-bot")
	var deleted vault.Agent
	e.must(http.StatusOK, "DELETE", "/v1/apps/demo/agents/bot", nil, &deleted)
	if deleted.ID != bot.ID {
		t.Errorf("deleted agent = %+v", deleted)
	}
	if _, err := e.vault.Authenticate(t.Context(), bot.Key); !errors.Is(err, vault.ErrKeyRevoked) {
		t.Errorf("Authenticate after delete = %v, want ErrKeyRevoked", err)
	}
	g, err := e.store.GetGrant(t.Context(), app.ID, grant.GrantID)
	if err != nil || g.Status != vault.StatusRevoked {
		t.Errorf("agent grant after delete = %+v, %v; want revoked", g, err)
	}
	if ev := e.rec.last(t); ev.Action != "agent.delete" || ev.AgentID != bot.ID {
		t.Errorf("audit event = %+v", ev)
	}
	e.wantErr(http.StatusNotFound, CodeNotFound, "DELETE", "/v1/apps/demo/agents/bot", nil)
	e.must(http.StatusOK, "DELETE", "/v1/apps/demo/agents/"+other.ID, nil, nil) // by id
}

func TestKeys(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	bot := e.createAgent("demo", "bot")

	var appKey createdKey
	r := e.must(http.StatusCreated, "POST", "/v1/apps/demo/keys", nil, &appKey) // empty body: app key
	if !strings.HasPrefix(appKey.Plaintext, vault.AppKeyPrefix) || appKey.AgentID != "" || appKey.AppID != app.ID {
		t.Fatalf("app key = %s", r.raw)
	}
	if strings.Contains(string(r.raw), `"Hash"`) || strings.Contains(string(r.raw), `"hash"`) {
		t.Errorf("key answer exposes the hash: %s", r.raw)
	}
	var agentKey createdKey
	e.must(http.StatusCreated, "POST", "/v1/apps/demo/keys", map[string]string{"agent": "bot"}, &agentKey)
	if !strings.HasPrefix(agentKey.Plaintext, vault.AgentKeyPrefix) || agentKey.AgentID != bot.ID {
		t.Fatalf("agent key = %+v", agentKey.Key)
	}
	if ev := e.rec.last(t); ev.Action != "key.create" || ev.KeyID != agentKey.ID || ev.AgentID != bot.ID {
		t.Errorf("audit event = %+v", ev)
	}
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "POST", "/v1/apps/demo/keys", map[string]string{"agent": "ghost"})
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "POST", "/v1/apps/demo/keys", map[string]string{"agnet": "bot"})

	var keys []vault.Key
	r = e.must(http.StatusOK, "GET", "/v1/apps/demo/keys", nil, &keys)
	if len(keys) != 3 { // bot's first key, the app key, bot's second key
		t.Errorf("listed %d keys, want 3: %s", len(keys), r.raw)
	}
	for _, secret := range []string{appKey.Plaintext, agentKey.Plaintext, bot.Key} {
		if strings.Contains(string(r.raw), secret) {
			t.Error("key list contains a plaintext key")
		}
	}

	var revoked vault.Key
	e.must(http.StatusOK, "DELETE", "/v1/apps/demo/keys/"+appKey.ID, nil, &revoked)
	if revoked.Status != vault.KeyRevoked || revoked.RevokedAt == nil {
		t.Errorf("revoked key = %+v", revoked)
	}
	if _, err := e.vault.Authenticate(t.Context(), appKey.Plaintext); !errors.Is(err, vault.ErrKeyRevoked) {
		t.Errorf("Authenticate(revoked) = %v, want ErrKeyRevoked", err)
	}
	if ev := e.rec.last(t); ev.Action != "key.revoke" || ev.KeyID != appKey.ID {
		t.Errorf("audit event = %+v", ev)
	}
	e.must(http.StatusOK, "DELETE", "/v1/apps/demo/keys/"+appKey.ID, nil, nil) // idempotent
	e.wantErr(http.StatusNotFound, CodeNotFound, "DELETE", "/v1/apps/demo/keys/abcdefghijklmnop", nil)
}
