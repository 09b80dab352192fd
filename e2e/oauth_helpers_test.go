package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/fakeoauth"
	"github.com/gatehouse-dev/gatehouse/internal/fakeupstream"
)

// The Slack OAuth client the tests register; the secret is scanned for.
const (
	slackHost         = "slack.com"
	slackClientID     = "e2e-4242424242.1717171717"
	slackClientSecret = "e2e-slack-client-secret-8d6f4b2a0c9e"
	// slackAPI is a Web API method the fake answers with the token's account
	// and generation.
	slackAPI = "https://slack.com/api/conversations.list"
)

// connectTimeout bounds one whole connect flow (CLI start to grant id).
const connectTimeout = 30 * time.Second

// slackOptions is the fake as Slack's catalog entry describes Slack:
// params client auth, rotating refresh tokens, no PKCE required.
func slackOptions(accessTTL time.Duration) fakeoauth.Options {
	return fakeoauth.Options{
		ClientID:      slackClientID,
		ClientSecret:  slackClientSecret,
		AuthStyle:     fakeoauth.StyleParams,
		AccessTTL:     accessTTL,
		RotateRefresh: true,
		Account:       "U0E2EALICE",
	}
}

// startSlackUpstream starts a fake upstream for the usual provider hosts
// plus slack.com, where the fake authorization server and API answer.
func startSlackUpstream(t *testing.T, opts fakeoauth.Options) (*fakeupstream.Server, *fakeoauth.Server) {
	t.Helper()
	up := fakeupstream.Start(t, append(upstreamHosts(), slackHost)...)
	fake := fakeoauth.New(opts)
	up.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.Host); (err == nil && host == slackHost) || r.Host == slackHost {
			fake.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, okBody)
	}))
	return up, fake
}

// slackExtra is the config that pins every upstream host, slack.com
// included, to up, plus the oauth section (nil: defaults).
func slackExtra(up *fakeupstream.Server, oauthCfg map[string]any) map[string]map[string]any {
	resolve := map[string]string{}
	for _, h := range append(upstreamHosts(), slackHost) {
		resolve[h+":443"] = up.Addr()
	}
	extra := map[string]map[string]any{
		"upstream": {"resolve": resolve, "extra_roots": []string{up.CAFile}},
	}
	if oauthCfg != nil {
		extra["oauth"] = oauthCfg
	}
	return extra
}

// startSlack runs one gatehouse (SQLite) with the Slack fake; every token
// the fake issued is added to the secret scan that runs at cleanup.
func startSlack(t *testing.T, opts fakeoauth.Options, oauthCfg map[string]any) (*gatehouse, *fakeoauth.Server) {
	t.Helper()
	up, fake := startSlackUpstream(t, opts)
	g := startWith(t, up, slackExtra(up, oauthCfg))
	scanTokens(t, fake, g)
	return g, fake
}

// startSlackCluster is startCluster with the Slack fake and an oauth
// section: n replicas on one PostgreSQL schema and one Redis prefix.
func startSlackCluster(t *testing.T, n int, opts fakeoauth.Options, oauthCfg map[string]any) (*cluster, *fakeoauth.Server) {
	t.Helper()
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	up, fake := startSlackUpstream(t, opts)
	c := &cluster{
		schema: "e2e_" + hex.EncodeToString(id),
		prefix: "gatehouse-e2e-" + hex.EncodeToString(id) + ":",
		up:     up,
	}
	t.Cleanup(func() { dropSchema(t, c.schema); deletePrefix(t, c.prefix) })
	shared := t.TempDir()
	extra := slackExtra(up, oauthCfg)
	extra["database"] = map[string]any{"url": testDatabaseURL(), "schema": c.schema}
	extra["redis"] = map[string]any{"url": testRedisURL(), "prefix": c.prefix}
	extra["vault"] = map[string]any{
		"kek_files":   map[string]string{"dev": filepath.Join(shared, "kek-dev.key")},
		"pepper_file": filepath.Join(shared, "pepper.key"),
	}
	for range n {
		g := startWith(t, up, extra)
		scanTokens(t, fake, g)
		c.replicas = append(c.replicas, g)
	}
	for _, g := range c.replicas[1:] {
		g.secrets = c.replicas[0].secrets // every replica's output is scanned for every secret
	}
	return c, fake
}

