package proxy

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// goproxy hijacks every CONNECT connection, after which http.Server's
// ReadHeaderTimeout, IdleTimeout and Shutdown no longer apply, and its MITM
// loop and TLS handshake have no deadline (notes 1.6; upstream has no hook to
// wrap the client conn, cf. stripe's ConnectClientConnHandler and smokescreen
// PR #120). We therefore wrap the listener: every accepted conn is tracked for
// shutdown, and once net/http reports it hijacked, every Read and Write
// carries a deadline — the handshake timeout until the TLS handshake is done,
// the idle timeout after.

type connKey struct{}

// trackedListener wraps accepted conns in *clientConn.
type trackedListener struct {
	net.Listener
	set *connSet
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &clientConn{Conn: c, set: l.set}
	l.set.add(cc)
	return cc, nil
}

// connSet tracks live client conns.
type connSet struct {
	mu    sync.Mutex
	conns map[*clientConn]struct{}
}

func (s *connSet) add(c *clientConn) {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*clientConn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

func (s *connSet) remove(c *clientConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// closeAll closes every tracked conn.
func (s *connSet) closeAll() {
	s.mu.Lock()
	conns := make([]*clientConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// clientConn is a client connection with activity-based deadlines.
type clientConn struct {
	net.Conn
	set       *connSet
	closeOnce sync.Once

	active        atomic.Bool  // deadlines enforced (set by the CONNECT handler)
	handshakeDone atomic.Bool  // TLS handshake with the client finished
	idle          atomic.Int64 // idle timeout, ns
	handshake     atomic.Int64 // handshake timeout, ns
	lastWrite     atomic.Int64 // unix ns of the last successful write
}

// activate starts enforcing deadlines once the conn is hijacked; plain proxy
// requests keep http.Server's own timeouts.
func (c *clientConn) activate(idle, handshake time.Duration) {
	c.idle.Store(int64(idle))
	c.handshake.Store(int64(handshake))
	c.active.Store(true)
}

func (c *clientConn) readTimeout() time.Duration {
	idle := time.Duration(c.idle.Load())
	if !c.handshakeDone.Load() {
		if hs := time.Duration(c.handshake.Load()); hs > 0 && hs < idle {
			return hs
		}
	}
	return idle
}

// Read sets a fresh read deadline. When it fires but the conn wrote within
// the idle window (a long download or stream the client only reads), the
// read is retried: the conn is busy, not idle. A deadline set by someone else
// (net/http's abortPendingRead sets one in the past) is returned as is.
func (c *clientConn) Read(p []byte) (int, error) {
	if !c.active.Load() {
		return c.Conn.Read(p)
	}
	for {
		timeout := c.readTimeout()
		deadline := time.Now().Add(timeout)
		_ = c.Conn.SetReadDeadline(deadline)
		n, err := c.Conn.Read(p)
		if n > 0 || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		now := time.Now()
		if now.Before(deadline) || !c.handshakeDone.Load() {
			return n, err
		}
		if now.Sub(time.Unix(0, c.lastWrite.Load())) >= timeout {
			return n, err
		}
	}
}

// Write sets a write deadline so a client that stops reading cannot pin a
// goroutine and an upstream connection forever.
func (c *clientConn) Write(p []byte) (int, error) {
	if !c.active.Load() {
		return c.Conn.Write(p)
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Duration(c.idle.Load())))
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.lastWrite.Store(time.Now().UnixNano())
	}
	return n, err
}

// Close removes the conn from the set.
func (c *clientConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.set.remove(c)
		err = c.Conn.Close()
	})
	return err
}

// CloseWrite and CloseRead keep goproxy's half-close tunnel path (its
// halfClosable check); without them it falls back to a copy loop that reports
// copy errors through ConnectionErrHandler into an established tunnel.
func (c *clientConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Close()
}

// CloseRead half-closes the read side.
func (c *clientConn) CloseRead() error {
	if hc, ok := c.Conn.(interface{ CloseRead() error }); ok {
		return hc.CloseRead()
	}
	return c.Close()
}

// clientConnFrom finds the wrapped conn of a request (stored by ConnContext).
func clientConnFrom(ctx context.Context) *clientConn {
	c, _ := ctx.Value(connKey{}).(*clientConn)
	return c
}
