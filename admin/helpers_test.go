package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// testToken is the admin token of every test server.
const testToken = "gatehouse_admin_testtoken"

// recorder captures admin events and forwards them to the real writer.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
	next   Recorder
}

func (r *recorder) Record(e audit.Event) error {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	return r.next.Record(e)
}

func (r *recorder) Flush(ctx context.Context) error { return r.next.Flush(ctx) }

// actions returns the recorded actions in order.
func (r *recorder) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.events))
	for _, e := range r.events {
		out = append(out, e.Action)
	}
	return out
}

// last returns the most recent event.
func (r *recorder) last(t *testing.T) audit.Event {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		t.Fatal("no audit event recorded")
	}
	return r.events[len(r.events)-1]
}

// env is a running admin API over a real SQLite vault in a temp dir.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	store  *vault.SQLite
	vault  *vault.Vault
	events audit.Store
	rec    *recorder
	writer *audit.Writer
	oauth  *fakeOAuth

	storeClosed bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, &fakeOAuth{})
}

// newEnvWith is newEnv with the OAuth manager m (nil: OAuth disabled) and
// opts applied to the Deps.
func newEnvWith(t *testing.T, m *fakeOAuth, opts ...func(*Deps)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := vault.OpenSQLite(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	kek := make([]byte, vault.KEKSize)
	pepper := make([]byte, 32)
	_, _ = rand.Read(kek)
	_, _ = rand.Read(pepper)
	kr, err := vault.NewKeyring("test", map[string][]byte{"test": kek})
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(st, kr, pepper, vault.Options{})
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	events := audit.NewSQLStore(st.DB())
	w := audit.NewWriter(events, audit.WriterConfig{}, nil)
	rec := &recorder{next: w}
	d := Deps{Token: testToken, Vault: v, Catalog: cat, Audit: rec, Events: events}
	if m != nil {
		d.OAuth = m
	}
	for _, o := range opts {
		o(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	e := &env{t: t, srv: srv, store: st, vault: v, events: events, rec: rec, writer: w, oauth: m}
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithCancel(context.Background())
		if e.storeClosed {
			cancel() // events can no longer be written; do not wait for them
		}
		defer cancel()
		if err := w.Close(ctx); err != nil && !e.storeClosed {
			t.Errorf("audit close: %v", err)
		}
		v.Close()
		_ = st.Close()
	})
	return e
}

// closeStore closes the store under the running API, to provoke failures.
func (e *env) closeStore() {
	e.t.Helper()
	e.storeClosed = true
	if err := e.store.Close(); err != nil {
		e.t.Fatal(err)
	}
}

// response is a decoded API answer.
type response struct {
	status int
	raw    []byte
}

// decode unmarshals the body into v.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.raw, v); err != nil {
		t.Fatalf("decode %s: %v", r.raw, err)
	}
}

// apiErr returns the error envelope of the body.
func (r response) apiErr(t *testing.T) Error {
	t.Helper()
	var b struct {
		Error *Error `json:"error"`
	}
	r.decode(t, &b)
	if b.Error == nil {
		t.Fatalf("body %s has no error", r.raw)
	}
	return *b.Error
}

// call sends method path with body (a string, or any JSON-marshalled value;
// nil for none) and the admin token.
func (e *env) call(method, path string, body any) response {
	e.t.Helper()
	return e.callAs(testToken, method, path, body)
}

// callAs is call with a specific token ("" for no Authorization header).
func (e *env) callAs(token, method, path string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		e.t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	return response{status: resp.StatusCode, raw: raw}
}

// must calls and requires status want, decoding the body into out (if
// non-nil).
func (e *env) must(want int, method, path string, body, out any) response {
	e.t.Helper()
	r := e.call(method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.raw)
	}
	if out != nil {
		r.decode(e.t, out)
	}
	return r
}

// wantErr calls and requires status and error code.
func (e *env) wantErr(status int, code, method, path string, body any) Error {
	e.t.Helper()
	r := e.call(method, path, body)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.raw)
	}
	got := r.apiErr(e.t)
	if got.Code != code {
		e.t.Fatalf("%s %s: code %q, want %q (message %q)", method, path, got.Code, code, got.Message)
	}
	return got
}

// createApp creates an app and returns it.
func (e *env) createApp(name string) vault.App {
	e.t.Helper()
	var a vault.App
	e.must(http.StatusCreated, "POST", "/v1/apps", map[string]string{"name": name}, &a)
	return a
}

// createAgent creates an agent and returns the answer.
func (e *env) createAgent(app, name string) createdAgent {
	e.t.Helper()
	var a createdAgent
	e.must(http.StatusCreated, "POST", "/v1/apps/"+app+"/agents", map[string]string{"name": name}, &a)
	return a
}

// putSecret stores an api_key secret for openai and returns the answer.
func (e *env) putSecret(app, principal, value string) secretView {
	e.t.Helper()
	var s secretView
	e.must(http.StatusCreated, "POST", "/v1/apps/"+app+"/secrets",
		map[string]string{"provider": "openai", "principal": principal, "value": value}, &s)
	return s
}

// rawResponse is an answer of any content type.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// get sends GET path with header (the admin token only when withToken)
// and does not follow redirects.
func (e *env) get(path string, header http.Header, withToken bool) rawResponse {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if withToken {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	c := *e.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

// putSecretFor stores an api_key secret of provider for principal.
func (e *env) putSecretFor(app, provider, principal, value string) secretView {
	e.t.Helper()
	var s secretView
	e.must(http.StatusCreated, "POST", "/v1/apps/"+app+"/secrets",
		map[string]string{"provider": provider, "principal": principal, "value": value}, &s)
	return s
}
