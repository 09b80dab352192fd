package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/certs"
	"github.com/gatehouse-dev/gatehouse/proxy"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// agentName is the benchmark agent; its api_key grant is for principal
// agent:<agentName>, resolved by the proxy's "agent's own grant" rule.
const agentName = "bench"

// gatehouse is a full in-process Gatehouse proxy assembled like
// proxy/harness_test.go: real SQLite vault, embedded catalog, CA minter,
// audit writer over the same SQLite database.
type gatehouse struct {
	addr   string
	caPEM  []byte
	key    string // the agent key, sent as Proxy-Authorization
	appID  string
	srv    *proxy.Server
	vault  *vault.Vault
	store  *vault.SQLite
	writer *audit.Writer
	served chan error
}

// startGatehouse builds the proxy with its data in dir, pins targetHost to
// up and stores secret as the agent's openai api_key. log receives the
// proxy's own logging.
func startGatehouse(ctx context.Context, dir string, up *upstream, secret string, log *slog.Logger) (g *gatehouse, err error) {
	store, err := vault.OpenSQLite(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		return nil, fmt.Errorf("open vault: %w", err)
	}
	g = &gatehouse{store: store, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			g.abort()
		}
	}()
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
	g.vault = vault.New(store, keys, pepper, vault.Options{})
	cat, err := catalog.Load()
	if err != nil {
		return g, fmt.Errorf("catalog: %w", err)
	}
	ca, err := certs.LoadOrCreateCA(filepath.Join(dir, "ca"), time.Now)
	if err != nil {
		return g, fmt.Errorf("ca: %w", err)
	}
	g.caPEM = ca.CertPEM()
	// Production defaults (queue 4096, batch 256, flush 200ms): the
	// benchmark must show whether they keep up.
	g.writer = audit.NewWriter(audit.NewSQLStore(store.DB()), audit.WriterConfig{}, log)

	caFile := filepath.Join(dir, "upstream-ca.pem")
	if err := os.WriteFile(caFile, up.ca.pem, 0o600); err != nil {
		return g, fmt.Errorf("write upstream CA: %w", err)
	}
	srv, err := proxy.New(proxy.Config{}, proxy.UpstreamConfig{
		Resolve:    map[string]string{targetHost + ":443": up.addr},
		ExtraRoots: []string{caFile},
	}, proxy.Deps{Vault: g.vault, Catalog: cat, Minter: certs.NewMinter(ca, certs.Options{}), Audit: g.writer, Log: log})
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
		g.close()
		return t, err
	}
	// A COUNT over the audit table (schema: vault/migrations/sqlite/
	// 00002_audit_events.sql) rather than paging ListEvents 1000 rows at a
	// time through hundreds of thousands of rows.
	row := g.store.DB().QueryRowContext(sctx, `SELECT COUNT(*),
		COALESCE(SUM(decision = ? AND status = 200 AND grant_id != '' AND principal = ?), 0)
		FROM audit_events WHERE app_id = ? AND kind = ?`,
		audit.DecisionAllow, "agent:"+agentName, g.appID, audit.KindCall)
	err = row.Scan(&t.Rows, &t.Allowed)
	g.close()
	if err != nil {
		return t, fmt.Errorf("count audit rows: %w", err)
	}
	return t, nil
}

// abort tears down a half-built gatehouse.
func (g *gatehouse) abort() {
	if g.writer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.writer.Close(ctx)
	}
	g.close()
}

func (g *gatehouse) close() {
	if g.vault != nil {
		g.vault.Close()
	}
	_ = g.store.Close()
}
