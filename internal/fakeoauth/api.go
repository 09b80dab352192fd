package fakeoauth

import (
	"net/http"
	"strings"
)

// api is the fake provider API on every path that is not an endpoint of
// the authorization server: a live bearer access token gets 200 with the
// token's account and generation (1 for the code exchange's token, +1 per
// refresh), anything else 401 invalid_auth, as Slack answers.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	tok, ok := bearer(r.Header.Get("Authorization"))
	s.mu.Lock()
	s.stats.APICalls++
	var (
		at   *accessToken
		live bool
	)
	if ok {
		at, live = s.liveLocked(tok)
	}
	if !live {
		s.stats.APIUnauthorized++
		s.mu.Unlock()
		writeJSON(w, http.StatusUnauthorized, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	body := map[string]any{"ok": true, "account": at.fam.account, "token_generation": at.generation}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// bearer extracts the token of an "Authorization: Bearer <token>" value.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || tok == "" {
		return "", false
	}
	return tok, true
}
