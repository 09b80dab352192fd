package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/admin"
	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/certs"
	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/metrics"
	"github.com/gatehouse-dev/gatehouse/proxy"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// shutdownTimeout bounds each shutdown phase: draining the listeners, then
// writing the queued audit events.
const shutdownTimeout = 15 * time.Second

// server is a running Gatehouse: both listeners and everything behind them.
type server struct {
	cfg           Config
	log           *slog.Logger
	caPath        string
	caFingerprint string
	tokenPath     string

	store vault.Store
	vault *vault.Vault
	oauth *oauth.Manager
	// redirectURI is where providers send users back (register it there).
	redirectURI string
	egress      *http.Transport // the OAuth manager's transport to token and revocation endpoints
	audit       *audit.Writer
	policy      *policyLoader
	users       *identity.Registry // verifies Gatehouse-User JWTs
	proxy       *proxy.Server
	admin       *http.Server
	proxyLn     net.Listener
	adminLn     net.Listener

	closeRedis func() // closes the Redis client, after the vault

	closers     []func() // undo openServer on failure, in reverse order
	errc        chan error
	wg          sync.WaitGroup
	stopWatch   context.CancelFunc // ends the policy directory watch
	watchExited chan struct{}
}

// openServer builds every component from cfg and opens both listeners, but
// does not serve yet. On error everything opened so far is closed again.
func openServer(ctx context.Context, cfg Config, log *slog.Logger) (_ *server, err error) {
	s := &server{cfg: cfg, log: log, errc: make(chan error, 2)}
	defer func() {
		if err != nil {
			s.undo()
		}
	}()
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	ca, err := certs.LoadOrCreateCA(cfg.DataDir, nil)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	s.caPath, s.caFingerprint = caCertPath(cfg.DataDir), ca.Fingerprint()
	keyring, err := loadKeyring(cfg.Vault)
	if err != nil {
		return nil, err
	}
	pepper, err := vault.LoadOrCreateKeyFile(cfg.Vault.PepperFile)
	if err != nil {
		return nil, fmt.Errorf("vault.pepper_file: %w", err)
	}
	s.tokenPath = adminTokenPath(cfg.DataDir)
	token, err := loadOrCreateAdminToken(s.tokenPath)
	if err != nil {
		return nil, err
	}
	cat, err := catalog.Load(cfg.Catalog.Dirs...)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}

	var events audit.Store
	if s.store, events, err = openDatabase(ctx, cfg); err != nil { // SQLite, or PostgreSQL (migrated)
		return nil, err
	}
	s.closers = append(s.closers, func() { _ = s.store.Close() })
	redisLayer, redisClient, closeRedis, err := openRedis(ctx, cfg.Redis, log)
	if err != nil {
		return nil, err
	}
	s.closeRedis = closeRedis
	s.closers = append(s.closers, closeRedis)
	s.vault = vault.New(s.store, keyring, pepper, vault.Options{
		CacheTTL: cacheTTL(cfg.Vault.CacheTTL), StaleIfError: staleIfError(cfg.Vault.StaleIfError), Redis: redisLayer,
	})
	s.closers = append(s.closers, s.vault.Close)
	s.audit = audit.NewWriter(events, audit.WriterConfig{QueueSize: cfg.Audit.QueueSize}, log)
	s.closers = append(s.closers, func() { s.closeAudit() })

	// The listeners open before the OAuth manager is built: with admin.listen
	// on port 0 the redirect URI needs the port actually bound.
	var lc net.ListenConfig
	if s.proxyLn, err = lc.Listen(ctx, "tcp", cfg.Proxy.Listen); err != nil {
		return nil, fmt.Errorf("proxy.listen: %w", err)
	}
	s.closers = append(s.closers, func() { _ = s.proxyLn.Close() })
	if s.adminLn, err = lc.Listen(ctx, "tcp", cfg.Admin.Listen); err != nil {
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	s.closers = append(s.closers, func() { _ = s.adminLn.Close() })

	upstream := proxy.UpstreamConfig{
		Resolve:     cfg.Upstream.Resolve,
		ExtraRoots:  cfg.Upstream.ExtraRoots,
		AllowCIDRs:  cfg.Egress.AllowCIDRs,
		DialTimeout: cfg.Upstream.DialTimeout,
	}
	if err := s.openOAuth(cfg, upstream, cat, redisClient); err != nil {
		return nil, err
	}
	s.openIdentity()
	if err := s.openPolicy(cfg, redisClient); err != nil {
		return nil, err
	}

	reg, err := metrics.New(version, metrics.Sources{Vault: s.vault.Stats, OAuth: s.oauth.Stats, Audit: s.audit.Stats})
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s.proxy, err = proxy.New(
		proxy.Config{
			Listen:           cfg.Proxy.Listen,
			IdleTimeout:      cfg.Proxy.IdleTimeout,
			HandshakeTimeout: cfg.Proxy.HandshakeTimeout,
			MaxHeaderBytes:   cfg.Proxy.MaxHeaderBytes,
		},
		upstream,
		proxy.Deps{Vault: s.vault, Catalog: cat, Minter: certs.NewMinter(ca, certs.Options{}), Audit: s.audit, Tokens: s.oauth,
			Policy: s.policy.engine, Users: s.users, Calls: reg.Calls(), Log: log},
	)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	handler, err := admin.New(admin.Deps{Token: token, Vault: s.vault, Catalog: cat, Audit: s.audit, Events: events, OAuth: s.oauth,
		Explain: s.proxy, PolicyStatus: s.policy.status, Metrics: reg.Handler(), Log: log})
	if err != nil {
		return nil, err
	}
	s.admin = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// cacheTTL maps the configured TTL to vault.Options, where 0 means the
// default and a negative value disables caching.
func cacheTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// loadKeyring loads every configured KEK. Only the active KEK's file is
// generated when missing: a missing retired KEK cannot be recreated, and a
// fresh one would decrypt nothing.
func loadKeyring(c VaultConfig) (*vault.Keyring, error) {
	keks := make(map[string][]byte, len(c.KEKFiles))
	for _, id := range sortedKeys(c.KEKFiles) {
		path := c.KEKFiles[id]
		if id != c.ActiveKEK {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("vault.kek_files[%s]: %s: %w (only the active KEK's file is generated)", id, path, err)
			}
		}
		k, err := vault.LoadOrCreateKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("vault.kek_files[%s]: %w", id, err)
		}
		keks[id] = k
	}
	kr, err := vault.NewKeyring(c.ActiveKEK, keks)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return kr, nil
}

