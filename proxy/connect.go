package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
)

// tunnel is the per-CONNECT state stored in goproxy's UserData. Everything
// but sni and dialled is fixed at CONNECT time; sni is written once during
// the TLS handshake, before any request of the tunnel is read.
type tunnel struct {
	id        Identity
	authority authority
	provider  *catalog.Provider // nil for a blind tunnel
	conn      *clientConn       // nil when the listener is not ours (tests)
	requestID string            // of the CONNECT
	start     time.Time
	// absoluteForm marks a synthetic tunnel for an absolute-form https://
	// request sent without CONNECT: no client TLS, so no SNI to check.
	absoluteForm bool

	sni     atomic.Pointer[string]
	dialled atomic.Bool
}

type tunnelKey struct{}

// handleConnect decides every CONNECT: authenticate, then MITM for provider
// hosts, a blind tunnel for hosts on the app's egress allowlist, or refuse.
// It never returns nil: goproxy would turn that into a blind tunnel.
func (s *Server) handleConnect(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	r := ctx.Req
	t := &tunnel{requestID: newRequestID(), start: s.now(), conn: clientConnFrom(r.Context())}
	t.id.ClientAddr = r.RemoteAddr
	id, d := s.authenticate(r.Context(), r)
	if d != nil {
		return s.rejectConnect(ctx, t, d), host
	}
	t.id = id
	a, err := parseAuthority(host, 0)
	if err != nil {
		return s.rejectConnect(ctx, t, deny(CodeBadRequest, "the CONNECT target must be host:port")), host
	}
	t.authority = a
	if p, ok := s.catalog.Lookup(a.Host, a.Port); ok {
		t.provider = p
		ctx.UserData = t
		return &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: s.mitmTLS(t)}, a.String()
	}
	if d := s.egressDecision(r.Context(), id, a); d != nil {
		return s.rejectConnect(ctx, t, d), host
	}
	ctx.UserData = t
	// goproxy hands ConnectDialWithReq the ctx.Req, so the tunnel rides on
	// its context to dialTunnel.
	ctx.Req = r.WithContext(context.WithValue(r.Context(), tunnelKey{}, t))
	return &goproxy.ConnectAction{Action: goproxy.ConnectAccept}, a.String()
}

// egressDecision applies the app's egress rule to a non-provider host: a
// blind tunnel only for allowlisted hosts; everything else is denied
// (security invariant 4).
func (s *Server) egressDecision(ctx context.Context, id Identity, a authority) *Denial {
	app, err := s.vault.App(ctx, id.AppID)
	if err != nil {
		return denialFor(err)
	}
	if hostAllowed(app.EgressAllow, a) {
		return nil
	}
	return deny(CodeEgressDenied, "egress to "+a.Host+" is not allowed for this caller: it is not a provider host and not on the app's egress allowlist")
}

// hostAllowed matches an allowlist of "host", "*.suffix", optionally with
// ":port" (no port means 443).
func hostAllowed(list []string, a authority) bool {
	for _, entry := range list {
		pat, err := parseAuthority(strings.TrimPrefix(entry, "*."), 443)
		if err != nil || pat.Port != a.Port {
			continue
		}
		if strings.HasPrefix(entry, "*.") {
			if strings.HasSuffix(a.Host, "."+pat.Host) {
				return true
			}
		} else if pat.Host == a.Host {
			return true
		}
	}
	return false
}

// rejectConnect answers a CONNECT with a refusal and audits it.
func (s *Server) rejectConnect(ctx *goproxy.ProxyCtx, t *tunnel, d *Denial) *goproxy.ConnectAction {
	if d.Internal != nil {
		s.log.Warn("connect refused", "request_id", t.requestID, "code", d.Code, "err", d.Internal)
	}
	ctx.Resp = d.response(ctx.Req, t.requestID)
	s.record(audit.Event{
		Kind: audit.KindCall, RequestID: t.requestID, Time: t.start, Method: http.MethodConnect,
		Host: t.authority.Host, Status: d.Status(), Decision: audit.DecisionDeny, ErrorCode: d.Code,
		TotalLatency: s.now().Sub(t.start),
	}, t.id)
	return &goproxy.ConnectAction{Action: goproxy.ConnectReject}
}

