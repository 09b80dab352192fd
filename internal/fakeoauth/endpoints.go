package fakeoauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// authorize consents on the user's behalf: it redirects to redirect_uri
// with a fresh code and the client's state, or with error=access_denied
// while DenyConsent is on. A request it cannot redirect safely (unknown
// client, bad redirect_uri) is answered 400 without a redirect, as RFC 6749
// section 4.1.2.1 requires.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if q.Get("client_id") != s.opts.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !redirect.IsAbs() || redirect.Host == "" || redirect.Fragment != "" {
		http.Error(w, "redirect_uri must be an absolute URL", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	fail := func(code, desc string) {
		back.Set("error", code)
		back.Set("error_description", desc)
		redirect.RawQuery = back.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	case challenge == "" && s.opts.RequirePKCE:
		fail("invalid_request", "code_challenge is required")
		return
	case challenge != "" && method != "S256":
		fail("invalid_request", "code_challenge_method must be S256")
		return
	}
	s.mu.Lock()
	if s.deny {
		s.stats.Denials++
		s.mu.Unlock()
		fail("access_denied", "The user denied the authorization request.")
		return
	}
	code := randomToken("fakecode-")
	s.codes[code] = &authCode{
		redirectURI: q.Get("redirect_uri"),
		challenge:   challenge,
		scope:       q.Get("scope"),
		account:     s.account,
		expires:     s.now().Add(codeTTL),
	}
	s.stats.Authorizations++
	s.mu.Unlock()
	back.Set("code", code)
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// token is the token endpoint: injected delay and failures first, then
// client authentication, then the grant.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.TokenCalls++
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	s.mu.Lock()
	if s.failN > 0 {
		s.failN--
		s.stats.InjectedFailures++
		status := s.failStatus
		s.mu.Unlock()
		code := "invalid_request"
		if status >= 500 || status == http.StatusTooManyRequests {
			code = "temporarily_unavailable"
		}
		writeError(w, status, code, "injected failure")
		return
	}
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	if !s.authenticate(w, r) {
		return
	}
	var (
		g    grant
		kind string
		ok   bool
	)
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		g, ok = s.exchange(w, r.PostForm)
		kind = IssuedCode
	case "refresh_token":
		g, ok = s.refreshGrant(w, r.PostForm)
		kind = IssuedRefresh
	case "client_credentials":
		g, ok = s.clientCredentials(r.PostForm)
		kind = IssuedClientCredentials
	default:
		writeError(w, http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type")
		return
	}
	if !ok {
		return
	}
	writeToken(w, g)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.mu.Lock()
	hook := s.onIssued
	s.mu.Unlock()
	if hook != nil {
		hook(kind)
	}
}

// exchange redeems an authorization code. A code presented twice revokes
// every token issued from it (RFC 6749 section 4.1.2).
func (s *Server) exchange(w http.ResponseWriter, form url.Values) (grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[form.Get("code")]
	switch {
	case !ok:
		return s.invalidGrantLocked(w, "unknown authorization code")
	case c.used:
		if c.fam != nil {
			c.fam.revoked = true
		}
		return s.invalidGrantLocked(w, "authorization code already used")
	case !s.now().Before(c.expires):
		return s.invalidGrantLocked(w, "authorization code expired")
	case form.Get("redirect_uri") != c.redirectURI:
		return s.invalidGrantLocked(w, "redirect_uri does not match the authorization request")
	}
	verifier := form.Get("code_verifier")
	switch {
	case c.challenge == "" && verifier != "":
		// RFC 9700 section 2.1.1: a verifier without a challenge is a downgrade.
		return s.invalidGrantLocked(w, "code_verifier sent but no code_challenge was")
	case c.challenge != "" && verifier == "":
		return s.invalidGrantLocked(w, "code_verifier is required")
	case c.challenge != "" && !pkceMatches(verifier, c.challenge):
		return s.invalidGrantLocked(w, "code_verifier does not match code_challenge")
	}
	c.used = true
	c.fam = s.newFamilyLocked(c.account, c.scope)
	s.stats.CodeExchanges++
	return s.issueLocked(c.fam, true), true
}

