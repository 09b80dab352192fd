package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// guard bounds a test read: if our own deadlines did not close the conn,
// the read fails with this test deadline instead and the test fails.
const guard = 20 * time.Second

// TestHijackedDeadlines: goproxy hijacks CONNECT conns, after which
// http.Server's timeouts no longer apply; our deadlines must close a tunnel
// whose client never completes the TLS handshake, and an idle tunnel.
func TestHijackedDeadlines(t *testing.T) {
	e := newEnv(t, func(c *envConfig) {
		c.proxy.HandshakeTimeout = 300 * time.Millisecond
		c.proxy.IdleTimeout = 500 * time.Millisecond
	})
	e.secret("openai", "agent:bot", openaiKey)

	t.Run("no handshake", func(t *testing.T) {
		c := e.rawConnect(t, "api.openai.com:443", e.agentKey)
		assertClosedByServer(t, c)
	})
	t.Run("idle after a request", func(t *testing.T) {
		c := e.rawConnect(t, "api.openai.com:443", e.agentKey)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(e.ca.CertPEM())
		tc := tls.Client(c, &tls.Config{ServerName: "api.openai.com", RootCAs: pool})
		fmt.Fprintf(tc, "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n")
		br := bufio.NewReader(tc)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		assertClosedByServer(t, &bufConn{Conn: tc, r: br})
	})
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func assertClosedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(guard))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the proxy left the connection open")
	}
}
