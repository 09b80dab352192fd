package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/certs"
	"github.com/gatehouse-dev/gatehouse/metrics"
	"github.com/gatehouse-dev/gatehouse/proxy"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// agentName is the benchmark agent; its api_key grant is for principal
// agent:<agentName>, resolved by the proxy's "agent's own grant" rule.
const agentName = "bench"

// cacheTTL is both Gatehouse vaults' in-process cache TTL: longer than any
// run (-d and -warmup are capped at 10m and 1m per path), so no entry
// expires mid-run and every store or Redis read during the measured phase
// is hot-path traffic rather than TTL expiry.
const cacheTTL = time.Hour

// gatehouse is a full in-process Gatehouse proxy assembled like
// proxy/harness_test.go and cmd/gatehouse/serve.go: a vault over a backend
// (SQLite, or PostgreSQL + Redis), embedded catalog, CA minter, audit
// writer over the backend's database.
type gatehouse struct {
	name   string // path name
	addr   string
	caPEM  []byte
	key    string // the agent key, sent as Proxy-Authorization
	appID  string
	srv    *proxy.Server
	vault  *vault.Vault
	tokens *oauth.Manager
	back   *backend
	writer *audit.Writer
	served chan error
}

// backend is where a Gatehouse keeps its state.
type backend struct {
	store  vault.Store
	events audit.Store
	redis  *vault.RedisLayer // nil: in-process cache only
	db     *sql.DB           // the database holding audit_events
	// countSQL counts (all, allowed) call rows with parameters decision,
	// principal, app_id, kind in that order.
	countSQL string
	// release removes what the backend created and closes it; it runs
	// after the vault is closed.
	release func(ctx context.Context) error
}

// sqliteBackend is the embedded default: one SQLite file in dir.
func sqliteBackend(ctx context.Context, dir string) (*backend, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	store, err := vault.OpenSQLite(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		return nil, fmt.Errorf("open vault: %w", err)
	}
	return &backend{
		store: store, events: audit.NewSQLStore(store.DB()), db: store.DB(),
		// Schema: vault/migrations/sqlite/00002_audit_events.sql.
		countSQL: `SELECT COUNT(*),
			COALESCE(SUM(decision = ? AND status = 200 AND grant_id != '' AND principal = ?), 0)
			FROM audit_events WHERE app_id = ? AND kind = ?`,
		release: func(context.Context) error { return store.Close() },
	}, nil
}

