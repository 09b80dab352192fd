package proxy

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/google/uuid"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/vault"
)

const headerRequestID = "Gatehouse-Request-Id"

func newRequestID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// call is the state of one request through the proxy; it becomes the audit
// event.
type call struct {
	requestID string
	start     time.Time
	id        Identity
	ev        audit.Event
	report    bool // a report-mode rule would have denied the call
}

// handleRequest handles every request goproxy reads: inside a MITM tunnel
// (ctx.UserData is the tunnel) or an absolute-form request to the proxy. It
// always answers itself — goproxy never calls its own RoundTrip — so an
// upstream failure becomes a 502 with our error contract instead of the
// connection reset goproxy gives inside MITM (notes 1.3.4).
func (s *Server) handleRequest(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	c := &call{requestID: newRequestID(), start: s.now()}
	c.ev = audit.Event{
		Kind: audit.KindCall, RequestID: c.requestID, Time: c.start, Method: r.Method,
		Path: audit.PathForAudit(r.URL), ClientAddr: r.RemoteAddr,
	}
	c.ev.Reason = truncate(r.Header.Get("Gatehouse-Reason"), 512)
	c.ev.Context = truncate(r.Header.Get("Gatehouse-Context"), 1024)

	t, _ := ctx.UserData.(*tunnel)
	if t != nil {
		// The identity is fixed at CONNECT, but its key may have been
		// revoked since: a revoked key stops working on its open tunnels
		// at the next request, not when the client reconnects.
		c.id = t.id
		if err := s.vault.CheckKey(r.Context(), t.id.KeyID); err != nil {
			return r, s.refuse(r, c, denialFor(err))
		}
	} else {
		var d *Denial
		if t, d = s.plainRequest(r, c); d != nil {
			return r, s.refuse(r, c, d)
		}
		if t == nil { // allowlisted destination, forwarded without credential
			return r, s.forward(r, c, nil, nil)
		}
	}
	c.id = t.id
	c.ev.Host = t.authority.Host
	if t.provider != nil {
		c.ev.ProviderID = t.provider.ID
	}
	if d := checkAuthority(r, t); d != nil {
		return r, s.refuse(r, c, d)
	}
	g, d := s.resolveGrant(r.Context(), r, t)
	if d != nil {
		return r, s.refuse(r, c, d)
	}
	c.ev.GrantID, c.ev.Principal = g.ID, g.Principal
	if d := s.entitled(r.Context(), t.id, g, t.provider); d != nil {
		return r, s.refuse(r, c, d)
	}
	if d := s.checkPolicy(r.Context(), r, t, g, c); d != nil {
		return r, s.refuse(r, c, d)
	}
	m, d := s.material(r.Context(), g)
	if d != nil {
		return r, s.refuse(r, c, d)
	}
	if d := injectMaterial(r, t.provider, m); d != nil {
		return r, s.refuse(r, c, d)
	}
	rp, err := s.replayFor(r, g, m)
	if err != nil {
		return r, s.refuse(r, c, deny(CodeBadRequest, "the request body could not be read"))
	}
	return r, s.forward(r, c, t.provider, rp)
}

// plainRequest handles an absolute-form request sent to the proxy without
// CONNECT. https:// (axios does this) is treated like CONNECT plus request:
// the upstream leg is TLS verified by us, so injection is safe. http:// is
// plaintext: forwarded only to allowlisted non-provider hosts and never
// with a credential (security invariant 1). It returns a nil tunnel and nil
// denial for a request to forward as is.
func (s *Server) plainRequest(r *http.Request, c *call) (*tunnel, *Denial) {
	id, d := s.authenticate(r.Context(), r)
	c.id = id
	if d != nil {
		return nil, d
	}
	if r.URL.Scheme != "http" && r.URL.Scheme != "https" {
		return nil, deny(CodeBadRequest, "only http:// and https:// URLs can be proxied")
	}
	a, err := parseAuthority(r.URL.Host, defaultPortFor(r.URL.Scheme))
	if err != nil {
		return nil, deny(CodeBadRequest, "the request URL has a malformed host")
	}
	c.ev.Host = a.Host
	if r.URL.Scheme == "http" {
		if p, ok := s.providerOfHost(a); ok {
			c.ev.ProviderID = p.ID
			return nil, deny(CodePlaintextRefused, "plaintext http:// to provider host "+a.Host+" is refused: use https://")
		}
	} else if p, ok := s.catalog.Lookup(a.Host, a.Port); ok {
		return &tunnel{id: id, authority: a, provider: p, absoluteForm: true, requestID: c.requestID, start: c.start}, nil
	}
	if d := s.egressDecision(r.Context(), id, a); d != nil {
		return nil, d
	}
	return nil, nil
}

