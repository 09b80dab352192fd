package oauth_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/internal/fakeoauth"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

func TestConnectWithPKCE(t *testing.T) {
	e := newEnv(t, fakeoauth.Options{RequirePKCE: true, AccessTTL: ttl, RotateRefresh: true},
		provider{PKCE: true, AuthStyle: "header", ExtraParams: "{prompt: consent}"})
	v, app := e.sqlite(t)
	r := replica{v: v, m: e.manager(t, v, nil, "", oauth.Config{})}

	start, err := r.m.StartConnect(t.Context(), oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(start.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"client_id": clientID, "redirect_uri": redirectURL, "response_type": "code",
		"code_challenge_method": "S256", "scope": "chat:write channels:read", "prompt": "consent",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("authorize URL %s = %q, want %q", k, got, want)
		}
	}
	if len(q.Get("state")) != 43 || len(q.Get("code_challenge")) != 43 || q.Has("code_verifier") {
		t.Errorf("authorize URL state/challenge/verifier: %q/%q/%t", q.Get("state"), q.Get("code_challenge"), q.Has("code_verifier"))
	}
	if start.RedirectURI != redirectURL || !start.ExpiresAt.Equal(e.clock.Now().Add(oauth.DefaultConnectTTL)) {
		t.Errorf("start = %+v", start)
	}
	pending, err := r.m.Session(t.Context(), app, start.SessionID)
	if err != nil || pending.Status != vault.SessionPending {
		t.Fatalf("Session before the callback: %v %s", err, pending.Status)
	}

	s, err := r.m.Callback(t.Context(), e.authorize(t, start.AuthorizeURL))
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	// The fake verified the PKCE verifier (it refuses a missing or wrong
	// one) and the header client authentication.
	if st := e.fake.Stats(); st.CodeExchanges != 1 || st.InvalidGrants != 0 || st.InvalidClients != 0 {
		t.Errorf("fake stats = %+v", st)
	}
	polled, err := r.m.Session(t.Context(), app, start.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, polled, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
		t.Errorf("Callback's session and Session differ:\n%s", diff)
	}
	if s.Status != vault.SessionComplete || s.GrantID == "" || s.CompletedAt == nil {
		t.Fatalf("session = %+v", s)
	}
	g, err := v.Grant(t.Context(), app, s.GrantID)
	if err != nil {
		t.Fatal(err)
	}
	want := vault.Grant{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice", Account: account, Status: vault.StatusActive}
	if diff := cmp.Diff(want, g, cmpopts.IgnoreFields(vault.Grant{}, "ID", "CredentialID", "CreatedAt", "UpdatedAt")); diff != "" {
		t.Errorf("grant (-want +got):\n%s", diff)
	}
	m := stored(t, v, g)
	if m.AccessToken == "" || m.RefreshToken == "" || m.GrantType != vault.GrantAuthorizationCode ||
		!m.Expiry.Equal(e.clock.Now().Add(ttl)) || !cmp.Equal(m.Scopes, []string{"chat:write", "channels:read"}) {
		t.Errorf("stored token set: grant type %q, expiry %s, scopes %v", m.GrantType, m.Expiry, m.Scopes)
	}
	// The token works at the refresh endpoint with header auth too.
	e.clock.Advance(ttl)
	if _, err := r.m.Token(t.Context(), g); err != nil {
		t.Fatalf("refresh with header auth: %v", err)
	}
}

func TestConnectTwiceMakesTwoGrants(t *testing.T) {
	e := newEnv(t, fakeoauth.Options{AccessTTL: ttl}, provider{})
	v, app := e.sqlite(t)
	r := replica{v: v, m: e.manager(t, v, nil, "", oauth.Config{})}
	req := oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice"}
	first := e.connect(t, r, req)
	e.fake.SetAccount("U0SECOND")
	second := e.connect(t, r, req)
	if first.ID == second.ID || first.CredentialID == second.CredentialID {
		t.Fatal("the second connection replaced the first")
	}
	gs, err := v.GrantsFor(t.Context(), app, e.prov.ID, "user:alice")
	if err != nil {
		t.Fatal(err)
	}
	var accounts []string
	for _, g := range gs {
		accounts = append(accounts, g.Account)
	}
	if diff := cmp.Diff([]string{account, "U0SECOND"}, accounts); diff != "" {
		t.Errorf("accounts of alice's grants (-want +got):\n%s", diff)
	}
}

func TestConnectDelegatesAndReconsents(t *testing.T) {
	e := newEnv(t, fakeoauth.Options{AccessTTL: ttl}, provider{})
	v, app := e.sqlite(t)
	r := replica{v: v, m: e.manager(t, v, nil, "", oauth.Config{})}
	agent, err := v.Store().CreateAgent(t.Context(), vault.Agent{AppID: app, Name: "helper"})
	if err != nil {
		t.Fatal(err)
	}
	g := e.connect(t, r, oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice", Agent: "helper"})
	del, err := v.DelegatedGrants(t.Context(), app, agent.ID, e.prov.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 1 || del[0].ID != g.ID {
		t.Errorf("delegated grants = %v, want [%s]", del, g.ID)
	}

	// The refresh token dies; re-consent through the grant revives it.
	e.fake.RevokeRefreshTokens()
	e.clock.Advance(ttl + time.Minute)
	if _, err := r.m.Token(t.Context(), g); !errors.Is(err, oauth.ErrReauthRequired) {
		t.Fatalf("Token: %v, want ErrReauthRequired", err)
	}
	// ReconnectURL carries the grant; the principal comes from it.
	again := e.connect(t, r, oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, GrantID: g.ID})
	if again.ID != g.ID || again.Status != vault.StatusActive || again.Principal != "user:alice" {
		t.Fatalf("re-consented grant = %+v, want %s active", again, g.ID)
	}
	if _, err := r.m.Token(t.Context(), again); err != nil {
		t.Fatalf("Token after re-consent: %v", err)
	}
}

func TestStartConnectRefuses(t *testing.T) {
	e := newEnv(t, fakeoauth.Options{}, provider{})
	v, app := e.sqlite(t)
	m := e.manager(t, v, nil, "", oauth.Config{})
	other, _, err := v.PutSecret(t.Context(), app, "openai", vault.KindAPIKey, vault.PrincipalSystem, vault.Material{Token: "sk-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  oauth.ConnectRequest
		want error
	}{
		{"unknown provider", oauth.ConnectRequest{AppID: app, ProviderID: "nope", Principal: "user:a"}, vault.ErrNotFound},
		{"API-key provider", oauth.ConnectRequest{AppID: app, ProviderID: "openai", Principal: "user:a"}, oauth.ErrNotOAuth},
		{"not configured", oauth.ConnectRequest{AppID: app, ProviderID: "slack", Principal: "user:a"}, oauth.ErrNotConfigured},
		{"bad principal", oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "alice"}, vault.ErrInvalid},
		{"unknown agent", oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:a", Agent: "ghost"}, vault.ErrNotFound},
		{"grant of another provider", oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, GrantID: other.ID}, vault.ErrInvalid},
		{"bad scope", oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:a", Scopes: []string{"a b"}}, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.StartConnect(t.Context(), tc.req); !errors.Is(err, tc.want) {
				t.Errorf("StartConnect: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCallbackFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(t *testing.T, e *env)
		mangle    func(q url.Values) url.Values
		wantErr   error
		wantCode  string // provider error code / session error code
		wantMsg   string
		noSession bool // nothing is claimed
	}{
		{
			name:     "denied consent",
			setup:    func(t *testing.T, e *env) { e.fake.DenyConsent(true) },
			wantCode: "access_denied", wantMsg: "the user denied consent (the provider says: The user denied the authorization request.)",
		},
		{
			name:     "expired session",
			setup:    func(t *testing.T, e *env) { e.clock.Advance(oauth.DefaultConnectTTL + time.Second) },
			wantErr:  oauth.ErrSessionExpired,
			wantCode: "expired", wantMsg: oauth.ErrSessionExpired.Error(),
		},
		{
			name:    "unknown state",
			mangle:  func(q url.Values) url.Values { q.Set("state", "forged"); return q },
			wantErr: oauth.ErrState, noSession: true,
		},
		{
			name:    "no state",
			mangle:  func(q url.Values) url.Values { q.Del("state"); return q },
			wantErr: oauth.ErrState, noSession: true,
		},
		{
			name:     "bad code",
			mangle:   func(q url.Values) url.Values { q.Set("code", "not-a-code"); return q },
			wantCode: "invalid_grant", wantMsg: "unknown authorization code",
		},
		{
			name:     "bad client secret",
			setup:    func(t *testing.T, e *env) { e.reconfigure(t, "wrong-secret") },
			wantCode: "invalid_client", wantMsg: "the provider rejected the app's OAuth client id or secret (invalid_client); check the provider configuration of the app",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fakeoauth.Options{AccessTTL: ttl}, provider{})
			v, app := e.sqlite(t)
			e.appID, e.v = app, v
			m := e.manager(t, v, nil, "", oauth.Config{})
			start, err := m.StartConnect(t.Context(), oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice"})
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, e)
			}
			q := e.authorize(t, start.AuthorizeURL)
			if tc.mangle != nil {
				q = tc.mangle(q)
			}
			s, err := m.Callback(t.Context(), q)
			e.checkErr(t, err)
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Callback: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil {
				var pe *oauth.ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("Callback: %v, want a *ProviderError", err)
				}
				if diff := cmp.Diff(&oauth.ProviderError{Code: tc.wantCode, Description: tc.wantMsg}, pe); diff != "" {
					t.Errorf("provider error (-want +got):\n%s", diff)
				}
			}
			polled, perr := m.Session(t.Context(), app, start.SessionID)
			if perr != nil {
				t.Fatal(perr)
			}
			if tc.noSession {
				if polled.Status != vault.SessionPending {
					t.Errorf("session status = %s, want still pending", polled.Status)
				}
				return
			}
			got := [3]string{polled.Status, polled.ErrorCode, polled.ErrorMessage}
			if want := [3]string{vault.SessionFailed, tc.wantCode, tc.wantMsg}; got != want {
				t.Errorf("session = %q, want %q", got, want)
			}
			if s.ID != start.SessionID || s.Status != vault.SessionFailed {
				t.Errorf("Callback's session = %s %s", s.ID, s.Status)
			}
			if gs, _ := v.Store().ListGrants(t.Context(), app, vault.GrantFilter{}); len(gs) != 0 {
				t.Errorf("a failed connect left %d grants", len(gs))
			}
		})
	}
}

