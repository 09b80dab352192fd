package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/certs"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// Config configures the proxy listener.
type Config struct {
	// Listen is the proxy address. Default 127.0.0.1:8080 (used by cmd).
	Listen string
	// IdleTimeout closes a client connection (plain or tunnel) idle this
	// long. Default 2m.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds reading the request head of a new connection
	// and the TLS handshake inside a tunnel. Default 10s.
	HandshakeTimeout time.Duration
	// MaxHeaderBytes caps the request head on the proxy listener. Default 64 KiB.
	MaxHeaderBytes int
}

// UpstreamConfig configures every outbound connection.
type UpstreamConfig struct {
	// Resolve pins "host:port" to "ip:port", like curl --resolve. Pinned
	// addresses are the operator's choice and bypass the private-range
	// guard. Default empty.
	Resolve map[string]string
	// ExtraRoots are PEM files trusted in addition to the system roots.
	ExtraRoots []string
	// AllowCIDRs are private ranges the egress guard lets through.
	AllowCIDRs []string
	// DialTimeout bounds connect and upstream TLS handshake. Default 10s.
	DialTimeout time.Duration
}

// Deps are the collaborators of the proxy.
type Deps struct {
	Vault   *vault.Vault
	Catalog *catalog.Catalog
	Minter  *certs.Minter
	Audit   *audit.Writer
	// Tokens turns a grant into the material to inject, refreshing OAuth
	// tokens (*oauth.Manager). Nil: the vault's material as stored, and
	// OAuth grants are refused rather than risk an expired token.
	Tokens Tokens
	// Policy restricts what the entitlement allows (*policy.Engine). Nil:
	// no policy configured.
	Policy Policy
	// Users verifies Gatehouse-User JWTs (*identity.Registry). Nil: the
	// header is refused with grant_not_found.
	Users Users
	// Calls receives every call's audit event for metrics
	// (*metrics.Calls). Nil: none.
	Calls CallObserver
	Log   *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// CallObserver sees the audit event of every call (metrics).
type CallObserver interface {
	Observe(ev audit.Event)
}

// Server is the proxy.
type Server struct {
	cfg       Config
	vault     *vault.Vault
	catalog   *catalog.Catalog
	minter    *certs.Minter
	audit     *audit.Writer
	tokens    Tokens
	policy    Policy
	users     Users
	calls     CallObserver
	log       *slog.Logger
	now       func() time.Time
	dialer    *dialer
	transport *http.Transport
	goproxy   *goproxy.ProxyHttpServer
	http      *http.Server
	conns     connSet
	inflight  sync.WaitGroup
}

// New validates the configuration and wires goproxy.
func New(cfg Config, up UpstreamConfig, deps Deps) (*Server, error) {
	if deps.Vault == nil || deps.Catalog == nil || deps.Minter == nil || deps.Audit == nil {
		return nil, errors.New("proxy: vault, catalog, minter and audit are required")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	d, err := newUpstreamDialer(up)
	if err != nil {
		return nil, err
	}
	tr, err := newTransport(d, up.ExtraRoots, d.net.Timeout)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, vault: deps.Vault, catalog: deps.Catalog, minter: deps.Minter, audit: deps.Audit, tokens: deps.Tokens, policy: deps.Policy, users: deps.Users, calls: deps.Calls,
		log: log, now: now, dialer: d, transport: tr,
	}
	s.goproxy = s.newGoproxy()
	s.http = &http.Server{
		Handler:           s.goproxy,
		ReadHeaderTimeout: cfg.HandshakeTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		// Once goproxy hijacks a conn (CONNECT, or a WebSocket upgrade on
		// the plain path) http.Server stops enforcing timeouts, so our
		// deadlines take over. StateHijacked is reported after net/http has
		// aborted its background read and cleared the conn's deadlines;
		// activating any earlier would race with that abort and hang Hijack.
		ConnState: func(c net.Conn, state http.ConnState) {
			if cc, ok := c.(*clientConn); ok && state == http.StateHijacked {
				cc.activate(cfg.IdleTimeout, cfg.HandshakeTimeout)
			}
		},
	}
	// The proxy listener speaks HTTP/1 only: CONNECT needs http.Hijacker.
	s.http.Protocols = new(http.Protocols)
	s.http.Protocols.SetHTTP1(true)
	return s, nil
}

// newGoproxy configures goproxy around the pitfalls in notes 1.9.
func (s *Server) newGoproxy() *goproxy.ProxyHttpServer {
	gp := goproxy.NewProxyHttpServer()
	gp.Tr = s.transport
	// NewProxyHttpServer reads HTTPS_PROXY into ConnectDial; a sidecar whose
	// environment points at itself would loop. Blind tunnels dial through
	// our guarded dialer instead.
	gp.ConnectDial = nil
	gp.ConnectDialWithReq = s.dialTunnel
	gp.KeepAcceptEncoding = true // bodies and Content-Length pass untouched
	gp.KeepHeader = false
	gp.Verbose = false
	gp.AllowHTTP2 = false
	gp.Logger = goproxyLogger{s.log}
	gp.ConnectionErrHandler = s.connectionError
	gp.NonproxyHandler = http.HandlerFunc(s.nonProxy)
	// Order matters: the first non-nil ConnectAction wins and an unanswered
	// CONNECT becomes a blind tunnel, so our single handler answers every
	// CONNECT (notes 1.3, 1.9.1).
	gp.OnRequest().HandleConnectFunc(s.handleConnect)
	gp.OnRequest().DoFunc(s.handleRequest)
	return gp
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(&trackedListener{Listener: ln, set: &s.conns})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets in-flight calls finish until ctx ends, then
// closes every remaining (hijacked) connection so their audit events land.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.conns.closeAll()
	// Closing the conns ends every call; each records its audit event as
	// its body closes. Bound the wait in case an upstream read is stuck.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	s.transport.CloseIdleConnections()
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// goproxyLogger sends goproxy's Printf logging to slog at debug level.
type goproxyLogger struct{ log *slog.Logger }

func (l goproxyLogger) Printf(format string, v ...any) {
	l.log.Debug("goproxy", "msg", fmt.Sprintf(format, v...))
}

// nonProxy answers requests addressed to the proxy itself.
func (s *Server) nonProxy(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	d := deny(CodeBadRequest, "this is an HTTP proxy: set HTTPS_PROXY to it instead of calling it directly")
	body := d.encode(reqID)
	for k, v := range d.header(reqID, len(body)) {
		w.Header()[k] = v
	}
	w.WriteHeader(d.Status())
	_, _ = w.Write(body)
}
