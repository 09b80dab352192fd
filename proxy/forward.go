package proxy

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/catalog"
)

// forward sends the prepared request upstream over our transport and wraps
// the response so its audit event is written once the body has been
// relayed, with final byte counts. p is nil for credential-free forwarding
// to an allowlisted host. rp, when set, allows one retry after an upstream
// 401 with a refreshed OAuth token.
func (s *Server) forward(r *http.Request, c *call, p *catalog.Provider, rp *replay) *http.Response {
	if s.audit.Saturated() {
		// Fail closed: a call whose audit event cannot be recorded is not
		// forwarded (security invariant 9).
		return s.refuse(r, c, deny(CodeAuditUnavailable, "the audit log cannot accept more events right now; retry later"))
	}
	if p == nil {
		stripForUpstream(r.Header)
	}
	r.RequestURI = ""
	in := &countingBody{ReadCloser: r.Body}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = in
	}
	c.ev.Decision = c.decision()
	s.inflight.Add(1)
	upStart := s.now()
	resp, err := s.transport.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && rp != nil {
		r2, d := s.retry(r, p, rp)
		switch {
		case d != nil:
			discard(resp)
			s.inflight.Done()
			return s.refuse(r, c, d)
		case r2 != nil:
			discard(resp)
			in = &countingBody{ReadCloser: r2.Body, prior: in.n.Load()}
			if r2.Body != http.NoBody {
				r2.Body = in
			}
			resp, err = s.transport.RoundTrip(r2)
		}
	}
	c.ev.UpstreamLatency = s.now().Sub(upStart)
	if err != nil {
		s.inflight.Done()
		return s.refuse(r, c, upstreamDenial(err))
	}
	resp.Header.Set(headerRequestID, c.requestID)
	c.ev.Status = resp.StatusCode
	finish := func(out int64) {
		defer s.inflight.Done()
		c.ev.BytesIn, c.ev.BytesOut = in.prior+in.n.Load(), out
		c.ev.TotalLatency = s.now().Sub(c.start)
		s.record(c.ev, c.id)
	}
	// A 101 body is the raw upgraded connection goproxy type-asserts to
	// io.ReadWriter, and an empty body has nothing to count: audit now.
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil || resp.Body == http.NoBody {
		finish(0)
		return resp
	}
	resp.Body = &auditedBody{ReadCloser: resp.Body, done: finish}
	return resp
}

// countingBody counts request body bytes sent upstream. prior carries the
// bytes of an earlier attempt of the same call (a 401 retry) so the audit
// event reports everything that was sent.
type countingBody struct {
	io.ReadCloser
	n     atomic.Int64
	prior int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// discard drains a little of a response that is being replaced, so its
// connection can be reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReplayBody))
	resp.Body.Close()
}

// auditedBody counts response bytes and reports once when closed.
type auditedBody struct {
	io.ReadCloser
	n    int64
	once sync.Once
	done func(n int64)
}

func (b *auditedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *auditedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.done(b.n) })
	return err
}
