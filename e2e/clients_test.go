package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clientTimeout bounds one client call.
const clientTimeout = 20 * time.Second

// proxyURL is the HTTPS_PROXY value for key: http://x:KEY@127.0.0.1:PORT.
func (g *gatehouse) proxyURL(key string) string {
	return "http://x:" + key + "@" + g.proxyAddr
}

// reply is a client's view of one call.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// requestID is the Gatehouse-Request-Id the proxy put on the response.
func (r reply) requestID() string { return r.header.Get("Gatehouse-Request-Id") }

// errorBody decodes the error contract: Gatehouse-Error equals the body's
// code, JSON content type, a request_id that matches the header.
func (r reply) errorBody(t *testing.T) map[string]any {
	t.Helper()
	var eb struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error == nil {
		t.Fatalf("status %d: body is not the error contract: %q", r.status, r.body)
	}
	if code := eb.Error["code"]; r.header.Get("Gatehouse-Error") != code {
		t.Errorf("Gatehouse-Error %q != body code %v", r.header.Get("Gatehouse-Error"), code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if id, _ := eb.Error["request_id"].(string); id == "" || id != r.requestID() {
		t.Errorf("body request_id %q, Gatehouse-Request-Id %q", id, r.requestID())
	}
	return eb.Error
}

// requireRefusal checks status and code of a refusal and returns its body.
func (r reply) requireRefusal(t *testing.T, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	eb := r.errorBody(t)
	if eb["code"] != code {
		t.Errorf("code %v, want %s (%s)", eb["code"], code, r.body)
	}
	if status == http.StatusProxyAuthRequired && r.header.Get("Proxy-Authenticate") != `Basic realm="gatehouse"` {
		t.Errorf("Proxy-Authenticate = %q", r.header.Get("Proxy-Authenticate"))
	}
	return eb
}

// goClient is a net/http client configured the way HTTPS_PROXY configures
// one (the proxy URL carries the key as its password) trusting only the
// Gatehouse CA. Idle connections close at test cleanup.
func (g *gatehouse) goClient(t *testing.T, key string) *http.Client {
	t.Helper()
	return g.goClientTrusting(t, key, g.caFile())
}

// goClientTrusting is goClient trusting only the CA in caFile.
func (g *gatehouse) goClientTrusting(t *testing.T, key, caFile string) *http.Client {
	t.Helper()
	pu, err := url.Parse(g.proxyURL(key))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: clientTimeout}
}

// goDo sends one request with c.
func goDo(t *testing.T, c *http.Client, method, rawURL string, hdr http.Header) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

// basicAuth is a Proxy-Authorization value carrying key.
func basicAuth(key string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+key))
}

// connect opens a CONNECT to target by hand with the given
// Proxy-Authorization value ("" for none) and returns the proxy's answer.
// Go's client hides a refused CONNECT's response, hence the raw socket.
func (g *gatehouse) connect(t *testing.T, target, proxyAuth string) reply {
	t.Helper()
	hdr := ""
	if proxyAuth != "" {
		hdr = "Proxy-Authorization: " + proxyAuth + "\r\n"
	}
	return g.raw(t, fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", target, target, hdr))
}

// raw writes head to a new proxy connection and reads one response. It
// fails the test if the proxy closes without answering; rawMaybe allows it.
func (g *gatehouse) raw(t *testing.T, head string) reply {
	t.Helper()
	r, err := g.rawMaybe(t, head)
	if err != nil {
		t.Fatalf("proxy answered %q with no response: %v", firstLine(head), err)
	}
	return r
}

// rawMaybe is raw, returning the read error when the proxy closed the
// connection (or reset it) instead of answering.
func (g *gatehouse) rawMaybe(t *testing.T, head string) (reply, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", g.proxyAddr, clientTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(clientTimeout)); err != nil {
		t.Fatal(err)
	}
	// Write concurrently: a server may answer (and close) before it has read
	// all of a large head, and the answer is what the test is about.
	go func() { _, _ = io.WriteString(c, head) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: methodOf(head)})
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

func methodOf(head string) string {
	m, _, _ := strings.Cut(head, " ")
	return m
}

// curl runs curl with a clean environment plus env and returns the final
// response (status, headers and body). curl's exit status is returned as
// well: a refused CONNECT is a non-zero exit with the CONNECT answer's
// status in connect.
func (g *gatehouse) curl(t *testing.T, env []string, args ...string) (r reply, connect, exit int, stderr string) {
	t.Helper()
	dir := t.TempDir()
	hdrFile, bodyFile := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	full := append([]string{"-q", "-sS", "--max-time", strconv.Itoa(int(clientTimeout / time.Second)),
		"-D", hdrFile, "-o", bodyFile, "-w", "%{http_code} %{http_connect}"}, args...)
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout+5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", full...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("curl: %v", err)
	}
	var status int
	if _, err := fmt.Sscanf(out.String(), "%d %d", &status, &connect); err != nil {
		t.Fatalf("curl -w output %q: %v", out.String(), err)
	}
	r = reply{status: status, header: lastHeaderBlock(t, hdrFile)}
	r.body, _ = os.ReadFile(bodyFile)
	return r, connect, cmd.ProcessState.ExitCode(), errb.String()
}

// lastHeaderBlock parses the last response head curl dumped with -D (the
// first one is the CONNECT answer when a tunnel was used).
func lastHeaderBlock(t *testing.T, path string) http.Header {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return http.Header{}
	}
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(strings.TrimSpace(string(b)), "\r\n\r\n")
	last := blocks[len(blocks)-1] + "\r\n\r\n"
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(last)), &http.Request{Method: http.MethodHead})
	if err != nil {
		t.Fatalf("curl headers %q: %v", last, err)
	}
	return resp.Header
}

// python runs testdata/urllib_client.py through the proxy with key.
func (g *gatehouse) python(t *testing.T, key, rawURL string, headers ...string) reply {
	t.Helper()
	args := []string{filepath.Join("testdata", "urllib_client.py"), "--proxy", g.proxyURL(key), "--cafile", g.caFile()}
	for _, h := range headers {
		args = append(args, "--header", h)
	}
	args = append(args, rawURL)
	ctx, cancel := context.WithTimeout(t.Context(), clientTimeout+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", args...)
	cmd.Env = cleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 urllib client: %v\n%s", err, errb.String())
	}
	var res struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("python client output %q: %v", out.String(), err)
	}
	h := http.Header{}
	for k, v := range res.Headers {
		h.Set(k, v)
	}
	return reply{status: res.Status, header: h, body: []byte(res.Body)}
}