// scanTokens adds the fake's issued tokens to g's secret scan. Cleanups
// run last-registered first, so this runs before startWith's stop and scan.
func scanTokens(t *testing.T, fake *fakeoauth.Server, g *gatehouse) {
	t.Cleanup(func() {
		for i, tok := range fake.Tokens() {
			g.secrets[fmt.Sprintf("slack token %d", i)] = tok
		}
	})
}

// configureSlack registers the Slack OAuth client for appName (secret from
// a file, as the README shows).
func (g *gatehouse) configureSlack(appName string) {
	g.t.Helper()
	f := filepath.Join(g.t.TempDir(), "slack.secret")
	if err := os.WriteFile(f, []byte(slackClientSecret+"\n"), 0o600); err != nil {
		g.t.Fatal(err)
	}
	g.secrets["slack client secret"] = slackClientSecret
	var view map[string]any
	g.cliJSON(&view, "", "provider", "configure", "slack", "--app", appName, "--client-id", slackClientID, "--client-secret-file", f)
	if strings.Contains(mustJSON(g.t, view), slackClientSecret) {
		g.t.Error("provider configure printed the client secret")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lockedBuffer is a bytes.Buffer safe for a writer process and a reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// connectRun is a `gatehouse connect` process in the background.
type connectRun struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan struct{} // closed once the process exited
}

// startConnect runs `gatehouse connect slack ARGS` against g without a
// browser. It is killed at cleanup if still running.
func (g *gatehouse) startConnect(t *testing.T, args ...string) *connectRun {
	t.Helper()
	full := append([]string{"--server", "http://" + g.adminAddr, "--data-dir", g.dataDir, "--output", "json",
		"connect", "slack", "--no-browser"}, args...)
	cmd := exec.Command(binary, full...)
	cmd.Dir = g.root
	cmd.Env = append(cleanEnv(), "DISPLAY=", "WAYLAND_DISPLAY=", "BROWSER=/bin/false")
	r := &connectRun{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// authorizeURLPattern finds the authorization URL the CLI prints.
var authorizeURLPattern = regexp.MustCompile(`https://slack\.com/oauth/v2/authorize\?[^\s"'<>]+`)

// authorizeURL polls the CLI's stderr until it printed the authorization
// URL; it fails if the process exits first or the deadline passes.
func (r *connectRun) authorizeURL(t *testing.T) string {
	t.Helper()
	deadline := time.NewTimer(connectTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if u := authorizeURLPattern.FindString(r.stderr.String()); u != "" {
			return u
		}
		select {
		case <-r.done:
			if u := authorizeURLPattern.FindString(r.stderr.String()); u != "" {
				return u
			}
			t.Fatalf("connect exited (%v) without printing an authorization URL\nstdout: %s\nstderr: %s",
				r.cmd.ProcessState, r.stdout.String(), r.stderr.String())
		case <-deadline.C:
			t.Fatalf("connect printed no authorization URL within %s\nstderr: %s", connectTimeout, r.stderr.String())
		case <-tick.C:
		}
	}
}

// wait waits for the CLI to exit (within connectTimeout) and returns its
// result.
func (r *connectRun) wait(t *testing.T) cliResult {
	t.Helper()
	return r.waitFor(t, connectTimeout)
}

// waitFor is wait with its own bound.
func (r *connectRun) waitFor(t *testing.T, timeout time.Duration) cliResult {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		t.Fatalf("connect did not exit within %s\nstdout: %s\nstderr: %s", timeout, r.stdout.String(), r.stderr.String())
	}
	return cliResult{stdout: r.stdout.String(), stderr: r.stderr.String(), code: r.cmd.ProcessState.ExitCode()}
}

// browser is an HTTP client acting as the user's browser: slack.com goes
// to the fake (trusting its CA), everything else (the admin callback on
// loopback) is dialed as addressed; redirects are followed.
func browser(t *testing.T, up *fakeupstream.Server) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(up.CAPEM) {
		t.Fatal("fake upstream CA does not parse")
	}
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == slackHost+":443" {
				addr = up.Addr()
			}
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: clientTimeout}
}

