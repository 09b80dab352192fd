package oauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/internal/fakeoauth"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
	"github.com/gatehouse-dev/gatehouse/vault/storetest"
)

// TestMain fails the package if a test leaves a goroutine behind (background
// refreshes, lease waits, pools).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	clientID     = "client-123"
	clientSecret = "s3cret/with+odd&chars"
	redirectURL  = "https://gatehouse.example:8081/oauth/callback"
	account      = "U0123ABC"
)

// clock is an injectable clock shared by the vault, the managers and the
// fake authorization server; it moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// provider is the catalog entry written for the fake server.
type provider struct {
	ID           string
	AuthStyle    string // params (default) | header
	PKCE         bool
	NoRevoke     bool
	Lifetime     string // default_lifetime
	AccountField string // default authed_user.id
	ExtraParams  string // YAML flow map, e.g. "{prompt: consent}"
	NoRotation   bool   // rotating_refresh: false
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventLog collects audit events.
type eventLog struct {
	mu     sync.Mutex
	events []audit.Event
}

func (l *eventLog) record(e audit.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) all() []audit.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]audit.Event(nil), l.events...)
}

// gate holds token endpoint requests until n have arrived, once armed: it
// makes two refreshes overlap without timing assumptions.
type gate struct {
	h       http.Handler
	armed   atomic.Bool
	n       int
	mu      sync.Mutex
	arrived int
	open    chan struct{}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.armed.Load() && r.URL.Path == fakeoauth.DefaultTokenPath {
		g.mu.Lock()
		g.arrived++
		if g.arrived == g.n {
			close(g.open)
		}
		g.mu.Unlock()
		select {
		case <-g.open:
		case <-r.Context().Done():
			return
		}
	}
	g.h.ServeHTTP(w, r)
}

// env is a fake authorization server over TLS, a catalog naming it, and
// the keys every replica shares.
type env struct {
	clock  *clock
	fake   *fakeoauth.Server
	gate   *gate
	srv    *httptest.Server
	cat    *catalog.Catalog
	prov   provider
	keys   *vault.Keyring
	pepper []byte
	events *eventLog
	logs   *syncBuffer

	// Set by tests whose table closures need them.
	v     *vault.Vault
	appID string
}

// reconfigure replaces the app's client secret (e.v, e.appID).
func (e *env) reconfigure(t *testing.T, secret string) {
	t.Helper()
	if _, err := e.v.ConfigureProvider(t.Context(), e.appID, e.prov.ID, clientID, secret, nil); err != nil {
		t.Fatal(err)
	}
}

func newEnv(t *testing.T, fo fakeoauth.Options, p provider) *env {
	t.Helper()
	e := &env{
		clock:  &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		prov:   p,
		pepper: randomBytes(t, 32),
		events: &eventLog{},
		logs:   &syncBuffer{},
	}
	if e.prov.ID == "" {
		e.prov.ID = "fakeslack"
	}
	if e.prov.AuthStyle == "" {
		e.prov.AuthStyle = "params"
	}
	if e.prov.AccountField == "" {
		e.prov.AccountField = "authed_user.id"
	}
	fo.ClientID, fo.ClientSecret, fo.AuthStyle = clientID, clientSecret, e.prov.AuthStyle
	if fo.Account == "" {
		fo.Account = account
	}
	fo.Now = e.clock.Now
	e.fake = fakeoauth.New(fo)
	e.gate = &gate{h: e.fake, n: 2, open: make(chan struct{})}
	e.srv = httptest.NewTLSServer(e.gate)
	t.Cleanup(e.srv.Close)
	e.cat = e.catalog(t)
	keys, err := vault.NewKeyring("k1", map[string][]byte{"k1": randomBytes(t, vault.KEKSize)})
	if err != nil {
		t.Fatal(err)
	}
	e.keys = keys
	t.Cleanup(func() { e.noSecrets(t) })
	return e
}

// catalog loads the embedded catalog plus the fake provider.
func (e *env) catalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	p := e.prov
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nname: Fake %s\ncredentials: [oauth2]\nhosts: [api.%s.test]\n", p.ID, p.ID, p.ID)
	b.WriteString("inject: {header: Authorization, value: \"Bearer {{.Token}}\"}\noauth:\n")
	fmt.Fprintf(&b, "  authorize_url: %s%s\n  token_url: %s%s\n", e.srv.URL, fakeoauth.DefaultAuthorizePath, e.srv.URL, fakeoauth.DefaultTokenPath)
	if !p.NoRevoke {
		fmt.Fprintf(&b, "  revoke_url: %s%s\n", e.srv.URL, fakeoauth.DefaultRevokePath)
	}
	fmt.Fprintf(&b, "  scopes: [chat:write, channels:read]\n  pkce: %t\n  auth_style: %s\n  rotating_refresh: %t\n", p.PKCE, p.AuthStyle, !p.NoRotation)
	fmt.Fprintf(&b, "  account_field: %s\n", p.AccountField)
	if p.Lifetime != "" {
		fmt.Fprintf(&b, "  default_lifetime: %s\n", p.Lifetime)
	}
	if p.ExtraParams != "" {
		fmt.Fprintf(&b, "  extra_params: %s\n", p.ExtraParams)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, p.ID+".yaml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Load(dir)
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	return c
}

