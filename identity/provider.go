package identity

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults applied by NewVerifier to zero fields of a Provider.
const (
	DefaultUserClaim = "sub"
	DefaultLeeway    = 30 * time.Second
	// MaxLeeway bounds Provider.Leeway: clock skew beyond minutes is a
	// broken clock, and a large leeway silently extends every token.
	MaxLeeway = 5 * time.Minute
)

// defaultAlgorithms is the allowlist used when Provider.Algorithms is empty.
// A function, not a variable: no package-level mutable state.
func defaultAlgorithms() []string { return []string{"RS256", "ES256"} }

// knownAlgorithms are the asymmetric JWS algorithms a Provider may allow.
// Symmetric (HS*) and "none" are never allowed: with a JWKS of public keys an
// HMAC "signature" could be made by anyone holding the public key.
var knownAlgorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// Provider is one app's identity provider.
type Provider struct {
	Issuer     string        // exact "iss"; https URL
	JWKSURL    string        // empty → OpenID discovery from Issuer/.well-known/openid-configuration
	Audience   string        // required; must be one of the token's "aud" values
	UserClaim  string        // default "sub"
	GroupClaim string        // default "" (no groups); the claim may be a string or an array of strings
	Algorithms []string      // default [RS256, ES256]; "none" and HS* refused
	Leeway     time.Duration // default 30s; at most MaxLeeway
}

// Validate reports every problem of p (errors.Join), each wrapping
// ErrConfig with a message naming the field. Zero fields that have a
// default are fine.
func (p Provider) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	if p.Issuer == "" {
		bad("issuer is required")
	} else if err := checkHTTPS(p.Issuer); err != nil {
		bad("issuer: %v", err)
	}
	if p.JWKSURL != "" {
		if err := checkHTTPS(p.JWKSURL); err != nil {
			bad("jwks_url: %v", err)
		}
	}
	switch {
	case strings.TrimSpace(p.Audience) == "":
		bad("audience is required (the client id or API identifier the IdP puts in \"aud\")")
	case strings.TrimSpace(p.Audience) != p.Audience:
		bad("audience has leading or trailing spaces")
	}
	if p.UserClaim != "" && !validClaimName(p.UserClaim) {
		bad("user_claim %q is not a claim name", p.UserClaim)
	}
	if p.GroupClaim != "" && !validClaimName(p.GroupClaim) {
		bad("group_claim %q is not a claim name", p.GroupClaim)
	}
	for _, alg := range p.Algorithms {
		switch {
		case strings.EqualFold(alg, "none"):
			bad("algorithm %q is never accepted (unsigned tokens)", alg)
		case strings.HasPrefix(strings.ToUpper(alg), "HS"):
			bad("algorithm %q is refused: shared-secret algorithms allow key confusion with a public JWKS", alg)
		case !slices.Contains(knownAlgorithms, alg):
			bad("unknown algorithm %q (known: %s)", alg, strings.Join(knownAlgorithms, ", "))
		}
	}
	switch {
	case p.Leeway < 0:
		bad("leeway %s is negative", p.Leeway)
	case p.Leeway > MaxLeeway:
		bad("leeway %s is more than %s", p.Leeway, MaxLeeway)
	}
	return errors.Join(errs...)
}

// withDefaults fills the zero fields that have defaults.
func (p Provider) withDefaults() Provider {
	if p.UserClaim == "" {
		p.UserClaim = DefaultUserClaim
	}
	if len(p.Algorithms) == 0 {
		p.Algorithms = defaultAlgorithms()
	} else {
		p.Algorithms = slices.Clone(p.Algorithms)
	}
	if p.Leeway == 0 {
		p.Leeway = DefaultLeeway
	}
	return p
}

// checkHTTPS accepts an absolute https URL with a host and without user
// info or fragment. The message quotes the URL only when it carries no
// user info, which could be a password.
func checkHTTPS(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.User != nil:
		return errors.New("must not contain user info")
	case u.Scheme != "https":
		return fmt.Errorf("%q must be an https URL", raw)
	case u.Host == "":
		return fmt.Errorf("%q has no host", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("%q must not contain a fragment", raw)
	}
	return nil
}

// validClaimName accepts a non-empty claim name without spaces or control
// characters.
func validClaimName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
