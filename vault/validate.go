package vault

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Principal forms (contracts.md): "system", "agent:<name>", "user:<id>",
// and "group:<name>" (PrincipalGroupPrefix, types.go).
const (
	PrincipalSystem      = "system"
	PrincipalAgentPrefix = "agent:"
	PrincipalUserPrefix  = "user:"
)

// Credential kinds. PutSecret accepts api_key and basic; oauth2 token sets
// come from the connect flow or client credentials (vault/oauth), and
// oauth_client holds an app's OAuth client secret (ConfigureProvider).
const (
	KindAPIKey      = "api_key"
	KindBasic       = "basic"
	KindOAuth2      = "oauth2"
	KindOAuthClient = "oauth_client"
)

// maxNameLen is the length limit of the name rule [a-z0-9][a-z0-9._-]{0,62}.
const maxNameLen = 63

// maxUserIDLen bounds an IdP subject in a "user:" principal.
const maxUserIDLen = 255

// maxSecretLen bounds one Material field; real API keys and passwords are far
// shorter, and a bound keeps a pasted file from becoming a credential.
const maxSecretLen = 16 << 10

// ValidateName checks the name rule shared by apps, agents and provider ids:
// [a-z0-9][a-z0-9._-]{0,62}. The error wraps ErrInvalid and is safe to show.
func ValidateName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s name is empty: %w", what, ErrInvalid)
	}
	if len(s) > maxNameLen {
		return fmt.Errorf("%s name is longer than %d characters: %w", what, maxNameLen, ErrInvalid)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return fmt.Errorf("%s name %q must match [a-z0-9][a-z0-9._-]{0,62}: %w", what, s, ErrInvalid)
		}
	}
	return nil
}

// ValidatePrincipal checks a grant principal: "system", "agent:<name>" with
// the name rule, or "user:<id>" or "group:<name>" where id and name are
// 1-255 visible ASCII characters (IdP subjects such as "auth0|5f7c…",
// e-mail addresses, group names such as "eng-oncall").
func ValidatePrincipal(p string) error {
	switch {
	case p == PrincipalSystem:
		return nil
	case strings.HasPrefix(p, PrincipalAgentPrefix):
		return ValidateName("agent", strings.TrimPrefix(p, PrincipalAgentPrefix))
	case strings.HasPrefix(p, PrincipalUserPrefix):
		return validateIdPName("user principal id", strings.TrimPrefix(p, PrincipalUserPrefix))
	case strings.HasPrefix(p, PrincipalGroupPrefix):
		return validateIdPName("group principal name", strings.TrimPrefix(p, PrincipalGroupPrefix))
	default:
		// Quoting is safe: a principal is an identifier, never a secret.
		return fmt.Errorf("principal %q must be system, agent:<name>, user:<id> or group:<name>: %w", truncate(p, 80), ErrInvalid)
	}
}

// validateIdPName checks the part of a user or group principal after the
// prefix: 1-255 visible ASCII characters.
func validateIdPName(what, s string) error {
	if s == "" || len(s) > maxUserIDLen {
		return fmt.Errorf("%s must be 1-%d characters: %w", what, maxUserIDLen, ErrInvalid)
	}
	if !visibleASCII(s) {
		return fmt.Errorf("%s must be visible ASCII without spaces: %w", what, ErrInvalid)
	}
	return nil
}