// replica is one Gatehouse replica: a Vault and a Manager.
type replica struct {
	v *vault.Vault
	m *oauth.Manager
}

// sqlite returns a Vault over a fresh SQLite store with the app "acme"
// configured for the fake provider.
func (e *env) sqlite(t *testing.T) (*vault.Vault, string) {
	t.Helper()
	s, err := vault.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	v := e.vault(t, s)
	return v, e.app(t, v)
}

// postgres returns n Vaults, each on its own pool, over one fresh
// PostgreSQL schema (n replicas sharing a database), and the app id.
func (e *env) postgres(t *testing.T, n int) ([]*vault.Vault, string) {
	t.Helper()
	dbURL, schema := storetest.PostgresSchema(t)
	opts := vault.PostgresOptions{Schema: schema, MaxConns: 4}
	if err := vault.MigratePostgres(t.Context(), dbURL, opts); err != nil {
		t.Fatalf("MigratePostgres: %v", err)
	}
	var vs []*vault.Vault
	for range n {
		p, err := vault.OpenPostgres(t.Context(), dbURL, opts)
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		t.Cleanup(func() { _ = p.Close() })
		vs = append(vs, e.vault(t, p))
	}
	return vs, e.app(t, vs[0])
}

func (e *env) vault(t *testing.T, s vault.Store) *vault.Vault {
	t.Helper()
	v := vault.New(s, e.keys, e.pepper, vault.Options{Now: e.clock.Now})
	t.Cleanup(v.Close)
	return v
}

func (e *env) app(t *testing.T, v *vault.Vault) string {
	t.Helper()
	a, err := v.Store().CreateApp(t.Context(), vault.App{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.ConfigureProvider(t.Context(), a.ID, e.prov.ID, clientID, clientSecret, nil); err != nil {
		t.Fatalf("ConfigureProvider: %v", err)
	}
	return a.ID
}

// manager returns a Manager over v, closed at cleanup. rdb may be nil.
func (e *env) manager(t *testing.T, v *vault.Vault, rdb redis.UniversalClient, prefix string, cfg oauth.Config) *oauth.Manager {
	t.Helper()
	if cfg.RedirectURL == "" {
		cfg.RedirectURL = redirectURL
	}
	m, err := oauth.New(cfg, oauth.Deps{
		Vault:       v,
		Catalog:     e.cat,
		Redis:       rdb,
		RedisPrefix: prefix,
		HTTPClient:  e.srv.Client(),
		Audit:       e.events.record,
		Log:         slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:         e.clock.Now,
	})
	if err != nil {
		t.Fatalf("oauth.New: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// authorize plays the browser: it follows the authorize URL to the fake
// server and returns the query of its redirect to our callback.
func (e *env) authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	c := e.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURL {
		t.Fatalf("authorize redirected to %s, want %s", got, redirectURL)
	}
	return loc.Query()
}

// connect runs a whole connect flow for req and returns the grant.
func (e *env) connect(t *testing.T, r replica, req oauth.ConnectRequest) vault.Grant {
	t.Helper()
	start, err := r.m.StartConnect(t.Context(), req)
	if err != nil {
		t.Fatalf("StartConnect: %v", err)
	}
	s, err := r.m.Callback(t.Context(), e.authorize(t, start.AuthorizeURL))
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	if s.Status != vault.SessionComplete {
		t.Fatalf("session %s: %s %s", s.Status, s.ErrorCode, s.ErrorMessage)
	}
	g, err := r.v.Grant(t.Context(), req.AppID, s.GrantID)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// stored reads g's token set from the store.
func stored(t *testing.T, v *vault.Vault, g vault.Grant) vault.Material {
	t.Helper()
	m, err := v.MaterialFromStore(context.Background(), g.AppID, g.CredentialID)
	if err != nil {
		t.Fatalf("MaterialFromStore: %v", err)
	}
	return m
}

// noSecrets fails t when a token the fake issued, or the client secret,
// appears in the logs.
func (e *env) noSecrets(t *testing.T) {
	logs := e.logs.String()
	for _, s := range append(e.fake.Tokens(), clientSecret) {
		if strings.Contains(logs, s) {
			t.Errorf("a secret appears in the logs: %.12s…", s)
		}
	}
}

// checkErr fails t when err's text carries a secret.
func (e *env) checkErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append(e.fake.Tokens(), clientSecret) {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q carries a secret", err)
		}
	}
}

// testRedis returns a client for TEST_REDIS_URL (default the local server)
// and a key prefix unique to t, whose keys are deleted at cleanup. A
// missing Redis fails the test, as in the vault's tests: never a skip.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("Redis at TEST_REDIS_URL is required: %v", err)
	}
	prefix := "gatehouse-test:" + hex.EncodeToString(randomBytes(t, 6)) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return c, prefix
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
