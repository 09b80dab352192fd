package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Accounts the fake reports for alice's two Slack connections.
const (
	aliceAccount  = "U0E2EALICE"
	aliceAccount2 = "U0E2EALICE2"
)

// TestOAuthSlack walks a user's Slack grant through its life on one
// gatehouse, with the fake authorization server and API under slack.com:
// headless connect, a second connection, calls with curl and Go, refresh
// inside the skew, rotation and the refresh-and-retry after an upstream
// 401, proactive refresh ahead of expiry, a client_credentials grant, and
// revocation at the provider. The subtests run in order and build on each
// other.
//
// Gatehouse shrinks the refresh skew and the proactive window of a
// short-lived token to a quarter and a half of its lifetime (so a token is
// never refreshed right after it was issued); the lifetimes below are
// chosen for that: a 4s token is inside the skew after 3s, an 8s token
// inside the proactive window but not the skew after 4.5s.
func TestOAuthSlack(t *testing.T) {
	t.Parallel()
	g, fake := startSlack(t, slackOptions(time.Hour), nil)
	tn := g.newTenant("acme")
	g.configureSlack("acme")
	client := g.goClient(t, tn.agent.Key)
	var first, second connected
	var firstAccess string
	var secondIssued time.Time

	t.Run("connect headless", func(t *testing.T) {
		n := len(fake.Tokens())
		first = g.connectSlack(t, "acme", "alice", "--agent", "bot")
		if first.Account != aliceAccount {
			t.Errorf("account %q, want %q", first.Account, aliceAccount)
		}
		s := fake.Stats()
		if s.CodeExchanges != 1 || s.TokenCalls != 1 || s.Authorizations != 1 {
			t.Errorf("fake stats %+v, want exactly one authorization and one code exchange", s)
		}
		firstAccess = fake.Tokens()[n]
		got := g.grants("acme")[first.GrantID]
		if got.Status != "active" || got.Account != aliceAccount || got.Principal != "user:alice" || got.ProviderID != "slack" {
			t.Errorf("grant list row %+v", got)
		}
		// The state is single use: replaying the callback changes nothing.
		resp, err := http.Get(first.callback)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("replayed callback: status %d, want 400", resp.StatusCode)
		}
		if s := fake.Stats(); s.CodeExchanges != 1 || s.TokenCalls != 1 {
			t.Errorf("the replayed callback reached the token endpoint: %+v", s)
		}
	})

	t.Run("call with curl and a placeholder", func(t *testing.T) {
		before := fake.Stats().TokenCalls
		r, _, exit, stderr := g.curl(t, []string{"HTTPS_PROXY=" + g.proxyURL(tn.agent.Key)},
			"--cacert", g.caFile(), "-H", "Authorization: Bearer gatehouse_grant_"+first.GrantID,
			"-H", "Gatehouse-Reason: e2e oauth curl", slackAPI)
		if exit != 0 {
			t.Fatalf("curl exit %d: %s", exit, stderr)
		}
		requireSlackOK(t, decodeSlack(t, r), aliceAccount, 1)
		requireDelivered(t, g.up.Last(t), slackHost, "Authorization", "Bearer "+firstAccess)
		if fake.Stats().TokenCalls != before {
			t.Error("a call with a fresh token reached the token endpoint")
		}
	})

	t.Run("call with Go and Gatehouse-Grant", func(t *testing.T) {
		requireSlackOK(t, callSlack(t, client, first.GrantID), aliceAccount, 1)
		requireDelivered(t, g.up.Last(t), slackHost, "Authorization", "Bearer "+firstAccess)
	})

	t.Run("second connection makes a second grant", func(t *testing.T) {
		fake.SetAccount(aliceAccount2)
		second, secondIssued = g.connectWithTTL(t, fake, 4*time.Second, "acme", "alice", "--agent", "bot")
		if second.GrantID == first.GrantID || second.Account != aliceAccount2 {
			t.Fatalf("second connect answered %+v (first grant %s)", second, first.GrantID)
		}
		rows := g.grants("acme")
		if rows[first.GrantID].Status != "active" || rows[first.GrantID].Account != aliceAccount {
			t.Errorf("the first grant changed: %+v", rows[first.GrantID])
		}
		if rows[second.GrantID].Status != "active" || rows[second.GrantID].Account != aliceAccount2 {
			t.Errorf("second grant row %+v", rows[second.GrantID])
		}
		// The first grant still injects its own token.
		requireSlackOK(t, callSlack(t, client, first.GrantID), aliceAccount, 1)
	})

	t.Run("refresh inside the skew", func(t *testing.T) {
		// 3.3s into its 4s life: inside the (1s) skew, still valid upstream.
		waitUntil(t, secondIssued.Add(3300*time.Millisecond))
		before, ups := fake.Stats(), len(apiRequests(g.up))
		n := len(fake.Tokens())
		requireSlackOK(t, callSlack(t, client, second.GrantID), aliceAccount2, 2)
		after := fake.Stats()
		if after.TokenCalls-before.TokenCalls != 1 || after.Refreshes-before.Refreshes != 1 {
			t.Errorf("token calls +%d, refreshes +%d; want one refresh", after.TokenCalls-before.TokenCalls, after.Refreshes-before.Refreshes)
		}
		if got := len(apiRequests(g.up)) - ups; got != 1 {
			t.Errorf("%d API requests reached the upstream, want 1 (the token inside the skew was injected?)", got)
		}
		toks := fake.Tokens()
		if len(toks) != n+2 {
			t.Fatalf("the fake issued %d tokens, want an access and a rotated refresh token", len(toks)-n)
		}
		requireDelivered(t, g.up.Last(t), slackHost, "Authorization", "Bearer "+toks[n])
		// The refreshed token lasts an hour: no second refresh.
		requireSlackOK(t, callSlack(t, client, second.GrantID), aliceAccount2, 2)
		if fake.Stats().TokenCalls != after.TokenCalls {
			t.Error("a fresh token was refreshed again")
		}
	})

	t.Run("upstream 401 refreshes once and retries once with the rotated token", func(t *testing.T) {
		fake.ExpireAccessTokens()
		before, ups := fake.Stats(), len(apiRequests(g.up))
		requireSlackOK(t, callSlack(t, client, second.GrantID), aliceAccount2, 3)
		after := fake.Stats()
		if after.TokenCalls-before.TokenCalls != 1 || after.Refreshes-before.Refreshes != 1 {
			t.Errorf("token calls +%d, refreshes +%d; want exactly one refresh", after.TokenCalls-before.TokenCalls, after.Refreshes-before.Refreshes)
		}
		reqs := apiRequests(g.up)[ups:]
		if len(reqs) != 2 || reqs[0].Header.Get("Authorization") == reqs[1].Header.Get("Authorization") {
			t.Errorf("%d API requests, want the refused one and one retry with a new token", len(reqs))
		}
		// The first grant's refresh token from its code exchange still works.
		requireSlackOK(t, callSlack(t, client, first.GrantID), aliceAccount, 2)
		if s := fake.Stats(); s.ReuseDetected != 0 || s.InvalidGrants != 0 {
			t.Errorf("a consumed refresh token was replayed: %+v", s)
		}
	})

	t.Run("proactive refresh ahead of expiry", func(t *testing.T) {
		fake.SetAccount("U0E2EDAVE")
		dave, issued := g.connectWithTTL(t, fake, 8*time.Second, "acme", "dave", "--agent", "bot")
		// 4.5s into its 8s life: inside the (4s) proactive window, outside
		// the (2s) skew → served as is, and renewed in the background.
		waitUntil(t, issued.Add(4500*time.Millisecond))
		before := fake.Stats()
		requireSlackOK(t, callSlack(t, client, dave.GrantID), "U0E2EDAVE", 1)
		waitFor(t, 10*time.Second, "the background refresh", func() bool { return fake.Stats().Refreshes > before.Refreshes })
		waitFor(t, 10*time.Second, "the refreshed token to be served", func() bool {
			return callSlack(t, client, dave.GrantID).Generation == 2
		})
		after := fake.Stats()
		if after.TokenCalls-before.TokenCalls != 1 || after.APIUnauthorized != before.APIUnauthorized {
			t.Errorf("token calls +%d, API 401s +%d; want one refresh and no refused call",
				after.TokenCalls-before.TokenCalls, after.APIUnauthorized-before.APIUnauthorized)
		}
	})

	t.Run("client credentials", func(t *testing.T) {
		var cc struct {
			GrantID   string `json:"grant_id"`
			Principal string `json:"principal"`
			Status    string `json:"status"`
		}
		g.cliJSON(&cc, "", "grant", "create", "--app", "acme", "--provider", "slack", "--client-credentials")
		if cc.GrantID == "" || cc.Principal != "system" || cc.Status != "active" {
			t.Fatalf("grant create answered %+v", cc)
		}
		if s := fake.Stats(); s.ClientCredentials != 1 {
			t.Errorf("fake minted %d client_credentials tokens, want 1", s.ClientCredentials)
		}
		appKey := g.createKey("acme", "")
		requireSlackOK(t, callSlack(t, g.goClient(t, appKey.Key), cc.GrantID), slackClientID, 1)
	})

	t.Run("revoke", func(t *testing.T) {
		before := fake.Stats()
		families := fake.LiveFamilies()
		var out struct {
			GrantID         string `json:"grant_id"`
			Status          string `json:"status"`
			ProviderRevoked bool   `json:"provider_revoked"`
			ProviderError   string `json:"provider_error"`
		}
		g.cliJSON(&out, "", "grant", "revoke", second.GrantID, "--app", "acme")
		if out.Status != "revoked" || !out.ProviderRevoked || out.ProviderError != "" {
			t.Errorf("grant revoke answered %+v", out)
		}
		if got := fake.Stats().Revocations - before.Revocations; got != 1 {
			t.Errorf("the provider saw %d revocations, want 1", got)
		}
		if fake.LiveFamilies() != families-1 {
			t.Error("the provider still considers the grant's tokens live")
		}
		ups := len(apiRequests(g.up))
		callSlack(t, client, second.GrantID).requireRefusal(t, http.StatusForbidden, "grant_revoked")
		if len(apiRequests(g.up)) != ups {
			t.Error("a call with the revoked grant reached the upstream")
		}
		if g.grants("acme")[second.GrantID].Status != "revoked" {
			t.Error("grant list does not show the grant revoked")
		}
		requireSlackOK(t, callSlack(t, client, first.GrantID), aliceAccount, 2)
	})
}

