package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/fakeoauth"
	"github.com/gatehouse-dev/gatehouse/internal/fakeupstream"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// Credentials of the fake authorization server's registered client.
const (
	fakeClientID     = "123.456"
	fakeClientSecret = "fake-client-secret"
	fakeAccount      = "U0FAKE"
)

// oauthFixture is a running server whose Slack is a fake authorization
// server (under the real hostname, through upstream.resolve and
// upstream.extra_roots) and a "browser" that reaches both.
type oauthFixture struct {
	t       *testing.T
	srv     *server
	as      *fakeoauth.Server
	browser *http.Client
	base    []string // --data-dir and --server
}

func newOAuthFixture(t *testing.T) *oauthFixture {
	t.Helper()
	clearGatehouseEnv(t)
	as := fakeoauth.New(fakeoauth.Options{ClientID: fakeClientID, ClientSecret: fakeClientSecret,
		AccessTTL: time.Hour, RotateRefresh: true, Account: fakeAccount})
	up := fakeupstream.Start(t, "slack.com")
	up.Handle(as)

	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := testConfig(t, dataDir)
	cfg.Upstream.Resolve = map[string]string{"slack.com:443": up.Addr()}
	cfg.Upstream.ExtraRoots = []string{up.CAFile}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, _ := startServer(t, cfg)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(up.CAPEM)
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == "slack.com:443" {
				addr = up.Addr()
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &oauthFixture{t: t, srv: s, as: as, browser: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		base: []string{"--data-dir", dataDir, "--server", s.adminURL()}}
}

// args prefixes the fixture's --data-dir and --server.
func (f *oauthFixture) args(a ...string) []string { return append(append([]string{}, f.base...), a...) }

// consent plays the user's browser: it opens the authorization URL, which
// the fake server answers with a redirect to /oauth/callback, and follows
// it. It returns the callback page.
func (f *oauthFixture) consent(t *testing.T, authorizeURL string) (int, string) {
	t.Helper()
	resp, err := f.browser.Get(authorizeURL)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.Request.URL.Path != "/oauth/callback" {
		t.Fatalf("the browser ended at %s, not the callback; body %s", resp.Request.URL, body)
	}
	return resp.StatusCode, string(body)
}

// urlWatcher is a goroutine-safe stderr that hands out the URL of the
// first "Open this URL to connect …: URL" line.
type urlWatcher struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	urls chan string
	sent bool
}

func newURLWatcher() *urlWatcher { return &urlWatcher{urls: make(chan string, 1)} }

func (w *urlWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		for line := range strings.SplitSeq(w.buf.String(), "\n") {
			if _, u, ok := strings.Cut(line, "Open this URL to connect slack: "); ok && strings.HasPrefix(u, "https://") {
				w.urls <- u
				w.sent = true
				break
			}
		}
	}
	return len(p), nil
}