// start serves both listeners in the background; a listener that fails is
// reported on s.errc.
func (s *server) start() {
	s.closers = nil // from here on shutdown owns the cleanup
	ctx, stop := context.WithCancel(context.Background())
	s.stopWatch, s.watchExited = stop, make(chan struct{})
	go func() {
		defer close(s.watchExited)
		s.policy.watch(ctx)
	}()
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.proxy.Serve(s.proxyLn); err != nil {
			s.errc <- fmt.Errorf("proxy listener: %w", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.admin.Serve(s.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errc <- fmt.Errorf("admin listener: %w", err)
		}
	}()
}

// shutdown stops both listeners and lets in-flight calls finish (bounded),
// then drains the audit writer and closes the vault and the store.
func (s *server) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	add := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	wg.Go(func() { add(s.proxy.Shutdown(ctx)) })
	wg.Go(func() {
		if err := s.admin.Shutdown(ctx); err != nil {
			add(fmt.Errorf("admin shutdown: %w", err))
		}
	})
	wg.Wait()
	s.wg.Wait()
	s.stopWatch()
	<-s.watchExited
	s.users.Close()
	s.closeOAuth() // background refreshes finish (and are audited) first
	add(s.closeAudit())
	s.vault.Close()
	s.closeRedis()
	if err := s.store.Close(); err != nil {
		add(fmt.Errorf("close database: %w", err))
	}
	return errors.Join(errs...)
}

// closeAudit drains the audit writer, bounded by shutdownTimeout.
func (s *server) closeAudit() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.audit.Close(ctx); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// undo closes what openServer opened, newest first.
func (s *server) undo() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// runServe runs Gatehouse until ctx ends (SIGINT/SIGTERM) or a listener
// fails, then shuts down gracefully.
func runServe(ctx context.Context, cfg Config, log *slog.Logger, stderr io.Writer, version string) error {
	routeRedisClientLogs(cfg.Redis, log)
	s, err := openServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	s.start()
	adminURL := "http://" + browsableAddr(s.adminLn.Addr().String())
	if err := publishAdminURL(cfg.DataDir, adminURL); err != nil {
		log.Warn("could not publish the admin URL in the data directory", "err", err)
	}
	defer withdrawAdminURL(cfg.DataDir, adminURL)
	s.announce(stderr, version)

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", "signal")
	case serveErr = <-s.errc:
		log.Error("listener failed; shutting down", "err", serveErr)
	}
	if err := s.shutdown(); err != nil {
		log.Error("shutdown incomplete", "err", err)
		return errors.Join(serveErr, err)
	}
	log.Info("stopped")
	return serveErr
}
