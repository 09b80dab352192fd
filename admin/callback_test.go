package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
	"github.com/google/go-cmp/cmp"
)

// putOAuthGrant stores an OAuth token set for principal with account.
func (e *env) putOAuthGrant(appID, provider, principal, account string) vault.Grant {
	e.t.Helper()
	g, _, err := e.vault.PutOAuthGrant(e.t.Context(), appID, provider, principal, account, vault.Material{
		AccessToken: "at-" + account, RefreshToken: "rt-" + account, TokenType: "Bearer",
		Expiry: time.Now().Add(time.Hour), GrantType: vault.GrantAuthorizationCode,
	})
	if err != nil {
		e.t.Fatalf("PutOAuthGrant: %v", err)
	}
	return g
}

func TestCallback(t *testing.T) {
	e := newEnv(t)
	app := e.createApp("demo")
	bot := e.createAgent("demo", "bot")
	g := e.putOAuthGrant(app.ID, "slack", "user:alice", `U1<b>&"x"`)
	complete := vault.ConnectSession{ID: "s-1", AppID: app.ID, ProviderID: "slack", Principal: "user:alice",
		Agent: "bot", GrantID: g.ID, Status: vault.SessionComplete}
	failed := vault.ConnectSession{ID: "s-2", AppID: app.ID, ProviderID: "slack", Principal: "user:alice",
		Status: vault.SessionFailed, ErrorCode: "access_denied", ErrorMessage: "<script>alert(1)</script>"}

	html := http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}
	asJSON := http.Header{"Accept": {"application/json"}}
	tests := []struct {
		name     string
		answer   func(url.Values) (vault.ConnectSession, error)
		header   http.Header
		status   int
		contains []string // in the body
		action   string   // audit action recorded, "" for none
		errCode  string   // audit event error code
	}{
		{"success page", func(url.Values) (vault.ConnectSession, error) { return complete, nil }, html, 200,
			[]string{"Connected Slack", "U1&lt;b&gt;&amp;&#34;x&#34;", g.ID, "user:alice", "agent bot"}, "grant.connect", ""},
		{"success json", func(url.Values) (vault.ConnectSession, error) { return complete, nil }, asJSON, 200,
			[]string{`"status":"complete"`, `"grant_id":"` + g.ID + `"`, `"account":"U1\u003cb\u003e\u0026\"x\""`, `"agent":"bot"`}, "grant.connect", ""},
		{"unknown state page", func(url.Values) (vault.ConnectSession, error) { return vault.ConnectSession{}, oauth.ErrState }, html, 400,
			[]string{"Could not connect", "already used, or has expired"}, "", ""},
		{"unknown state json", func(url.Values) (vault.ConnectSession, error) { return vault.ConnectSession{}, oauth.ErrState }, asJSON, 400,
			[]string{`"code":"invalid_request"`}, "", ""},
		{"expired session", func(url.Values) (vault.ConnectSession, error) {
			return vault.ConnectSession{}, oauth.ErrSessionExpired
		}, asJSON, 400, []string{`"code":"expired"`}, "", ""},
		{"provider refusal as error", func(url.Values) (vault.ConnectSession, error) {
			return failed, &oauth.ProviderError{Code: "access_denied", Description: "<script>alert(1)</script>"}
		}, html, 502, []string{"Could not connect Slack", "declined", "&lt;script&gt;alert(1)&lt;/script&gt;", "Nothing was stored"},
			"connect.fail", "access_denied"},
		{"provider refusal as failed session", func(url.Values) (vault.ConnectSession, error) { return failed, nil }, asJSON, 502,
			[]string{`"code":"provider_error"`, `"provider_error":"access_denied"`, "declined"}, "connect.fail", "access_denied"},
		{"token endpoint down", func(url.Values) (vault.ConnectSession, error) {
			s := failed
			s.ErrorCode, s.ErrorMessage = "exchange_failed", "the provider's token endpoint slack.com failed: timeout"
			return s, fmt.Errorf("connect callback: %w", oauth.ErrRefreshFailed)
		}, asJSON, 502, []string{`"code":"provider_error"`, "slack.com failed: timeout"}, "connect.fail", "provider_error"},
		{"bad client", func(url.Values) (vault.ConnectSession, error) {
			s := failed
			s.ErrorCode, s.ErrorMessage = "invalid_client", ""
			return s, &oauth.ProviderError{Code: "invalid_client"}
		}, html, 502, []string{"gatehouse provider configure"}, "connect.fail", "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotQuery url.Values
			e.oauth.set(func(f *fakeOAuth) {
				f.callbackFn = func(q url.Values) (vault.ConnectSession, error) { gotQuery = q; return tt.answer(q) }
			})
			n := len(e.rec.actions())
			r := e.get("/oauth/callback?state=st&code=c0de&extra=1", tt.header, false)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if diff := cmp.Diff(url.Values{"state": {"st"}, "code": {"c0de"}, "extra": {"1"}}, gotQuery); diff != "" {
				t.Errorf("query passed to the manager (-want +got):\n%s", diff)
			}
			for _, s := range tt.contains {
				if !strings.Contains(r.body, s) {
					t.Errorf("body does not contain %q:\n%s", s, r.body)
				}
			}
			if strings.Contains(r.body, "<script>") {
				t.Error("body carries an unescaped script tag")
			}
			wantCT := "text/html; charset=utf-8"
			if tt.header.Get("Accept") == "application/json" {
				wantCT = "application/json"
				if !json.Valid([]byte(r.body)) {
					t.Errorf("body is not JSON: %s", r.body)
				}
			} else {
				for h, want := range map[string]string{
					"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
				} {
					if got := r.header.Get(h); got != want {
						t.Errorf("%s = %q, want %q", h, got, want)
					}
				}
				if !strings.HasPrefix(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
					t.Errorf("CSP %q", r.header.Get("Content-Security-Policy"))
				}
			}
			if ct := r.header.Get("Content-Type"); ct != wantCT {
				t.Errorf("Content-Type %q, want %q", ct, wantCT)
			}
			actions := e.rec.actions()[n:]
			if tt.action == "" {
				if len(actions) != 0 {
					t.Errorf("recorded %v, want nothing", actions)
				}
				return
			}
			ev := e.rec.last(t)
			want := audit.Event{Kind: audit.KindAdmin, Actor: CallbackActor, AppID: app.ID, Action: tt.action,
				ProviderID: "slack", Principal: "user:alice", ErrorCode: tt.errCode}
			if tt.action == "grant.connect" {
				want.GrantID, want.AgentID, want.Context = g.ID, bot.ID, "session=s-1"
			} else {
				want.Context = "session=s-2"
			}
			got := audit.Event{Kind: ev.Kind, Actor: ev.Actor, AppID: ev.AppID, Action: ev.Action, ProviderID: ev.ProviderID,
				Principal: ev.Principal, ErrorCode: ev.ErrorCode, GrantID: ev.GrantID, AgentID: ev.AgentID, Context: ev.Context}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("audit event (-want +got):\n%s", diff)
			}
		})
	}
}