func TestCallbackReplayedState(t *testing.T) {
	e := newEnv(t, fakeoauth.Options{AccessTTL: ttl}, provider{})
	v, app := e.sqlite(t)
	m := e.manager(t, v, nil, "", oauth.Config{})
	start, err := m.StartConnect(t.Context(), oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice"})
	if err != nil {
		t.Fatal(err)
	}
	q := e.authorize(t, start.AuthorizeURL)
	first, err := m.Callback(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Callback(t.Context(), q); !errors.Is(err, oauth.ErrState) {
		t.Fatalf("replayed callback: %v, want ErrState", err)
	}
	polled, err := m.Session(t.Context(), app, start.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if polled.Status != vault.SessionComplete || polled.GrantID != first.GrantID {
		t.Errorf("session after replay = %s %s, want complete %s", polled.Status, polled.GrantID, first.GrantID)
	}
	if n := e.fake.Stats().CodeExchanges; n != 1 {
		t.Errorf("code exchanges = %d, want 1", n)
	}
}

func TestSessionExpiresWhilePending(t *testing.T) {
	e := newEnv(t, fakeoauth.Options{}, provider{})
	v, app := e.sqlite(t)
	m := e.manager(t, v, nil, "", oauth.Config{ConnectTTL: time.Minute})
	start, err := m.StartConnect(t.Context(), oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:alice"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	s, err := m.Session(t.Context(), app, start.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != vault.SessionFailed || s.ErrorCode != "expired" {
		t.Errorf("expired session = %s %s, want failed expired", s.Status, s.ErrorCode)
	}
	// Sessions long expired are swept by a later StartConnect.
	e.clock.Advance(2 * time.Minute)
	if _, err := m.StartConnect(t.Context(), oauth.ConnectRequest{AppID: app, ProviderID: e.prov.ID, Principal: "user:bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Session(t.Context(), app, start.SessionID); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("swept session: %v, want ErrNotFound", err)
	}
	if !strings.HasPrefix(start.AuthorizeURL, e.srv.URL) {
		t.Errorf("authorize URL %s is not the fake's", start.AuthorizeURL)
	}
}