// refreshGrant redeems a refresh token, rotating it when configured.
func (s *Server) refreshGrant(w http.ResponseWriter, form url.Values) (grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[form.Get("refresh_token")]
	switch {
	case !ok:
		return s.invalidGrantLocked(w, "unknown refresh token")
	case rt.consumed:
		s.stats.ReuseDetected++
		rt.fam.revoked = true
		return s.invalidGrantLocked(w, "refresh token reused; every token of this grant is revoked")
	case rt.revoked || rt.fam.revoked:
		return s.invalidGrantLocked(w, "refresh token revoked")
	}
	s.stats.Refreshes++
	if s.opts.RotateRefresh {
		rt.consumed = true
	}
	return s.issueLocked(rt.fam, s.opts.RotateRefresh), true
}

// clientCredentials mints an access token for the client itself.
func (s *Server) clientCredentials(form url.Values) (grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ccFamily == nil || s.ccFamily.revoked {
		s.ccFamily = s.newFamilyLocked(s.opts.ClientID, form.Get("scope"))
	}
	s.stats.ClientCredentials++
	return s.issueLocked(s.ccFamily, false), true
}

// invalidGrantLocked answers invalid_grant. s.mu must be held.
func (s *Server) invalidGrantLocked(w http.ResponseWriter, desc string) (grant, bool) {
	s.stats.InvalidGrants++
	writeError(w, http.StatusBadRequest, "invalid_grant", desc)
	return grant{}, false
}

// revoke is RFC 7009's endpoint: revoking any token of a family revokes the
// whole family. An unknown token is answered 200 too (section 2.2).
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "the revocation endpoint takes POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	if !s.authenticate(w, r) {
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	s.mu.Lock()
	var f *family
	if rt, ok := s.refresh[tok]; ok {
		f = rt.fam
	} else if at, ok := s.access[tok]; ok {
		f = at.fam
	}
	if f != nil {
		f.revoked = true
		s.stats.Revocations++
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "revoked": f != nil})
}

// authenticate checks the client in exactly the configured style; any
// other presentation is 401 invalid_client.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	id, secret, ok := "", "", false
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if s.opts.AuthStyle == StyleHeader {
		var hid, hsecret string
		hid, hsecret, ok = r.BasicAuth()
		// RFC 6749 section 2.3.1: both parts are form-urlencoded first.
		if ok {
			var e1, e2 error
			id, e1 = url.QueryUnescape(hid)
			secret, e2 = url.QueryUnescape(hsecret)
			ok = e1 == nil && e2 == nil && formSecret == "" && (formID == "" || formID == id)
		}
	} else {
		_, hasAuth := r.Header["Authorization"]
		id, secret = formID, formSecret
		ok = !hasAuth && id != ""
	}
	if ok && constantEqual(id, s.opts.ClientID) && constantEqual(secret, s.opts.ClientSecret) {
		return true
	}
	s.mu.Lock()
	s.stats.InvalidClients++
	s.mu.Unlock()
	if s.opts.AuthStyle == StyleHeader {
		w.Header().Set("WWW-Authenticate", `Basic realm="fakeoauth"`)
	}
	writeError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed (expected "+s.opts.AuthStyle+" style)")
	return false
}

func constantEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// pkceMatches checks verifier against an S256 challenge (RFC 7636 4.6).
func pkceMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	return constantEqual(base64.RawURLEncoding.EncodeToString(sum[:]), challenge)
}

// writeToken writes a Slack-shaped token response.
func writeToken(w http.ResponseWriter, g grant) {
	body := map[string]any{
		"ok":           true,
		"access_token": g.access,
		"token_type":   "bearer",
		"authed_user":  map[string]any{"id": g.fam.account},
	}
	if g.fam.scope != "" {
		body["scope"] = g.fam.scope
	}
	if g.expiresIn > 0 {
		// Round up: a sub-second lifetime must not become "0" (no expiry).
		body["expires_in"] = int64((g.expiresIn + time.Second - 1) / time.Second)
	}
	if g.refresh != "" {
		body["refresh_token"] = g.refresh
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, body)
}

// writeError writes an OAuth error response.
func writeError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]any{"ok": false, "error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
