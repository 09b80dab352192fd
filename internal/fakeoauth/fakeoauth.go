// Package fakeoauth is a test-only OAuth 2.0 authorization server with a fake
// API behind it, shaped like Slack's: an authorize endpoint that consents on
// its own (or denies), a token endpoint for authorization_code (with
// redirect_uri and PKCE S256 checks), refresh_token (with optional rotation
// and reuse detection that revokes the whole token family) and
// client_credentials, an RFC 7009 revocation endpoint, and an API on every
// other path that accepts only live access tokens.
//
// It is an http.Handler, safe for concurrent use, and takes no testing.T:
// tests mount it behind internal/fakeupstream (under the provider's real
// hostname) or httptest, then steer it (expiry, delay, transient failures,
// consent denial, revocation) and read its Stats.
package fakeoauth

import (
	"net/http"
	"sync"
	"time"
)

// Token kinds passed to the OnTokenIssued hook.
const (
	IssuedCode              = "code"
	IssuedRefresh           = "refresh"
	IssuedClientCredentials = "client_credentials"
)

// Client authentication styles accepted by the token and revoke endpoints.
const (
	StyleParams = "params" // client_id and client_secret in the form body
	StyleHeader = "header" // HTTP Basic Authorization header
)

// codeTTL is how long an authorization code can be exchanged.
const codeTTL = 10 * time.Minute

// Options configures a Server. The zero value of every field but ClientID
// and ClientSecret is usable.
type Options struct {
	ClientID, ClientSecret string
	// AuthStyle is StyleParams (default) or StyleHeader; a request
	// authenticating the other way is answered 401 invalid_client.
	AuthStyle string
	// RequirePKCE refuses an authorization request without an S256
	// code_challenge. Without it, PKCE is still verified when the client
	// sent a challenge.
	RequirePKCE bool
	// AccessTTL is the access tokens' lifetime and the token response's
	// expires_in; 0 omits expires_in and tokens never expire.
	AccessTTL time.Duration
	// RotateRefresh makes every refresh return a new refresh token and
	// consume the old one; presenting a consumed one again is reuse.
	RotateRefresh bool
	// Account is returned as authed_user.id and by the API (SetAccount
	// changes it for later authorizations).
	Account string
	// Paths are the endpoints' paths; empty ones take Slack's.
	Paths Paths
	// Now is the clock for token and code expiry; nil is time.Now.
	Now func() time.Time
}

// Paths are the authorization server's endpoint paths.
type Paths struct{ Authorize, Token, Revoke string }

// Slack's endpoint paths, the defaults.
const (
	DefaultAuthorizePath = "/oauth/v2/authorize"
	DefaultTokenPath     = "/api/oauth.v2.access"
	DefaultRevokePath    = "/api/auth.revoke"
)

// Stats counts what the server saw.
type Stats struct {
	TokenCalls        int // every request to the token endpoint, failed ones included
	Refreshes         int // successful refresh_token grants
	ReuseDetected     int // consumed refresh tokens presented again
	Revocations       int // revocation requests that revoked a known token
	CodeExchanges     int // successful authorization_code grants
	ClientCredentials int // successful client_credentials grants
	InjectedFailures  int // token calls answered by FailNext
	InvalidGrants     int // token calls answered invalid_grant
	InvalidClients    int // token and revoke calls answered invalid_client
	Authorizations    int // authorization requests answered with a code
	Denials           int // authorization requests answered access_denied
	APICalls          int // requests to the fake API
	APIUnauthorized   int // fake API requests answered 401
}

// Server is the fake authorization server and API.
type Server struct {
	opts Options
	now  func() time.Time

	mu         sync.Mutex
	accessTTL  time.Duration
	delay      time.Duration
	failN      int
	failStatus int
	deny       bool
	account    string
	onIssued   func(kind string)
	stats      Stats
	codes      map[string]*authCode
	access     map[string]*accessToken
	refresh    map[string]*refreshToken
	families   []*family
	issued     []string // every token handed out, for secret scans
	ccFamily   *family  // client_credentials tokens share one family
}

// New returns a Server for opts.
func New(opts Options) *Server {
	if opts.AuthStyle == "" {
		opts.AuthStyle = StyleParams
	}
	if opts.Paths.Authorize == "" {
		opts.Paths.Authorize = DefaultAuthorizePath
	}
	if opts.Paths.Token == "" {
		opts.Paths.Token = DefaultTokenPath
	}
	if opts.Paths.Revoke == "" {
		opts.Paths.Revoke = DefaultRevokePath
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Server{
		opts:      opts,
		now:       now,
		accessTTL: opts.AccessTTL,
		account:   opts.Account,
		codes:     map[string]*authCode{},
		access:    map[string]*accessToken{},
		refresh:   map[string]*refreshToken{},
	}
}

// ServeHTTP routes to the authorize, token and revoke endpoints; every
// other path is the fake API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case s.opts.Paths.Authorize:
		s.authorize(w, r)
	case s.opts.Paths.Token:
		s.token(w, r)
	case s.opts.Paths.Revoke:
		s.revoke(w, r)
	default:
		s.api(w, r)
	}
}

// SetAccessTTL changes the lifetime (and expires_in) of tokens issued from
// now on; 0 omits expires_in.
func (s *Server) SetAccessTTL(d time.Duration) {
	s.mu.Lock()
	s.accessTTL = d
	s.mu.Unlock()
}

// SetDelay makes the token endpoint answer only after d (or when the
// client gives up), to widen race windows.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// FailNext makes the next n token calls answer status (5xx and 429 with
// error temporarily_unavailable, anything else invalid_request) before
// looking at the request.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	s.failN, s.failStatus = n, status
	s.mu.Unlock()
}

// DenyConsent makes the authorize endpoint redirect with
// error=access_denied while on.
func (s *Server) DenyConsent(on bool) {
	s.mu.Lock()
	s.deny = on
	s.mu.Unlock()
}

// SetAccount changes the account that later authorizations (and the token
// families they start) belong to, as when the same user connects a second
// workspace.
func (s *Server) SetAccount(account string) {
	s.mu.Lock()
	s.account = account
	s.mu.Unlock()
}

// ExpireAccessTokens makes the API answer 401 to every access token issued
// so far; tokens issued later are live.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.access {
		a.killed = true
	}
}

// RevokeRefreshTokens revokes every refresh token issued so far: the next
// refresh with any of them answers invalid_grant (without counting as
// reuse). Access tokens stay live until they expire.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rt := range s.refresh {
		rt.revoked = true
	}
}

// OnTokenIssued sets fn, called with IssuedCode, IssuedRefresh or
// IssuedClientCredentials after a successful token response was written
// and flushed. It runs on the request's goroutine; nil removes it.
func (s *Server) OnTokenIssued(fn func(kind string)) {
	s.mu.Lock()
	s.onIssued = fn
	s.mu.Unlock()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Tokens returns every access and refresh token issued so far, for tests
// that scan logs and storage for plaintext secrets.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// LiveFamilies is the number of token families (one per code exchange or
// client_credentials client) that are not revoked.
func (s *Server) LiveFamilies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.families {
		if !f.revoked {
			n++
		}
	}
	return n
}