// providerOfHost finds the provider owning a's host on its default port
// (443) or on a's own port: a plaintext request to a provider's name is
// refused whatever port it names.
func (s *Server) providerOfHost(a authority) (*catalog.Provider, bool) {
	if p, ok := s.catalog.Lookup(a.Host, 443); ok {
		return p, true
	}
	return s.catalog.Lookup(a.Host, a.Port)
}

// checkAuthority enforces security invariant 2: since goproxy v1.9.1 the
// inner Host header decides the destination (issue #798, PR #799), so the
// request's authority must equal the CONNECT authority, and the SNI the
// client sent in the tunnel handshake must name the same host.
func checkAuthority(r *http.Request, t *tunnel) *Denial {
	if !t.absoluteForm {
		if r.URL.Scheme != "https" {
			return deny(CodePlaintextRefused, "plaintext HTTP inside the tunnel is refused: speak TLS to "+t.authority.Host)
		}
		sni := t.sni.Load()
		if sni == nil || *sni != t.authority.Host {
			return deny(CodeHostMismatch, "the TLS server name does not match the CONNECT host "+t.authority.Host)
		}
	}
	for _, h := range []string{r.URL.Host, r.Host} {
		if h == "" || sameAuthority(h, t.authority, r.URL.Scheme) {
			continue
		}
		return deny(CodeHostMismatch, "the request authority does not match the CONNECT host "+t.authority.Host)
	}
	return nil
}

// sameAuthority reports whether h names a. The common spellings (the bare
// lowercase host on the scheme's default port) are compared without
// parsing; anything else is normalised first.
func sameAuthority(h string, a authority, scheme string) bool {
	if h == a.Host && a.Port == defaultPortFor(scheme) {
		return true
	}
	b, err := parseAuthority(h, defaultPortFor(scheme))
	return err == nil && b == a
}

// entitled checks the base entitlement: same app (guaranteed by lookup),
// the grant belongs to this provider, and an agent only reaches grants bound
// or delegated to it, or in its access set (no ambient authority). An app key acts as the app and
// reaches its app's grants.
func (s *Server) entitled(ctx context.Context, id Identity, g vault.Grant, p *catalog.Provider) *Denial {
	if g.ProviderID != p.ID {
		return &Denial{Code: CodeNotEntitled, Message: "grant " + g.ID + " is for provider " + g.ProviderID + ", not " + p.ID,
			Details: map[string]any{"grant_id": g.ID}}
	}
	if id.AgentID == "" || g.Principal == id.Principal() {
		return nil
	}
	for _, reach := range []func(context.Context, string, string, string) ([]vault.Grant, error){
		s.vault.DelegatedGrants, // the grant's user consented
		s.vault.AccessGrants,    // the agent's access set names it or its provider
	} {
		gs, err := reach(ctx, id.AppID, id.AgentID, p.ID)
		if err != nil {
			return denialFor(err)
		}
		if slices.ContainsFunc(gs, func(o vault.Grant) bool { return o.ID == g.ID }) {
			return nil
		}
	}
	return &Denial{Code: CodeNotEntitled, Message: "agent " + id.AgentName + " is not entitled to grant " + g.ID,
		Details: map[string]any{"grant_id": g.ID}}
}

// refuse answers with a denial and audits it.
func (s *Server) refuse(r *http.Request, c *call, d *Denial) *http.Response {
	if d.Internal != nil {
		s.log.Warn("request refused", "request_id", c.requestID, "code", d.Code, "err", d.Internal)
	}
	c.ev.Status, c.ev.Decision, c.ev.ErrorCode = d.Status(), audit.DecisionDeny, d.Code
	c.ev.TotalLatency = s.now().Sub(c.start)
	s.record(c.ev, c.id)
	return d.response(r, c.requestID)
}

// record fills identity fields and hands the event to the writer. A full
// queue is logged; the pre-forward check in forward refuses new calls
// before that can happen under sustained load.
func (s *Server) record(ev audit.Event, id Identity) {
	ev.AppID, ev.KeyID, ev.AgentID = id.AppID, id.KeyID, id.AgentID
	if ev.ID == "" {
		// One event per request id (a call, a refusal or a tunnel), and
		// both are UUIDv7: reuse it instead of minting a second id.
		ev.ID = ev.RequestID
	}
	if ev.ClientAddr == "" {
		ev.ClientAddr = id.ClientAddr
	}
	if err := s.audit.Record(ev); err != nil {
		s.log.Error("audit event not recorded", "request_id", ev.RequestID, "err", err)
	}
	if s.calls != nil {
		s.calls.Observe(ev)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