// mitmTLS returns the client-facing TLS config of one tunnel: our own CA's
// leaf for the CONNECT host (never goproxy's built-in CA, whose key is
// public), and a record of the SNI the client sent, checked per request.
func (s *Server) mitmTLS(t *tunnel) func(string, *goproxy.ProxyCtx) (*tls.Config, error) {
	return func(string, *goproxy.ProxyCtx) (*tls.Config, error) {
		leaf, err := s.minter.Leaf(t.authority.Host)
		if err != nil {
			return nil, err
		}
		return &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				sni := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
				t.sni.Store(&sni)
				return leaf, nil
			},
			VerifyConnection: func(tls.ConnectionState) error {
				if t.conn != nil {
					t.conn.handshakeDone.Store(true)
				}
				return nil
			},
		}, nil
	}
}

// dialTunnel dials the destination of an allowed blind tunnel through the
// guarded dialer and audits the tunnel when it closes.
func (s *Server) dialTunnel(req *http.Request, network, addr string) (net.Conn, error) {
	t, _ := req.Context().Value(tunnelKey{}).(*tunnel)
	if t == nil { // every CONNECT we accept carries its tunnel
		return nil, errEgressForbidden
	}
	c, err := s.dialer.DialContext(req.Context(), network, addr)
	if err != nil {
		return nil, err
	}
	t.dialled.Store(true)
	s.inflight.Add(1)
	return &countedConn{Conn: c, onClose: func(in, out int64) {
		defer s.inflight.Done()
		s.record(audit.Event{
			Kind: audit.KindCall, RequestID: t.requestID, Time: t.start, Method: http.MethodConnect,
			Host: t.authority.Host, Status: http.StatusOK, Decision: audit.DecisionTunnel,
			BytesIn: in, BytesOut: out, TotalLatency: s.now().Sub(t.start),
		}, t.id)
	}}, nil
}

// connectionError is goproxy's ConnectionErrHandler: it is called when the
// blind-tunnel dial fails (before the tunnel exists) and, on some paths,
// for copy errors inside an established tunnel — where writing a response
// would corrupt the stream, so we only answer before the dial succeeded.
func (s *Server) connectionError(w io.Writer, ctx *goproxy.ProxyCtx, err error) {
	t, _ := ctx.UserData.(*tunnel)
	if t == nil || t.dialled.Load() {
		return
	}
	d := upstreamDenial(err)
	s.log.Warn("tunnel dial failed", "request_id", t.requestID, "code", d.Code, "err", err)
	_ = d.writeTo(w, t.requestID)
	s.record(audit.Event{
		Kind: audit.KindCall, RequestID: t.requestID, Time: t.start, Method: http.MethodConnect,
		Host: t.authority.Host, Status: d.Status(), Decision: audit.DecisionDeny, ErrorCode: d.Code,
		TotalLatency: s.now().Sub(t.start),
	}, t.id)
}

// countedConn counts bytes of a blind tunnel and reports once on Close.
type countedConn struct {
	net.Conn
	in, out atomic.Int64 // in: client → upstream (written), out: upstream → client (read)
	once    sync.Once
	onClose func(in, out int64)
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.out.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.onClose(c.in.Load(), c.out.Load()) })
	return err
}

// CloseWrite and CloseRead keep goproxy on its half-close copy path.
func (c *countedConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return nil
}

// CloseRead half-closes the read side.
func (c *countedConn) CloseRead() error {
	if hc, ok := c.Conn.(interface{ CloseRead() error }); ok {
		return hc.CloseRead()
	}
	return nil
}
