package vault

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Input checks shared by both stores for the issue 5 rows (identity
// providers, app policies, access sets, users). They run before any
// statement, so SQLite and PostgreSQL refuse the same inputs with the same
// ErrInvalid. Semantic validation (a reachable issuer, a policy that
// compiles) is the callers' (identity.Provider.Validate, policy.Parse).

// Bounds of the issue 5 text columns: far above real values, low enough
// that a row stays small.
const (
	maxIdPTextLen    = 2048 // issuer, JWKS URL, audience, claim names
	maxAlgorithms    = 16
	maxPolicyLen     = 1 << 20 // one app's YAML policy document
	maxUserGroups    = 256
	maxGroupNameLen  = 255
	maxAlgorithmName = 16
)

// plainText reports whether s is valid UTF-8 without control characters.
func plainText(s string) bool { return utf8.ValidString(s) && !hasControl(s) }

// checkIdentityProvider validates p for PutIdentityProvider.
func checkIdentityProvider(p IdentityProvider) error {
	bad := func(why string) error { return fmt.Errorf("identity provider %s: %w", why, ErrInvalid) }
	if p.Issuer == "" || p.Audience == "" {
		return bad("needs an issuer and an audience")
	}
	for _, f := range []struct{ name, v string }{
		{"issuer", p.Issuer}, {"jwks url", p.JWKSURL}, {"audience", p.Audience},
		{"user claim", p.UserClaim}, {"group claim", p.GroupClaim},
	} {
		if len(f.v) > maxIdPTextLen || !plainText(f.v) {
			return bad(fmt.Sprintf("%s must be UTF-8 text of at most %d bytes without control characters", f.name, maxIdPTextLen))
		}
	}
	if len(p.Algorithms) > maxAlgorithms {
		return bad(fmt.Sprintf("lists more than %d algorithms", maxAlgorithms))
	}
	for _, a := range p.Algorithms {
		if a == "" || len(a) > maxAlgorithmName || !visibleASCII(a) {
			return bad(fmt.Sprintf("algorithm names must be 1-%d visible ASCII characters", maxAlgorithmName))
		}
	}
	if p.Leeway < 0 {
		return bad("leeway is negative")
	}
	return nil
}

// checkAppPolicy validates p for PutAppPolicy.
func checkAppPolicy(p AppPolicy) error {
	switch {
	case strings.TrimSpace(p.Document) == "":
		return fmt.Errorf("app policy document is empty (delete the policy instead): %w", ErrInvalid)
	case len(p.Document) > maxPolicyLen:
		return fmt.Errorf("app policy document is longer than %d bytes: %w", maxPolicyLen, ErrInvalid)
	case !utf8.ValidString(p.Document) || strings.IndexByte(p.Document, 0) >= 0:
		return fmt.Errorf("app policy document must be UTF-8 text without NUL bytes: %w", ErrInvalid)
	}
	return nil
}

// checkAgentAccess validates a for AddAgentAccess: lowercase UUID ids and
// exactly one of a provider id (name rule) and a grant id.
func checkAgentAccess(a AgentAccess) error {
	if !IsCanonicalUUID(a.ID) || !IsCanonicalUUID(a.AgentID) {
		return fmt.Errorf("access entry and agent ids must be lowercase UUIDs: %w", ErrInvalid)
	}
	switch {
	case (a.ProviderID == "") == (a.GrantID == ""):
		return fmt.Errorf("an access entry names exactly one of a provider and a grant: %w", ErrInvalid)
	case a.GrantID != "" && !IsCanonicalUUID(a.GrantID):
		return fmt.Errorf("access entry grant id must be a lowercase UUID: %w", ErrInvalid)
	case a.ProviderID != "":
		return ValidateName("provider", a.ProviderID)
	}
	return nil
}

// validateUserID checks an IdP user id as it appears in "user:<id>".
func validateUserID(id string) error { return ValidatePrincipal(PrincipalUserPrefix + id) }

// checkUser validates u for TouchUser: the id as in a user principal,
// groups as UTF-8 names (IdP groups may contain spaces) within bounds.
func checkUser(u User) error {
	if err := validateUserID(u.ID); err != nil {
		return err
	}
	if len(u.Groups) > maxUserGroups {
		return fmt.Errorf("user has more than %d groups: %w", maxUserGroups, ErrInvalid)
	}
	for _, g := range u.Groups {
		if g == "" || len(g) > maxGroupNameLen || !plainText(g) {
			return fmt.Errorf("group names must be 1-%d bytes of UTF-8 text without control characters: %w", maxGroupNameLen, ErrInvalid)
		}
	}
	return nil
}

// Column lists of the issue 5 tables, shared by both stores.
const (
	idpColumns    = `app_id, issuer, jwks_url, audience, user_claim, group_claim, algorithms, leeway_ns, created_at, updated_at`
	policyColumns = `app_id, document, version, updated_at`
	accessColumns = `id, app_id, agent_id, provider_id, grant_id, created_at`
	userColumns   = `app_id, id, groups, first_seen, last_seen`
)