// startGatehouse builds the proxy named name over back with its keys and CA
// in dir, pins targetHost to up and stores secret as the agent's openai
// api_key. log receives the proxy's own logging. The gatehouse owns back
// from here on, also when it fails.
func startGatehouse(ctx context.Context, name, dir string, back *backend, up *upstream, secret string, log *slog.Logger) (g *gatehouse, err error) {
	g = &gatehouse{name: name, back: back, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			g.abort()
		}
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return g, fmt.Errorf("data dir: %w", err)
	}
	store := back.store
	kek, err := vault.LoadOrCreateKeyFile(filepath.Join(dir, "kek.key"))
	if err != nil {
		return g, fmt.Errorf("kek: %w", err)
	}
	pepper, err := vault.LoadOrCreateKeyFile(filepath.Join(dir, "pepper.key"))
	if err != nil {
		return g, fmt.Errorf("pepper: %w", err)
	}
	keys, err := vault.NewKeyring("bench", map[string][]byte{"bench": kek})
	if err != nil {
		return g, fmt.Errorf("keyring: %w", err)
	}
	g.vault = vault.New(store, keys, pepper, vault.Options{CacheTTL: cacheTTL, Redis: back.redis})
	cat, err := catalog.Load()
	if err != nil {
		return g, fmt.Errorf("catalog: %w", err)
	}
	ca, err := certs.LoadOrCreateCA(filepath.Join(dir, "ca"), time.Now)
	if err != nil {
		return g, fmt.Errorf("ca: %w", err)
	}
	g.caPEM = ca.CertPEM()
	// Production defaults (queue 16384, batch 1024, flush 200ms): the
	// benchmark must show whether they keep up.
	g.writer = audit.NewWriter(back.events, audit.WriterConfig{}, log)

	caFile := filepath.Join(dir, "upstream-ca.pem")
	if err := os.WriteFile(caFile, up.ca.pem, 0o600); err != nil {
		return g, fmt.Errorf("write upstream CA: %w", err)
	}
	upCfg := proxy.UpstreamConfig{
		Resolve:    map[string]string{targetHost + ":443": up.addr},
		ExtraRoots: []string{caFile},
	}
	// The OAuth manager sits on every call's path in production (it passes
	// API keys through), so it is measured too.
	tr, err := proxy.NewUpstreamTransport(upCfg)
	if err != nil {
		return g, fmt.Errorf("oauth transport: %w", err)
	}
	g.tokens, err = oauth.New(oauth.Config{RedirectURL: "http://127.0.0.1:8081/oauth/callback"}, oauth.Deps{
		Vault: g.vault, Catalog: cat, HTTPClient: &http.Client{Transport: tr}, Log: log,
	})
	if err != nil {
		return g, fmt.Errorf("oauth: %w", err)
	}
	// Metrics are on in production: every call feeds the per-call series.
	reg, err := metrics.New("bench", metrics.Sources{Vault: g.vault.Stats, OAuth: g.tokens.Stats, Audit: g.writer.Stats})
	if err != nil {
		return g, fmt.Errorf("metrics: %w", err)
	}
	deps := proxy.Deps{Vault: g.vault, Catalog: cat, Minter: certs.NewMinter(ca, certs.Options{}), Audit: g.writer, Tokens: g.tokens, Calls: reg.Calls(), Log: log}
	if name == pathGatehousePolicy {
		if deps.Policy, err = benchPolicy(); err != nil {
			return g, err
		}
	}
	srv, err := proxy.New(proxy.Config{}, upCfg, deps)
	if err != nil {
		return g, fmt.Errorf("proxy: %w", err)
	}
	g.srv = srv

	app, err := store.CreateApp(ctx, vault.App{Name: "bench"})
	if err != nil {
		return g, fmt.Errorf("create app: %w", err)
	}
	g.appID = app.ID
	agent, err := store.CreateAgent(ctx, vault.Agent{AppID: app.ID, Name: agentName})
	if err != nil {
		return g, fmt.Errorf("create agent: %w", err)
	}
	if g.key, _, err = g.vault.IssueKey(ctx, app.ID, agent.ID); err != nil {
		return g, fmt.Errorf("issue agent key: %w", err)
	}
	if _, _, err := g.vault.PutSecret(ctx, app.ID, "openai", "api_key", "agent:"+agentName, vault.Material{Token: secret}); err != nil {
		return g, fmt.Errorf("put secret: %w", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return g, fmt.Errorf("gatehouse listen: %w", err)
	}
	g.addr = ln.Addr().String()
	go func() { g.served <- srv.Serve(ln) }()
	return g, nil
}

// auditTally is what the audit table holds for the benchmark app.
type auditTally struct {
	Rows    int64       `json:"rows"`    // call events of the app
	Allowed int64       `json:"allowed"` // of which decision=allow, status 200, with the grant
	Writer  audit.Stats `json:"writer"`
}

// stop shuts the proxy down, drains the audit writer (every event of every
// finished call is written before Close returns) and counts the rows.
func (g *gatehouse) stop(ctx context.Context) (auditTally, error) {
	var t auditTally
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := g.srv.Shutdown(sctx)
	if serr := <-g.served; serr != nil {
		err = errors.Join(err, fmt.Errorf("serve: %w", serr))
	}
	if cerr := g.writer.Close(sctx); cerr != nil {
		err = errors.Join(err, fmt.Errorf("audit close: %w", cerr))
	}
	t.Writer = g.writer.Stats()
	if err != nil {
		return t, errors.Join(err, g.close())
	}
	// A COUNT over the audit table rather than paging ListEvents 1000 rows
	// at a time through hundreds of thousands of rows.
	row := g.back.db.QueryRowContext(sctx, g.back.countSQL, audit.DecisionAllow, "agent:"+agentName, g.appID, audit.KindCall)
	if err := row.Scan(&t.Rows, &t.Allowed); err != nil {
		return t, errors.Join(fmt.Errorf("count audit rows: %w", err), g.close())
	}
	return t, g.close()
}

// abort tears down a half-built gatehouse.
func (g *gatehouse) abort() {
	if g.writer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.writer.Close(ctx)
	}
	_ = g.close()
}

// close closes the vault, then releases the backend (for PostgreSQL and
// Redis: drops the schema and deletes the keys).
func (g *gatehouse) close() error {
	if g.tokens != nil {
		g.tokens.Close()
	}
	if g.vault != nil {
		g.vault.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.back.release(ctx); err != nil {
		return fmt.Errorf("%s: release backend: %w", g.name, err)
	}
	return nil
}