// ValidateMaterial checks that m fits kind: api_key needs a non-empty Token
// and nothing else; basic needs a Username (without ':', RFC 7617) and takes
// an optional Password; oauth2 needs an AccessToken and takes the rest of
// the token set (refresh token, token type, expiry, scopes, grant type);
// oauth_client takes only a Token (the client secret), which may be empty
// for a public client. No field may hold control characters, which would
// let an injected header value split the request, or exceed maxSecretLen.
// Error messages never contain the material.
func ValidateMaterial(kind string, m Material) error {
	hasOAuth := m.AccessToken != "" || m.RefreshToken != "" || m.TokenType != "" ||
		!m.Expiry.IsZero() || len(m.Scopes) > 0 || m.GrantType != ""
	switch kind {
	case KindAPIKey:
		if m.Token == "" {
			return fmt.Errorf("api_key material needs a non-empty token: %w", ErrInvalid)
		}
		if m.Username != "" || m.Password != "" || hasOAuth {
			return fmt.Errorf("api_key material takes only a token: %w", ErrInvalid)
		}
	case KindBasic:
		if m.Username == "" {
			return fmt.Errorf("basic material needs a username: %w", ErrInvalid)
		}
		if strings.Contains(m.Username, ":") {
			return fmt.Errorf("basic username must not contain ':': %w", ErrInvalid)
		}
		if m.Token != "" || hasOAuth {
			return fmt.Errorf("basic material takes only a username and password: %w", ErrInvalid)
		}
	case KindOAuth2:
		if m.AccessToken == "" {
			return fmt.Errorf("oauth2 material needs a non-empty access token: %w", ErrInvalid)
		}
		if m.Token != "" || m.Username != "" || m.Password != "" {
			return fmt.Errorf("oauth2 material takes only an OAuth token set: %w", ErrInvalid)
		}
		switch m.GrantType {
		case "", GrantAuthorizationCode, GrantClientCredentials:
		default:
			return fmt.Errorf("oauth2 grant type %q must be %s or %s: %w",
				truncate(m.GrantType, 40), GrantAuthorizationCode, GrantClientCredentials, ErrInvalid)
		}
		if err := ValidateScopes(m.Scopes); err != nil {
			return err
		}
	case KindOAuthClient:
		if m.Username != "" || m.Password != "" || hasOAuth {
			return fmt.Errorf("oauth_client material takes only a client secret: %w", ErrInvalid)
		}
	default:
		return fmt.Errorf("credential kind %q must be %s, %s, %s or %s: %w",
			truncate(kind, 40), KindAPIKey, KindBasic, KindOAuth2, KindOAuthClient, ErrInvalid)
	}
	for _, f := range []struct{ name, v string }{
		{"token", m.Token}, {"username", m.Username}, {"password", m.Password},
		{"access token", m.AccessToken}, {"refresh token", m.RefreshToken}, {"token type", m.TokenType},
	} {
		if err := checkSecretField(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// checkSecretField bounds one material field and refuses control
// characters. The message names the field, never its value.
func checkSecretField(name, v string) error {
	if len(v) > maxSecretLen {
		return fmt.Errorf("%s is longer than %d bytes: %w", name, maxSecretLen, ErrInvalid)
	}
	if hasControl(v) {
		return fmt.Errorf("%s contains control characters: %w", name, ErrInvalid)
	}
	return nil
}

// hasControl reports ASCII control characters (and DEL) in s.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// OAuth input limits: far above what real providers use, low enough that
// a row stays small.
const (
	maxScopes     = 100
	maxScopeLen   = 256
	maxAccountLen = 512
	maxClientID   = 1024
)

// ValidateScopes checks OAuth scope tokens (RFC 6749 section 3.3): each is
// 1-256 bytes of visible ASCII other than '"' and '\'; at most 100. The
// error wraps ErrInvalid and is safe to show.
func ValidateScopes(scopes []string) error {
	if len(scopes) > maxScopes {
		return fmt.Errorf("%d scopes, at most %d allowed: %w", len(scopes), maxScopes, ErrInvalid)
	}
	for _, sc := range scopes {
		if sc == "" || len(sc) > maxScopeLen {
			return fmt.Errorf("a scope must be 1-%d characters: %w", maxScopeLen, ErrInvalid)
		}
		for i := 0; i < len(sc); i++ {
			if c := sc[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				return fmt.Errorf("scope %q must be visible ASCII without spaces, quotes or backslashes: %w",
					truncate(strings.ToValidUTF8(sc, "?"), 80), ErrInvalid)
			}
		}
	}
	return nil
}

// ValidateAccount checks a grant's provider-side account identifier (a
// Slack user id, an e-mail address…): empty, or at most 512 bytes of valid
// UTF-8 without control characters.
func ValidateAccount(account string) error {
	switch {
	case len(account) > maxAccountLen:
		return fmt.Errorf("account is longer than %d bytes: %w", maxAccountLen, ErrInvalid)
	case !utf8.ValidString(account) || hasControl(account):
		return fmt.Errorf("account must be UTF-8 text without control characters: %w", ErrInvalid)
	}
	return nil
}

// validateClientID checks an OAuth client id: 1-1024 bytes of visible
// ASCII (client ids are sent in forms and Basic auth).
func validateClientID(id string) error {
	if id == "" || len(id) > maxClientID {
		return fmt.Errorf("client id must be 1-%d characters: %w", maxClientID, ErrInvalid)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("client id must be visible ASCII without spaces: %w", ErrInvalid)
		}
	}
	return nil
}

// validGrantStatus reports whether s is one of the grant statuses.
func validGrantStatus(s string) bool {
	switch s {
	case StatusActive, StatusExpired, StatusRevoked, StatusNeedsReauth:
		return true
	}
	return false
}

// ValidateGrantStatus checks s against the grant statuses.
func ValidateGrantStatus(s string) error {
	if !validGrantStatus(s) {
		return fmt.Errorf("grant status %q must be active, expired, revoked or needs_reauth: %w", truncate(s, 40), ErrInvalid)
	}
	return nil
}

// NormalizeEgress validates and normalises an app's egress allowlist: each
// entry is a lowercase host name, optionally "*." + suffix, optionally
// ":port". Duplicates are dropped; order is kept. A nil input yields an empty,
// non-nil slice so JSON shows [] rather than null.
func NormalizeEgress(hosts []string) ([]string, error) {
	out := make([]string, 0, len(hosts))
	seen := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		n, err := normalizeEgressHost(h)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

func normalizeEgressHost(h string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("egress host %q %s: %w", truncate(h, 80), why, ErrInvalid)
	}
	s := strings.ToLower(strings.TrimSpace(h))
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", bad("has an invalid port")
		}
	}
	host = strings.TrimSuffix(host, ".")
	labels := host
	if strings.HasPrefix(host, "*.") {
		labels = host[2:]
	}
	if labels == "" || len(labels) > 253 {
		return "", bad("is not a host name")
	}
	for _, l := range strings.Split(labels, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", bad("is not a host name")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", bad("is not a host name")
			}
		}
	}
	if port != "" {
		return host + ":" + port, nil
	}
	return host, nil
}

// truncate shortens identifiers echoed in error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
