package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
	"github.com/google/go-cmp/cmp"
)

// testStart is what the fake manager answers to StartConnect.
func testStart() oauth.ConnectStart {
	return oauth.ConnectStart{
		SessionID:    "0190b5b2-1111-7000-8000-000000000001",
		AuthorizeURL: "https://slack.com/oauth/v2/authorize?client_id=cid&state=s",
		RedirectURI:  "http://127.0.0.1:8081/oauth/callback",
		ExpiresAt:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestStartConnect(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	bot := e.createAgent("demo", "bot")
	alice := e.putSecretFor("demo", "slack", "user:alice", "xoxp-1")
	other := e.putSecretFor("demo", "github", "user:alice", "ghp-1")
	gone := e.putSecretFor("demo", "slack", "user:bob", "xoxp-2")
	e.must(http.StatusOK, "POST", "/v1/apps/demo/grants/"+gone.GrantID+"/revoke", nil, nil)
	e.oauth.set(func(f *fakeOAuth) {
		f.startFn = func(oauth.ConnectRequest) (oauth.ConnectStart, error) { return testStart(), nil }
	})

	ok := []struct {
		name  string
		query url.Values
		want  oauth.ConnectRequest
	}{
		{"user", url.Values{"app": {"demo"}, "user": {"alice"}},
			oauth.ConnectRequest{AppID: app.ID, ProviderID: "slack", Principal: "user:alice"}},
		{"app by id, principal", url.Values{"app": {app.ID}, "principal": {"system"}},
			oauth.ConnectRequest{AppID: app.ID, ProviderID: "slack", Principal: "system"}},
		{"agent by name and scopes", url.Values{"app": {"demo"}, "user": {"alice"}, "agent": {"bot"}, "scopes": {"chat:write, ,users:read"}},
			oauth.ConnectRequest{AppID: app.ID, ProviderID: "slack", Principal: "user:alice", Agent: "bot", Scopes: []string{"chat:write", "users:read"}}},
		{"agent by id", url.Values{"app": {"demo"}, "user": {"alice"}, "agent": {bot.ID}},
			oauth.ConnectRequest{AppID: app.ID, ProviderID: "slack", Principal: "user:alice", Agent: "bot"}},
		{"re-consent takes the grant's principal", url.Values{"app": {app.ID}, "grant": {alice.GrantID}},
			oauth.ConnectRequest{AppID: app.ID, ProviderID: "slack", Principal: "user:alice", GrantID: alice.GrantID}},
		{"re-consent with the matching principal", url.Values{"app": {app.ID}, "grant": {alice.GrantID}, "principal": {"user:alice"}},
			oauth.ConnectRequest{AppID: app.ID, ProviderID: "slack", Principal: "user:alice", GrantID: alice.GrantID}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			var got oauth.ConnectStart
			e.must(http.StatusOK, "GET", "/v1/connect/slack?"+tt.query.Encode(), nil, &got)
			if diff := cmp.Diff(testStart(), got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			req, _ := e.oauth.lastStart()
			if diff := cmp.Diff(tt.want, req); diff != "" {
				t.Errorf("ConnectRequest (-want +got):\n%s", diff)
			}
			ev := e.rec.last(t)
			if ev.Action != "connect.start" || ev.ProviderID != "slack" || ev.Principal != tt.want.Principal ||
				ev.GrantID != tt.want.GrantID || ev.Context != "session="+testStart().SessionID {
				t.Errorf("audit event = %+v", ev)
			}
		})
	}

	t.Run("redirect", func(t *testing.T) {
		r := e.get("/v1/connect/slack?app=demo&user=alice&redirect=true", nil, true)
		if r.status != http.StatusFound || r.header.Get("Location") != testStart().AuthorizeURL {
			t.Fatalf("status %d, Location %q", r.status, r.header.Get("Location"))
		}
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("headers %v", r.header)
		}
	})
	t.Run("without the admin token", func(t *testing.T) {
		_, before := e.oauth.lastStart()
		if r := e.get("/v1/connect/slack?app=demo&user=alice&redirect=true", nil, false); r.status != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", r.status)
		}
		if _, after := e.oauth.lastStart(); after != before {
			t.Error("an unauthenticated request started a connect session")
		}
	})

	bad := []struct {
		name, path string
		status     int
		code       string
		contains   string
	}{
		{"no app", "/v1/connect/slack?user=alice", 400, CodeInvalidRequest, `"app"`},
		{"unknown app", "/v1/connect/slack?app=nope&user=alice", 404, CodeNotFound, `app "nope"`},
		{"unknown provider", "/v1/connect/nope?app=demo&user=alice", 404, CodeNotFound, `provider "nope"`},
		{"provider without oauth", "/v1/connect/openai?app=demo&user=alice", 400, CodeInvalidRequest, "does not accept OAuth2"},
		{"user and principal", "/v1/connect/slack?app=demo&user=alice&principal=system", 400, CodeInvalidRequest, "not both"},
		{"no principal", "/v1/connect/slack?app=demo", 400, CodeInvalidRequest, `"user"`},
		{"bad principal", "/v1/connect/slack?app=demo&principal=root", 400, CodeInvalidRequest, "principal"},
		{"user with a space", "/v1/connect/slack?app=demo&user=a+b", 400, CodeInvalidRequest, "visible ASCII"},
		{"agent principal without agent", "/v1/connect/slack?app=demo&principal=agent:ghost", 400, CodeInvalidRequest, "names no agent"},
		{"unknown agent", "/v1/connect/slack?app=demo&user=alice&agent=ghost", 404, CodeNotFound, `agent "ghost"`},
		{"unknown grant", "/v1/connect/slack?app=demo&grant=0190b5b2-0000-7000-8000-000000000000", 404, CodeNotFound, "grant"},
		{"grant of another provider", "/v1/connect/slack?app=demo&grant=" + other.GrantID, 400, CodeInvalidRequest, `provider "github"`},
		{"grant of another principal", "/v1/connect/slack?app=demo&user=carol&grant=" + alice.GrantID, 400, CodeInvalidRequest, `principal "user:alice"`},
		{"revoked grant", "/v1/connect/slack?app=demo&grant=" + gone.GrantID, 409, CodeConflict, "revoked"},
		{"bad scope", "/v1/connect/slack?app=demo&user=alice&scopes=a%22b", 400, CodeInvalidRequest, "scope"},
		{"bad redirect", "/v1/connect/slack?app=demo&user=alice&redirect=maybe", 400, CodeInvalidRequest, "redirect"},
		{"unknown parameter", "/v1/connect/slack?app=demo&user=alice&usr=bob", 400, CodeInvalidRequest, `"usr"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, before := e.oauth.lastStart()
			got := e.wantErr(tt.status, tt.code, "GET", tt.path, nil)
			if !strings.Contains(got.Message, tt.contains) {
				t.Errorf("message %q does not contain %q", got.Message, tt.contains)
			}
			if _, after := e.oauth.lastStart(); after != before {
				t.Error("an invalid request reached the manager")
			}
		})
	}

	managerErrs := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"not configured", oauth.ErrNotConfigured, 409, CodeConflict},
		{"not oauth", oauth.ErrNotOAuth, 400, CodeInvalidRequest},
		{"invalid", vault.ErrInvalid, 400, CodeInvalidRequest},
		{"internal", errors.New("db down"), 500, CodeInternal},
	}
	for _, tt := range managerErrs {
		t.Run("manager "+tt.name, func(t *testing.T) {
			e.oauth.set(func(f *fakeOAuth) {
				f.startFn = func(oauth.ConnectRequest) (oauth.ConnectStart, error) { return oauth.ConnectStart{}, tt.err }
			})
			n := len(e.rec.actions())
			e.wantErr(tt.status, tt.code, "GET", "/v1/connect/slack?app=demo&user=alice", nil)
			if len(e.rec.actions()) != n {
				t.Error("a failed start recorded an audit event")
			}
		})
	}
}

func TestConnectSession(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	e.createApp("other")
	g := e.putSecretFor("demo", "slack", "user:alice", "xoxp-1")
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sessions := map[string]vault.ConnectSession{
		"pending":  {ID: "s-pending", AppID: app.ID, ProviderID: "slack", Principal: "user:alice", Status: vault.SessionPending, CreatedAt: created, ExpiresAt: created.Add(10 * time.Minute)},
		"complete": {ID: "s-complete", AppID: app.ID, ProviderID: "slack", Principal: "user:alice", GrantID: g.GrantID, Status: vault.SessionComplete, CreatedAt: created, ExpiresAt: created.Add(10 * time.Minute)},
		"expired":  {ID: "s-expired-failed", AppID: app.ID, ProviderID: "slack", Principal: "user:alice", Status: vault.SessionFailed, ErrorCode: "expired", ErrorMessage: "the connect session expired; start again", CreatedAt: created, ExpiresAt: created.Add(10 * time.Minute)},
		"failed":   {ID: "s-failed", AppID: app.ID, ProviderID: "slack", Principal: "user:alice", Status: vault.SessionFailed, ErrorCode: "access_denied", ErrorMessage: "User said no", CreatedAt: created, ExpiresAt: created.Add(10 * time.Minute)},
	}
	e.oauth.set(func(f *fakeOAuth) {
		f.sessionFn = func(appID, id string) (vault.ConnectSession, error) {
			for _, s := range sessions {
				if s.ID == id && s.AppID == appID {
					return s, nil
				}
			}
			if id == "s-expired" {
				return vault.ConnectSession{}, oauth.ErrSessionExpired
			}
			return vault.ConnectSession{}, vault.ErrNotFound
		}
	})
	tests := []struct {
		name string
		id   string
		want sessionView
	}{
		{"pending", "s-pending", sessionView{ConnectSession: sessions["pending"]}},
		{"complete", "s-complete", sessionView{ConnectSession: sessions["complete"]}},
		{"failed", "s-failed", sessionView{ConnectSession: sessions["failed"],
			ErrorText: "the authorization was declined (the user refused consent, or the provider denied it): User said no (access_denied)"}},
		{"expired", "s-expired-failed", sessionView{ConnectSession: sessions["expired"], ErrorText: "the connect session expired; start again"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got sessionView
			e.must(http.StatusOK, "GET", "/v1/connect/sessions/"+tt.id+"?app=demo", nil, &got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("session (-want +got):\n%s", diff)
			}
		})
	}
	e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/v1/connect/sessions/s-pending?app=other", nil)
	e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/v1/connect/sessions/nope?app=demo", nil)
	e.wantErr(http.StatusGone, CodeExpired, "GET", "/v1/connect/sessions/s-expired?app=demo", nil)
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "GET", "/v1/connect/sessions/s-pending", nil)
	e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/v1/connect/sessions/s-pending?app=nope", nil)
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "GET", "/v1/connect/sessions/s-pending?app=demo&x=1", nil)
}

// TestOAuthDisabled checks the OAuth routes of a handler without a manager.
func TestOAuthDisabled(t *testing.T) {
	e := newEnvWith(t, nil)
	e.createApp("demo")
	s := e.putSecretFor("demo", "slack", "user:alice", "xoxp-1")
	e.wantErr(http.StatusNotImplemented, CodeInternal, "GET", "/v1/connect/slack?app=demo&user=alice", nil)
	e.wantErr(http.StatusNotImplemented, CodeInternal, "GET", "/v1/connect/sessions/x?app=demo", nil)
	e.wantErr(http.StatusNotImplemented, CodeInternal, "POST", "/v1/apps/demo/grants",
		map[string]any{"provider": "slack", "grant_type": "client_credentials"})
	if r := e.get("/oauth/callback?state=x&code=y", nil, false); r.status != http.StatusNotImplemented ||
		!strings.Contains(r.body, "OAuth is not enabled") {
		t.Errorf("callback: %d %s", r.status, r.body)
	}
	// Revocation still works, locally.
	var v grantView
	e.must(http.StatusOK, "POST", "/v1/apps/demo/grants/"+s.GrantID+"/revoke", nil, &v)
	if v.Status != vault.StatusRevoked {
		t.Errorf("status %q", v.Status)
	}
}