// TestOAuthReauthRequired: the provider refuses the refresh token
// (invalid_grant) → the call is refused 403 reauth_required with the grant
// id and a connect URL, the expiring token is never injected, the grant is
// needs_reauth with a lifecycle audit event, nothing is retried; connecting
// again for the grant makes it active under the same id.
func TestOAuthReauthRequired(t *testing.T) {
	t.Parallel()
	g, fake := startSlack(t, slackOptions(time.Hour), nil)
	tn := g.newTenant("acme")
	g.configureSlack("acme")
	c, issued := g.connectWithTTL(t, fake, time.Second, "acme", "alice", "--agent", "bot")
	fake.RevokeRefreshTokens()
	client := g.goClient(t, tn.agent.Key)
	waitUntil(t, issued.Add(1100*time.Millisecond)) // the access token expired

	before, ups := fake.Stats(), len(apiRequests(g.up))
	eb := callSlack(t, client, c.GrantID).requireRefusal(t, http.StatusForbidden, "reauth_required")
	if eb["grant_id"] != c.GrantID {
		t.Errorf("grant_id %v, want %s", eb["grant_id"], c.GrantID)
	}
	cu, _ := eb["connect_url"].(string)
	u, err := url.Parse(cu)
	if err != nil || u.Host != g.adminAddr || u.Path != "/v1/connect/slack" || u.Query().Get("grant") != c.GrantID || u.Query().Get("app") == "" {
		t.Errorf("connect_url %q, want http://%s/v1/connect/slack?app=…&grant=%s", cu, g.adminAddr, c.GrantID)
	}
	after := fake.Stats()
	if after.TokenCalls-before.TokenCalls != 1 || after.InvalidGrants-before.InvalidGrants != 1 {
		t.Errorf("token calls +%d, invalid_grant +%d; want one refused refresh, not retried",
			after.TokenCalls-before.TokenCalls, after.InvalidGrants-before.InvalidGrants)
	}
	if len(apiRequests(g.up)) != ups {
		t.Error("the expired token was injected after the refresh failed")
	}
	if st := g.grants("acme")[c.GrantID].Status; st != "needs_reauth" {
		t.Errorf("grant status %q, want needs_reauth", st)
	}
	if ev := g.waitLifecycle("acme", "grant.needs_reauth", c.GrantID); ev.Kind != "admin" {
		t.Errorf("lifecycle event kind %q, want admin", ev.Kind)
	}
	// A needs_reauth grant is refused without asking the provider again.
	callSlack(t, client, c.GrantID).requireRefusal(t, http.StatusForbidden, "reauth_required")
	if fake.Stats().TokenCalls != after.TokenCalls {
		t.Error("a needs_reauth grant went back to the token endpoint")
	}

	re := g.connectSlack(t, "acme", "alice", "--grant", c.GrantID)
	if re.GrantID != c.GrantID {
		t.Errorf("re-consent made grant %s, want the same grant %s", re.GrantID, c.GrantID)
	}
	if st := g.grants("acme")[c.GrantID].Status; st != "active" {
		t.Errorf("after re-consent the grant is %q, want active", st)
	}
	requireSlackOK(t, callSlack(t, client, c.GrantID), aliceAccount, 1)
}

