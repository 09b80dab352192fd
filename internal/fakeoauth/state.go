package fakeoauth

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// family is every token descended from one code exchange (or one client's
// client_credentials mints): revoking it kills them all, as providers with
// refresh-token reuse detection do.
type family struct {
	account    string
	scope      string
	generation int // access tokens issued in this family so far
	revoked    bool
}

// authCode is an issued authorization code and what its exchange must match.
type authCode struct {
	redirectURI string
	challenge   string // S256 code_challenge, "" when the client sent none
	scope       string
	account     string
	expires     time.Time
	used        bool
	fam         *family // set once exchanged, so a replayed code revokes it
}

// accessToken is an issued access token.
type accessToken struct {
	fam        *family
	generation int
	expires    time.Time // zero: never
	killed     bool      // ExpireAccessTokens
}

// refreshToken is an issued refresh token.
type refreshToken struct {
	fam      *family
	consumed bool // rotated away: presenting it again is reuse
	revoked  bool // RevokeRefreshTokens
}

// grant is what a successful token call hands out.
type grant struct {
	access, refresh string
	expiresIn       time.Duration // 0: expires_in omitted
	fam             *family
}

// randomToken returns prefix followed by 32 random hex characters.
func randomToken(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + hex.EncodeToString(b)
}

// issueLocked mints an access token in f (and a refresh token when
// withRefresh). s.mu must be held.
func (s *Server) issueLocked(f *family, withRefresh bool) grant {
	f.generation++
	g := grant{access: randomToken("xoxp-fake-"), expiresIn: s.accessTTL, fam: f}
	at := &accessToken{fam: f, generation: f.generation}
	if s.accessTTL > 0 {
		at.expires = s.now().Add(s.accessTTL)
	}
	s.access[g.access] = at
	s.issued = append(s.issued, g.access)
	if withRefresh {
		g.refresh = randomToken("xoxe-1-fake-")
		s.refresh[g.refresh] = &refreshToken{fam: f}
		s.issued = append(s.issued, g.refresh)
	}
	return g
}

// newFamilyLocked starts a token family. s.mu must be held.
func (s *Server) newFamilyLocked(account, scope string) *family {
	f := &family{account: account, scope: scope}
	s.families = append(s.families, f)
	return f
}

// liveLocked reports whether token is a live access token and returns it.
// s.mu must be held.
func (s *Server) liveLocked(token string) (*accessToken, bool) {
	at, ok := s.access[token]
	if !ok || at.killed || at.fam.revoked {
		return nil, false
	}
	if !at.expires.IsZero() && !s.now().Before(at.expires) {
		return nil, false
	}
	return at, true
}