func (w *urlWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// connectRun is a `gatehouse -o json connect …` running in the background.
type connectRun struct {
	stderr *urlWatcher
	stdout bytes.Buffer
	done   chan struct{}
	code   int
}

// startConnect starts `gatehouse -o json connect args…`.
func (f *oauthFixture) startConnect(args ...string) *connectRun {
	c := &connectRun{stderr: newURLWatcher(), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.code = run(f.t.Context(), f.args(append([]string{"-o", "json", "connect"}, args...)...), strings.NewReader(""), &c.stdout, c.stderr, "test")
	}()
	return c
}

// wait returns the command's result once it exits.
func (c *connectRun) wait() result {
	<-c.done
	return result{code: c.code, stdout: c.stdout.String(), stderr: c.stderr.String()}
}

// authorizeURL waits for the connect command to print its URL; a command
// that exits first fails the test.
func (f *oauthFixture) authorizeURL(t *testing.T, c *connectRun) string {
	t.Helper()
	select {
	case u := <-c.stderr.urls:
		return u
	case <-c.done:
	}
	r := c.wait()
	t.Fatalf("connect printed no URL: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	return ""
}

func TestOAuthCommands(t *testing.T) {
	f := newOAuthFixture(t)
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	ghJSON(t, 0, nil, "", f.args("app", "create", "demo")...)
	ghJSON(t, 0, nil, "", f.args("app", "create", "other")...)
	ghJSON(t, 0, nil, "", f.args("agent", "create", "bot", "--app", "demo")...)
	ghJSON(t, 0, nil, "", f.args("agent", "create", "helper", "--app", "demo")...)
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte(fakeClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("provider configure", func(t *testing.T) {
		var s providerSettings
		r := ghJSON(t, 0, &s, fakeClientSecret+"\n", f.args("provider", "configure", "slack", "--app", "demo",
			"--client-id", fakeClientID, "--client-secret-stdin", "--scopes", "chat:write,users:read")...)
		want := providerSettings{ProviderID: "slack", ClientID: fakeClientID, HasClientSecret: true, Scopes: []string{"chat:write", "users:read"}}
		got := providerSettings{ProviderID: s.ProviderID, ClientID: s.ClientID, HasClientSecret: s.HasClientSecret, Scopes: s.Scopes}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("settings (-want +got):\n%s", diff)
		}
		if strings.Contains(r.stdout+r.stderr, fakeClientSecret) {
			t.Error("the client secret was printed")
		}
		// From a file, replacing the first.
		ghJSON(t, 0, &s, "", f.args("provider", "configure", "slack", "--app", "demo", "--client-id", fakeClientID, "--client-secret-file", secretFile)...)
		if !s.HasClientSecret || len(s.Scopes) != 0 {
			t.Errorf("after reconfiguring: %+v", s)
		}
		_, stored, err := f.srv.vault.OAuthClient(t.Context(), s.AppID, "slack")
		if err != nil || stored != fakeClientSecret {
			t.Errorf("stored secret differs from the file (err %v)", err)
		}
		// Text output.
		r = gh(t, "", f.args("provider", "configure", "github", "--app", "other", "--client-id", "Iv1.x", "--public-client")...)
		if r.code != 0 || !strings.Contains(r.stdout, "none (public client)") {
			t.Errorf("text configure: %d %q %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("provider show with settings", func(t *testing.T) {
		var shown struct {
			ID       string            `json:"id"`
			Hosts    []string          `json:"hosts"`
			Settings *providerSettings `json:"settings"`
		}
		ghJSON(t, 0, &shown, "", f.args("provider", "show", "slack", "--app", "demo")...)
		if shown.ID != "slack" || len(shown.Hosts) == 0 || shown.Settings == nil || shown.Settings.ClientID != fakeClientID {
			t.Errorf("show --app demo = %+v", shown)
		}
		ghJSON(t, 0, &shown, "", f.args("provider", "show", "slack", "--app", "other")...)
		if shown.Settings != nil {
			t.Errorf("other app shows settings %+v", shown.Settings)
		}
		r := gh(t, "", f.args("provider", "show", "slack", "--app", "demo")...)
		if r.code != 0 || !strings.Contains(r.stdout, "oauth client id") || !strings.Contains(r.stdout, fakeClientID) {
			t.Errorf("text show: %q", r.stdout)
		}
	})

	var connected connectResult
	t.Run("connect", func(t *testing.T) {
		c := f.startConnect("slack", "--app", "demo", "--user", "alice", "--agent", "bot", "--poll-interval", "20ms")
		status, page := f.consent(t, f.authorizeURL(t, c))
		if status != http.StatusOK || !strings.Contains(page, "Connected Slack") || !strings.Contains(page, fakeAccount) {
			t.Errorf("callback page %d:\n%s", status, page)
		}
		r := c.wait()
		if r.code != 0 {
			t.Fatalf("connect: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
		if err := json.Unmarshal([]byte(r.stdout), &connected); err != nil {
			t.Fatalf("connect stdout %q: %v", r.stdout, err)
		}
		want := connectResult{GrantID: connected.GrantID, Account: fakeAccount, ProviderID: "slack",
			Principal: "user:alice", SessionID: connected.SessionID, Agent: "bot"}
		if diff := cmp.Diff(want, connected); diff != "" || !vault.IsCanonicalUUID(connected.GrantID) || connected.SessionID == "" {
			t.Errorf("connect result (-want +got):\n%s", diff)
		}
		var ds []delegationAnswer
		ghJSON(t, 0, &ds, "", f.args("grant", "delegations", "--app", "demo", "--grant", connected.GrantID)...)
		if len(ds) != 1 || ds[0].Agent != "bot" {
			t.Errorf("delegations of the new grant: %+v", ds)
		}
	})

	t.Run("connect: re-consent keeps the grant", func(t *testing.T) {
		f.as.SetAccount("U0OTHER")
		defer f.as.SetAccount(fakeAccount)
		c := f.startConnect("slack", "--app", "demo", "--grant", connected.GrantID, "--no-browser", "--poll-interval", "20ms")
		f.consent(t, f.authorizeURL(t, c))
		r := c.wait()
		var again connectResult
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &again) != nil {
			t.Fatalf("connect --grant: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
		if again.GrantID != connected.GrantID || again.Principal != "user:alice" || again.Account != "U0OTHER" {
			t.Errorf("re-consent %+v, want grant %s of user:alice with the new account", again, connected.GrantID)
		}
	})

	t.Run("connect opens a browser when a display is set", func(t *testing.T) {
		bin := t.TempDir()
		opened := filepath.Join(t.TempDir(), "opened")
		script := "#!/bin/sh\nprintf '%s' \"$1\" > '" + opened + "'\n"
		if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		t.Setenv("DISPLAY", ":99")
		c := f.startConnect("slack", "--app", "demo", "--user", "bob", "--poll-interval", "20ms")
		u := f.authorizeURL(t, c)
		f.consent(t, u)
		if r := c.wait(); r.code != 0 {
			t.Fatalf("connect: exit %d %s", r.code, r.stderr)
		}
		got, err := os.ReadFile(opened)
		if err != nil || string(got) != u {
			t.Errorf("xdg-open got %q (err %v), want %q", got, err, u)
		}
	})

	t.Run("connect: consent denied", func(t *testing.T) {
		f.as.DenyConsent(true)
		defer f.as.DenyConsent(false)
		c := f.startConnect("slack", "--app", "demo", "--user", "carol", "--no-browser", "--poll-interval", "20ms")
		status, page := f.consent(t, f.authorizeURL(t, c))
		if status != http.StatusBadGateway || !strings.Contains(page, "denied") {
			t.Errorf("callback page %d:\n%s", status, page)
		}
		r := c.wait()
		if r.code != exitError || errorCode(t, r) != codeProviderError || !strings.Contains(r.stderr, "connecting slack failed") ||
			!strings.Contains(r.stderr, "denied") {
			t.Errorf("exit %d stderr %q", r.code, r.stderr)
		}
	})

	t.Run("connect: timeout", func(t *testing.T) {
		c := f.startConnect("slack", "--app", "demo", "--user", "dave", "--no-browser", "--timeout", "150ms", "--poll-interval", "20ms")
		f.authorizeURL(t, c)
		r := c.wait()
		if r.code != exitError || errorCode(t, r) != codeTimeout || !strings.Contains(r.stderr, "gave up after 150ms") {
			t.Errorf("exit %d stderr %q", r.code, r.stderr)
		}
	})

	failures := []struct {
		name  string
		args  []string
		stdin string
		exit  int
		code  string
		msg   string
	}{
		{"configure: unknown provider", []string{"provider", "configure", "nope", "--app", "demo", "--client-id", "x", "--public-client"}, "", exitNotFound, codeNotFound, "not in the catalog"},
		{"configure: api-key provider", []string{"provider", "configure", "openai", "--app", "demo", "--client-id", "x", "--public-client"}, "", exitUsage, codeInvalidRequest, "does not accept OAuth2"},
		{"configure: unknown app", []string{"provider", "configure", "slack", "--app", "nope", "--client-id", "x", "--public-client"}, "", exitNotFound, codeNotFound, `app "nope"`},
		{"configure: no secret source", []string{"provider", "configure", "slack", "--app", "demo", "--client-id", "x"}, "", exitUsage, codeUsage, "exactly one of"},
		{"configure: two secret sources", []string{"provider", "configure", "slack", "--app", "demo", "--client-id", "x", "--public-client", "--client-secret-stdin"}, "s", exitUsage, codeUsage, "exactly one of"},
		{"configure: empty secret", []string{"provider", "configure", "slack", "--app", "demo", "--client-id", "x", "--client-secret-stdin"}, "\n", exitUsage, codeUsage, "is empty"},
		{"configure: no client id", []string{"provider", "configure", "slack", "--app", "demo", "--public-client"}, "", exitUsage, codeUsage, "--client-id is required"},
		{"configure: bad token", []string{"--token", "gatehouse_admin_wrong", "provider", "configure", "slack", "--app", "demo", "--client-id", "x", "--public-client"}, "", exitAuth, codeUnauthorized, "admin token"},
		{"show: unknown app", []string{"provider", "show", "slack", "--app", "nope"}, "", exitNotFound, codeNotFound, `app "nope"`},
		{"connect: not configured", []string{"connect", "github", "--app", "demo", "--user", "alice", "--no-browser"}, "", exitConflict, codeConflict, "gatehouse provider configure"},
		{"connect: no user", []string{"connect", "slack", "--app", "demo", "--no-browser"}, "", exitUsage, codeUsage, "--user"},
		{"connect: user and principal", []string{"connect", "slack", "--app", "demo", "--user", "a", "--principal", "system"}, "", exitUsage, codeUsage, "not both"},
		{"connect: unknown agent", []string{"connect", "slack", "--app", "demo", "--user", "alice", "--agent", "ghost", "--no-browser"}, "", exitNotFound, codeNotFound, `agent "ghost"`},
		{"connect: api-key provider", []string{"connect", "openai", "--app", "demo", "--user", "alice", "--no-browser"}, "", exitUsage, codeInvalidRequest, "does not accept OAuth2"},
		{"connect: bad timeout", []string{"connect", "slack", "--app", "demo", "--user", "alice", "--timeout", "0s"}, "", exitUsage, codeUsage, "--timeout"},
		{"grant create: no --client-credentials", []string{"grant", "create", "--app", "demo", "--provider", "slack"}, "", exitUsage, codeUsage, "--client-credentials"},
		{"grant create: not configured", []string{"grant", "create", "--app", "other", "--provider", "slack", "--client-credentials"}, "", exitConflict, codeConflict, "gatehouse provider configure"},
		{"grant create: api-key provider", []string{"grant", "create", "--app", "demo", "--provider", "openai", "--client-credentials"}, "", exitUsage, codeInvalidRequest, "OAuth2"},
		{"delegate: unknown grant", []string{"grant", "delegate", "0190b5b2-0000-7000-8000-000000000000", "--app", "demo", "--agent", "bot"}, "", exitNotFound, codeNotFound, "grant"},
		{"delegate: no agent", []string{"grant", "delegate", "0190b5b2-0000-7000-8000-000000000000", "--app", "demo"}, "", exitUsage, codeUsage, "--agent is required"},
		{"undelegate: unknown", []string{"grant", "undelegate", "0190b5b2-0000-7000-8000-000000000000", "--app", "demo"}, "", exitNotFound, codeNotFound, "delegation"},
		{"unconfigure: not configured", []string{"provider", "unconfigure", "github", "--app", "demo"}, "", exitNotFound, codeNotFound, "not found"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			r := ghJSON(t, tt.exit, nil, tt.stdin, f.args(tt.args...)...)
			if got := errorCode(t, r); got != tt.code {
				t.Errorf("code %q, want %q", got, tt.code)
			}
			if !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tt.msg)
			}
		})
	}

	t.Run("client credentials grant", func(t *testing.T) {
		var g grantAnswer
		ghJSON(t, 0, &g, "", f.args("grant", "create", "--app", "demo", "--provider", "slack", "--client-credentials", "--principal", "agent:bot")...)
		if !vault.IsCanonicalUUID(g.ID) || g.Principal != "agent:bot" || g.Status != vault.StatusActive || g.ProviderID != "slack" {
			t.Errorf("grant %+v", g)
		}
		if n := f.as.Stats().ClientCredentials; n != 1 {
			t.Errorf("the token endpoint minted %d client_credentials tokens, want 1", n)
		}
	})

	t.Run("delegations", func(t *testing.T) {
		var d delegationAnswer
		ghJSON(t, 0, &d, "", f.args("grant", "delegate", connected.GrantID, "--app", "demo", "--agent", "helper")...)
		if d.Agent != "helper" || d.GrantID != connected.GrantID {
			t.Errorf("delegation %+v", d)
		}
		r := ghJSON(t, exitConflict, nil, "", f.args("grant", "delegate", connected.GrantID, "--app", "demo", "--agent", "helper")...)
		if errorCode(t, r) != codeConflict {
			t.Errorf("second delegation: %q", r.stderr)
		}
		var ds []delegationAnswer
		ghJSON(t, 0, &ds, "", f.args("grant", "delegations", "--app", "demo", "--agent", "helper")...)
		if len(ds) != 1 || ds[0].ID != d.ID {
			t.Errorf("helper's delegations %+v", ds)
		}
		if r := gh(t, "", f.args("grant", "delegations", "--app", "demo")...); r.code != 0 || !strings.Contains(r.stdout, "DELEGATION ID") ||
			!strings.Contains(r.stdout, "helper") || !strings.Contains(r.stdout, "bot") {
			t.Errorf("text delegations: %q", r.stdout)
		}
		ghJSON(t, 0, nil, "", f.args("grant", "undelegate", d.ID, "--app", "demo")...)
		r = ghJSON(t, exitNotFound, nil, "", f.args("grant", "undelegate", d.ID, "--app", "demo")...)
		if errorCode(t, r) != codeNotFound {
			t.Errorf("second undelegate: %q", r.stderr)
		}
	})

	t.Run("revoke an oauth grant", func(t *testing.T) {
		before := f.as.Stats().Revocations
		var rv revokedAnswer
		ghJSON(t, 0, &rv, "", f.args("grant", "revoke", connected.GrantID, "--app", "demo")...)
		if rv.Status != vault.StatusRevoked || rv.ProviderRevoked == nil || !*rv.ProviderRevoked || rv.ProviderError != "" {
			t.Errorf("revoke answer %+v (provider_revoked %v)", rv, rv.ProviderRevoked)
		}
		if got := f.as.Stats().Revocations - before; got != 1 {
			t.Errorf("the provider saw %d revocations, want 1", got)
		}
	})

	t.Run("provider unconfigure", func(t *testing.T) {
		r := gh(t, "", f.args("provider", "unconfigure", "slack", "--app", "demo")...)
		if r.code != 0 || !strings.Contains(r.stdout, fakeClientID) {
			t.Errorf("unconfigure: %d %q %q", r.code, r.stdout, r.stderr)
		}
		r = ghJSON(t, exitNotFound, nil, "", f.args("provider", "unconfigure", "slack", "--app", "demo")...)
		if errorCode(t, r) != codeNotFound {
			t.Errorf("second unconfigure: %q", r.stderr)
		}
	})
}
