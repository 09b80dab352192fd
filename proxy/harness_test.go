package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/certs"
	"github.com/gatehouse-dev/gatehouse/internal/fakeupstream"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// env is a running proxy with a real SQLite vault, the embedded catalog, a
// CA, an audit writer and a fake upstream serving the real provider names.
type env struct {
	t        *testing.T
	srv      *Server
	addr     string
	vault    *vault.Vault
	store    *vault.SQLite
	events   audit.Store
	writer   *audit.Writer
	ca       *certs.CA
	upstream *fakeupstream.Server
	logs     *logBuffer
	app      vault.App
	agent    vault.Agent
	agentKey string
	appKey   string
	clients  []*http.Client
}

// envConfig is what options may change.
type envConfig struct {
	proxy      Config
	upstream   UpstreamConfig
	auditStore func(audit.Store) audit.Store
	auditCfg   audit.WriterConfig
	tokens     Tokens
	policy     Policy
	users      Users
}

type envOption func(*envConfig)

func withUpstream(f func(*UpstreamConfig)) envOption {
	return func(c *envConfig) { f(&c.upstream) }
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	store, err := vault.OpenSQLite(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	kek, err := vault.LoadOrCreateKeyFile(filepath.Join(dir, "kek.key"))
	if err != nil {
		t.Fatal(err)
	}
	pepper, err := vault.LoadOrCreateKeyFile(filepath.Join(dir, "pepper.key"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := vault.NewKeyring("dev", map[string][]byte{"dev": kek})
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(store, keys, pepper, vault.Options{})
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.LoadOrCreateCA(filepath.Join(dir, "ca"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	up := fakeupstream.Start(t, "api.openai.com", "api.anthropic.com", "maps.googleapis.com", "allowed.example", "127.0.0.1")
	cfg := envConfig{auditCfg: audit.WriterConfig{FlushInterval: 10 * time.Millisecond}}
	cfg.upstream = UpstreamConfig{
		Resolve: map[string]string{
			"api.openai.com:443":      up.Addr(),
			"api.anthropic.com:443":   up.Addr(),
			"maps.googleapis.com:443": up.Addr(),
			"allowed.example:443":     up.Addr(),
			"api.stripe.com:443":      up.Addr(),
		},
		ExtraRoots: []string{up.CAFile},
	}
	for _, o := range opts {
		o(&cfg)
	}
	events := audit.NewSQLStore(store.DB())
	var sink audit.Store = events
	if cfg.auditStore != nil {
		sink = cfg.auditStore(events)
	}
	w := audit.NewWriter(sink, cfg.auditCfg, log)
	srv, err := New(cfg.proxy, cfg.upstream, Deps{Vault: v, Catalog: cat, Minter: certs.NewMinter(ca, certs.Options{}), Audit: w, Tokens: cfg.tokens, Policy: cfg.policy, Users: cfg.users, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	e := &env{t: t, srv: srv, addr: ln.Addr().String(), vault: v, store: store, events: events, writer: w, ca: ca, upstream: up, logs: logs}
	t.Cleanup(func() {
		for _, c := range e.clients {
			c.CloseIdleConnections()
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = w.Close(sctx)
		_ = store.Close()
	})
	e.app, err = store.CreateApp(ctx, vault.App{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	e.agent, err = store.CreateAgent(ctx, vault.Agent{AppID: e.app.ID, Name: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	e.agentKey, _, err = v.IssueKey(ctx, e.app.ID, e.agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.appKey, _, err = v.IssueKey(ctx, e.app.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// secret stores an api_key secret for principal and returns its grant.
func (e *env) secret(provider, principal, token string) vault.Grant {
	e.t.Helper()
	g, _, err := e.vault.PutSecret(e.t.Context(), e.app.ID, provider, "api_key", principal, vault.Material{Token: token})
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

// client is an HTTP client using the proxy with key, trusting our CA.
func (e *env) client(key string) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.ca.CertPEM())
	pu := &url.URL{Scheme: "http", Host: e.addr}
	if key != "" {
		pu.User = url.UserPassword("x", key)
	}
	c := &http.Client{
		Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: false},
		Timeout:   20 * time.Second,
	}
	e.clients = append(e.clients, c)
	return c
}

// do sends a request and returns status, Gatehouse-Error and body.
func (e *env) do(c *http.Client, method, rawURL string, hdr http.Header) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), method, rawURL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

// auditEvents stops the proxy, drains the writer and returns every event of the app.
func (e *env) auditEvents() []audit.Event {
	e.t.Helper()
	for _, c := range e.clients {
		c.CloseIdleConnections()
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	_ = e.srv.Shutdown(sctx)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.writer.Close(ctx); err != nil {
		e.t.Fatal(err)
	}
	evs, err := e.events.ListEvents(ctx, audit.Query{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// errorOf decodes the error contract body.
func errorOf(t *testing.T, resp *http.Response, body []byte) (code string, fields map[string]any) {
	t.Helper()
	var eb struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("status %d: body is not the error contract: %q", resp.StatusCode, body)
	}
	code, _ = eb.Error["code"].(string)
	if got := resp.Header.Get("Gatehouse-Error"); got != code {
		t.Errorf("Gatehouse-Error %q != body code %q", got, code)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
	}
	if eb.Error["request_id"] == "" || eb.Error["request_id"] == nil {
		t.Error("error body has no request_id")
	}
	return code, eb.Error
}

// logBuffer collects log output for the no-secret-in-logs scan.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// request is like do but reads a refused CONNECT's response too: Go's
// client turns a non-200 CONNECT answer into an error, so for https URLs it
// first opens the CONNECT by hand and returns its refusal if there is one.
func (e *env) request(key, method, rawURL string, hdr http.Header) (*http.Response, []byte) {
	e.t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		e.t.Fatal(err)
	}
	if u.Scheme == "https" {
		target := u.Host
		if u.Port() == "" {
			target += ":443"
		}
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			e.t.Fatal(err)
		}
		defer c.Close()
		auth := ""
		if key != "" {
			auth = "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+key)) + "\r\n"
		}
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", target, target, auth)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			e.t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return resp, b
		}
	}
	return e.do(e.client(key), method, rawURL, hdr)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