// page is what the browser ended on.
type page struct {
	status int
	url    string // the final URL, after redirects
	body   string
}

// visit GETs rawURL with the browser, following redirects.
func visit(t *testing.T, up *fakeupstream.Server, rawURL string) page {
	t.Helper()
	resp, err := browser(t, up).Get(rawURL)
	if err != nil {
		t.Fatalf("browser GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{status: resp.StatusCode, url: resp.Request.URL.String(), body: string(b)}
}

// connected is `gatehouse connect --output json` on success.
type connected struct {
	GrantID    string `json:"grant_id"`
	Account    string `json:"account"`
	ProviderID string `json:"provider_id"`
	Principal  string `json:"principal"`
	SessionID  string `json:"session_id"`
	callback   string // the callback URL the browser was sent to
}

// connectSlack runs the headless connect flow for user with extra CLI
// flags, acting as the browser, and returns the CLI's result.
func (g *gatehouse) connectSlack(t *testing.T, appName, user string, extra ...string) connected {
	t.Helper()
	run := g.startConnect(t, append([]string{"--app", appName, "--user", user}, extra...)...)
	p := visit(t, g.up, run.authorizeURL(t))
	if p.status != http.StatusOK || !strings.HasPrefix(p.url, "http://"+g.adminAddr+"/oauth/callback?") {
		t.Fatalf("the browser ended on %s with status %d, want 200 on the callback: %s", p.url, p.status, p.body)
	}
	r := run.wait(t)
	if r.code != 0 {
		t.Fatalf("connect: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var c connected
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("connect stdout is not the expected JSON (%v): %q", err, r.stdout)
	}
	if c.GrantID == "" || c.ProviderID != "slack" || c.Principal != "user:"+user || c.SessionID == "" {
		t.Fatalf("connect answered %+v", c)
	}
	if !strings.Contains(p.body, c.GrantID) {
		t.Errorf("the callback page does not name grant %s: %s", c.GrantID, p.body)
	}
	c.callback = p.url
	return c
}

// connectWithTTL is connectSlack while the fake issues access tokens that
// live ttl; it returns when the fake issued the code exchange's token (the
// OnTokenIssued hook), which is when that token's lifetime starts at
// Gatehouse too (give or take the response's trip). Later tokens live an
// hour.
func (g *gatehouse) connectWithTTL(t *testing.T, fake *fakeoauth.Server, ttl time.Duration, appName, user string, extra ...string) (connected, time.Time) {
	t.Helper()
	var (
		mu     sync.Mutex
		issued time.Time
	)
	fake.OnTokenIssued(func(kind string) {
		if kind == fakeoauth.IssuedCode {
			mu.Lock()
			issued = time.Now()
			mu.Unlock()
		}
	})
	fake.SetAccessTTL(ttl)
	c := g.connectSlack(t, appName, user, extra...)
	fake.SetAccessTTL(time.Hour)
	fake.OnTokenIssued(nil)
	mu.Lock()
	defer mu.Unlock()
	if issued.IsZero() {
		t.Fatal("the fake issued no token for the connect")
	}
	return c, issued
}

// waitUntil blocks until the wall clock reaches at. It is not
// synchronisation with another process: Gatehouse runs on the real clock,
// and a token's lifetime passing is the very condition under test.
func waitUntil(t *testing.T, at time.Time) {
	t.Helper()
	if d := time.Until(at); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-t.Context().Done():
			t.Fatal("test cancelled while waiting for a token to expire")
		}
	}
}

// slackReply is the fake Slack API's answer through the proxy.
type slackReply struct {
	reply
	OK         bool   `json:"ok"`
	Account    string `json:"account"`
	Generation int    `json:"token_generation"`
	Error      string `json:"error"`
}

// callSlack sends GET slackAPI through c naming grant with Gatehouse-Grant.
func callSlack(t *testing.T, c *http.Client, grantID string) slackReply {
	t.Helper()
	return decodeSlack(t, goDo(t, c, http.MethodGet, slackAPI, http.Header{"Gatehouse-Grant": {grantID}}))
}

func decodeSlack(t *testing.T, r reply) slackReply {
	t.Helper()
	out := slackReply{reply: r}
	if r.status == http.StatusOK || r.status == http.StatusUnauthorized {
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatalf("status %d: body is not the fake API's JSON: %q", r.status, r.body)
		}
	}
	return out
}