// TestOAuthConsentDenied: the user refuses consent → the callback page
// says so, the CLI exits 1 with the provider's error (access_denied) in
// words, and no grant and no token exist.
func TestOAuthConsentDenied(t *testing.T) {
	t.Parallel()
	g, fake := startSlack(t, slackOptions(time.Hour), nil)
	g.newTenant("acme")
	g.configureSlack("acme")
	fake.DenyConsent(true)
	run := g.startConnect(t, "--app", "acme", "--user", "alice")
	p := visit(t, g.up, run.authorizeURL(t))
	if !strings.HasPrefix(p.url, "http://"+g.adminAddr+"/oauth/callback?") || !strings.Contains(strings.ToLower(p.body), "denied") {
		t.Errorf("the browser ended on %s (status %d) with a page that does not say consent was denied: %s", p.url, p.status, p.body)
	}
	r := run.wait(t)
	if r.code != 1 {
		t.Errorf("connect exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("connect stdout is not one JSON error (%v): %q", err, r.stdout)
	}
	if !strings.Contains(out.Error.Message, "access_denied") || !strings.Contains(out.Error.Message, "denied") ||
		!strings.Contains(r.stderr, out.Error.Message) {
		t.Errorf("the CLI did not report the provider's access_denied in words\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
	if s := fake.Stats(); s.Denials != 1 || s.TokenCalls != 0 {
		t.Errorf("fake stats %+v, want one denial and no token call", s)
	}
	if rows := g.grants("acme"); len(rows) != 0 {
		t.Errorf("a denied consent left grants: %+v", rows)
	}
}

// TestOAuthConnectSessionExpires: a connect session outlives
// oauth.connect_ttl (set to its minimum, 10 seconds) → the CLI gives up
// with exit 1, and the provider's late redirect is refused 400 without
// exchanging the code.
func TestOAuthConnectSessionExpires(t *testing.T) {
	t.Parallel()
	const ttl = 10 * time.Second
	g, fake := startSlack(t, slackOptions(time.Hour), map[string]any{"connect_ttl": ttl.String()})
	g.newTenant("acme")
	g.configureSlack("acme")
	run := g.startConnect(t, "--app", "acme", "--user", "alice")
	authURL := run.authorizeURL(t)
	r := run.waitFor(t, ttl+connectTimeout) // the CLI polls the session until it expired
	if r.code != 1 || !strings.Contains(strings.ToLower(r.stdout+r.stderr), "expire") {
		t.Errorf("connect exit %d, want 1 with a message about expiry\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	p := visit(t, g.up, authURL)
	if !strings.HasPrefix(p.url, "http://"+g.adminAddr+"/oauth/callback?") || p.status != http.StatusBadRequest {
		t.Errorf("late callback: %s answered %d, want 400: %s", p.url, p.status, p.body)
	}
	if s := fake.Stats(); s.CodeExchanges != 0 || s.TokenCalls != 0 {
		t.Errorf("an expired session exchanged its code: %+v", s)
	}
	if rows := g.grants("acme"); len(rows) != 0 {
		t.Errorf("an expired session left grants: %+v", rows)
	}
}

// TestOAuthBrowserFlow: a web app sends the user's browser to
// GET /v1/connect/slack?redirect=true (with the admin token, as a backend
// route would); the browser follows the provider and the callback, then the
// session reports the grant.
func TestOAuthBrowserFlow(t *testing.T) {
	t.Parallel()
	g, fake := startSlack(t, slackOptions(time.Hour), nil)
	g.newTenant("acme")
	g.configureSlack("acme")
	tok, err := os.ReadFile(filepath.Join(g.dataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	admin := "http://" + g.adminAddr
	start := func(q string) *http.Request {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, admin+"/v1/connect/slack?"+q, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		return req
	}

	// Without redirect=true: the session as JSON, then the browser.
	var cs struct {
		SessionID    string    `json:"session_id"`
		AuthorizeURL string    `json:"authorize_url"`
		RedirectURI  string    `json:"redirect_uri"`
		ExpiresAt    time.Time `json:"expires_at"`
	}
	resp, err := http.DefaultClient.Do(start("app=acme&user=bob"))
	if err != nil {
		t.Fatal(err)
	}
	decodeJSON(t, resp, http.StatusOK, &cs)
	if cs.SessionID == "" || cs.RedirectURI != admin+"/oauth/callback" || time.Until(cs.ExpiresAt) <= 0 {
		t.Fatalf("connect start answered %+v", cs)
	}
	au, err := url.Parse(cs.AuthorizeURL)
	if err != nil || au.Host != slackHost || au.Query().Get("client_id") != slackClientID || au.Query().Get("redirect_uri") != cs.RedirectURI || au.Query().Get("state") == "" {
		t.Fatalf("authorize_url %q", cs.AuthorizeURL)
	}
	pending := g.session(t, admin, string(tok), cs.SessionID)
	if pending.Status != "pending" {
		t.Errorf("session before consent: %+v", pending)
	}
	if p := visit(t, g.up, cs.AuthorizeURL); p.status != http.StatusOK {
		t.Fatalf("callback: %d %s", p.status, p.body)
	}
	done := g.session(t, admin, string(tok), cs.SessionID)
	if done.Status != "complete" || done.GrantID == "" || done.Principal != "user:bob" {
		t.Errorf("session after consent: %+v", done)
	}

	// With redirect=true: one browser navigation does it all.
	resp, err = browser(t, g.up).Do(start("app=acme&user=carol&redirect=true"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/oauth/callback" {
		t.Errorf("redirect=true flow ended on %s with %d", resp.Request.URL, resp.StatusCode)
	}
	if s := fake.Stats(); s.CodeExchanges != 2 {
		t.Errorf("%d code exchanges, want 2", s.CodeExchanges)
	}
	principals := map[string]bool{}
	for _, row := range g.grants("acme") {
		principals[row.Principal] = row.Status == "active"
	}
	if !principals["user:bob"] || !principals["user:carol"] {
		t.Errorf("active grants by principal: %v", principals)
	}
}

// sessionView is GET /v1/connect/sessions/{id}.
type sessionView struct {
	Status    string `json:"status"`
	GrantID   string `json:"grant_id"`
	Principal string `json:"principal"`
	ErrorCode string `json:"error_code"`
}

// session reads a connect session through the admin API.
func (g *gatehouse) session(t *testing.T, admin, token, id string) sessionView {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, admin+"/v1/connect/sessions/"+id+"?app=acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v sessionView
	decodeJSON(t, resp, http.StatusOK, &v)
	return v
}
