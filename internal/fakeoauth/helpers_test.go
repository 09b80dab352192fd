package fakeoauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const (
	testClientID     = "client-123"
	testClientSecret = "s3cret/with+odd&chars"
	testRedirect     = "https://app.example/oauth/callback?tenant=acme"
)

// fixture is a Server behind httptest and an oauth2.Config for it.
type fixture struct {
	srv  *Server
	ts   *httptest.Server
	conf *oauth2.Config
	ctx  context.Context // carries the test server's client for x/oauth2
}

// newFixture starts opts behind an httptest server; the oauth2.Config uses
// the style opts asks for (params when empty).
func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	if opts.ClientID == "" {
		opts.ClientID, opts.ClientSecret = testClientID, testClientSecret
	}
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	style := oauth2.AuthStyleInParams
	if opts.AuthStyle == StyleHeader {
		style = oauth2.AuthStyleInHeader
	}
	conf := &oauth2.Config{
		ClientID:     opts.ClientID,
		ClientSecret: opts.ClientSecret,
		RedirectURL:  testRedirect,
		Scopes:       []string{"chat:write", "channels:read"},
		Endpoint: oauth2.Endpoint{
			AuthURL:   ts.URL + DefaultAuthorizePath,
			TokenURL:  ts.URL + DefaultTokenPath,
			AuthStyle: style,
		},
	}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, ts.Client())
	return &fixture{srv: s, ts: ts, conf: conf, ctx: ctx}
}

// noRedirect is a client that returns redirects instead of following them,
// as a test acting as the browser needs.
func noRedirect() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// authorizeURL GETs authURL and returns the redirect's query (or fails
// when there is none).
func authorizeURL(t *testing.T, authURL string) url.Values {
	t.Helper()
	resp, err := noRedirect().Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize: status %d, want 302: %s", resp.StatusCode, b)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := url.Parse(testRedirect)
	if loc.Scheme != want.Scheme || loc.Host != want.Host || loc.Path != want.Path {
		t.Fatalf("redirected to %s, want %s", loc, testRedirect)
	}
	if loc.Query().Get("tenant") != "acme" {
		t.Errorf("the redirect dropped redirect_uri's own query: %s", loc)
	}
	return loc.Query()
}

// code runs the authorization step with state "st" and the given options
// and returns the code.
func (f *fixture) code(t *testing.T, opts ...oauth2.AuthCodeOption) string {
	t.Helper()
	q := authorizeURL(t, f.conf.AuthCodeURL("st", opts...))
	if q.Get("state") != "st" || q.Get("code") == "" || q.Get("error") != "" {
		t.Fatalf("authorize redirect query %v, want state=st and a code", q)
	}
	return q.Get("code")
}

// connect runs authorize + exchange with PKCE and returns the token.
func (f *fixture) connect(t *testing.T) *oauth2.Token {
	t.Helper()
	v := oauth2.GenerateVerifier()
	tok, err := f.conf.Exchange(f.ctx, f.code(t, oauth2.S256ChallengeOption(v)), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// refresh runs one refresh with x/oauth2 as the proxy does it: a one-shot
// token source from the refresh token alone.
func (f *fixture) refresh(rt string) (*oauth2.Token, error) {
	return f.conf.TokenSource(f.ctx, &oauth2.Token{RefreshToken: rt}).Token()
}

// apiReply is the fake API's answer.
type apiReply struct {
	Status     int
	OK         bool   `json:"ok"`
	Account    string `json:"account"`
	Generation int    `json:"token_generation"`
	Error      string `json:"error"`
}

// call sends GET /api/auth.test with access token tok ("" for none).
func (f *fixture) call(t *testing.T, tok string) apiReply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.ts.URL+"/api/auth.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r apiReply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("API body: %v", err)
	}
	r.Status = resp.StatusCode
	return r
}

// post sends a form to path with an optional basic auth pair and returns
// status and decoded JSON body.
func (f *fixture) post(t *testing.T, path string, form url.Values, basicUser, basicPass string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s body: %v", path, err)
	}
	return resp.StatusCode, body
}

// retrieveError returns err's OAuth error code and HTTP status, failing
// the test if err is not a *oauth2.RetrieveError.
func retrieveError(t *testing.T, err error) (string, int) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an *oauth2.RetrieveError", err)
	}
	return re.ErrorCode, re.Response.StatusCode
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