// requireSlackOK checks a 200 from the fake API for account at generation.
func requireSlackOK(t *testing.T, r slackReply, account string, generation int) {
	t.Helper()
	if r.status != http.StatusOK || !r.OK || r.Account != account || r.Generation != generation {
		t.Fatalf("status %d ok %t account %q generation %d, want 200 for %s at generation %d: %s",
			r.status, r.OK, r.Account, r.Generation, account, generation, r.body)
	}
	if r.requestID() == "" {
		t.Error("no Gatehouse-Request-Id on the response")
	}
}

// apiRequests is what the fake upstream received for the Slack Web API
// (token and revoke endpoint calls excluded).
func apiRequests(up *fakeupstream.Server) []fakeupstream.Request {
	var out []fakeupstream.Request
	for _, r := range up.Requests() {
		if r.Host == slackHost && r.Path != fakeoauth.DefaultTokenPath && r.Path != fakeoauth.DefaultRevokePath && r.Path != fakeoauth.DefaultAuthorizePath {
			out = append(out, r)
		}
	}
	return out
}

// oauthGrant is a row of `grant list --output json`.
type oauthGrant struct {
	GrantID    string `json:"grant_id"`
	Status     string `json:"status"`
	ProviderID string `json:"provider_id"`
	Principal  string `json:"principal"`
	Account    string `json:"account"`
}

// grants lists appName's grants by id.
func (g *gatehouse) grants(appName string) map[string]oauthGrant {
	g.t.Helper()
	var rows []oauthGrant
	g.cliJSON(&rows, "", "grant", "list", "--app", appName)
	out := map[string]oauthGrant{}
	for _, r := range rows {
		out[r.GrantID] = r
	}
	return out
}

// lifecycleEvent is the part of an admin audit event these tests read.
type lifecycleEvent struct {
	Kind    string `json:"kind"`
	Action  string `json:"action"`
	GrantID string `json:"grant_id"`
	Actor   string `json:"actor"`
}

// waitLifecycle polls `audit list` until an event with action for grantID
// appears.
func (g *gatehouse) waitLifecycle(appName, action, grantID string) lifecycleEvent {
	g.t.Helper()
	deadline := time.Now().Add(auditTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		raw, _ := g.auditList(appName)
		var rows []lifecycleEvent
		if err := json.Unmarshal([]byte(raw), &rows); err != nil {
			g.t.Fatal(err)
		}
		for _, r := range rows {
			if r.Action == action && r.GrantID == grantID {
				return r
			}
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("after %s no %s event for grant %s among %d: %s", auditTimeout, action, grantID, len(rows), raw)
		}
		<-tick.C
	}
}

// credentialVersion reads the version of grantID's credential straight
// from PostgreSQL.
func credentialVersion(ctx context.Context, conn *pgx.Conn, schema, grantID string) (int64, error) {
	var v int64
	err := conn.QueryRow(ctx, "SELECT c.version FROM "+pgx.Identifier{schema, "credentials"}.Sanitize()+" AS c JOIN "+
		pgx.Identifier{schema, "grants"}.Sanitize()+" AS g ON g.credential_id = c.id WHERE g.id = $1", grantID).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, errors.New("grant " + grantID + " has no credential row")
	}
	return v, err
}

// waitFor polls cond on a ticker until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("%s: not within %s", what, timeout)
		case <-tick.C:
		}
	}
}

// decodeJSON requires status and decodes the body into v.
func decodeJSON(t *testing.T, resp *http.Response, status int, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: body is not the expected JSON (%v): %s", resp.Request.URL.Path, err, b)
	}
}
