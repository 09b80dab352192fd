package vault

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Input checks and query text shared by both stores for the OAuth rows
// (provider settings, connect sessions, delegations). The checks run
// before any statement, so SQLite and PostgreSQL refuse the same inputs
// with the same ErrInvalid.

// Bounds of connect-session text columns.
const (
	maxRedirectURILen = 2048
	maxErrorCodeLen   = 128
	maxErrorMsgLen    = 4096
)

// checkProviderSettings validates s for PutProviderSettings.
func checkProviderSettings(s ProviderSettings) error {
	if err := ValidateName("provider", s.ProviderID); err != nil {
		return err
	}
	if err := validateClientID(s.ClientID); err != nil {
		return err
	}
	if err := ValidateScopes(s.Scopes); err != nil {
		return err
	}
	if s.CredentialID != "" && !IsCanonicalUUID(s.CredentialID) {
		return fmt.Errorf("provider settings credential id must be a lowercase UUID: %w", ErrInvalid)
	}
	return nil
}

// checkConnectSession validates s for CreateConnectSession and returns it
// with an empty Status defaulted to pending.
func checkConnectSession(s ConnectSession) (ConnectSession, error) {
	bad := func(why string) (ConnectSession, error) {
		return ConnectSession{}, fmt.Errorf("connect session %s: %w", why, ErrInvalid)
	}
	switch {
	case !IsCanonicalUUID(s.ID):
		return bad("id must be a lowercase UUID")
	case len(s.StateHash) != sha256.Size:
		return bad("state hash must be a SHA-256 digest")
	case s.GrantID != "" && !IsCanonicalUUID(s.GrantID):
		return bad("grant id must be a lowercase UUID")
	case s.RedirectURI == "" || len(s.RedirectURI) > maxRedirectURILen || !visibleASCII(s.RedirectURI):
		return bad(fmt.Sprintf("redirect URI must be 1-%d visible ASCII characters", maxRedirectURILen))
	case s.ExpiresAt.IsZero():
		return bad("needs an expiry")
	case s.CompletedAt != nil:
		return bad("cannot be created finished")
	}
	if err := ValidateName("provider", s.ProviderID); err != nil {
		return ConnectSession{}, err
	}
	if err := ValidatePrincipal(s.Principal); err != nil {
		return ConnectSession{}, err
	}
	if s.Agent != "" {
		if err := ValidateName("agent", s.Agent); err != nil {
			return ConnectSession{}, err
		}
	}
	if err := ValidateScopes(s.Scopes); err != nil {
		return ConnectSession{}, err
	}
	if s.Status == "" {
		s.Status = SessionPending
	}
	if s.Status != SessionPending || s.ErrorCode != "" || s.ErrorMessage != "" {
		return bad("must be created pending, without an error")
	}
	return s, nil
}

// checkFinish validates the outcome FinishConnectSession records.
func checkFinish(s ConnectSession) error {
	bad := func(why string) error { return fmt.Errorf("finish connect session: %s: %w", why, ErrInvalid) }
	switch s.Status {
	case SessionComplete:
		if !IsCanonicalUUID(s.GrantID) {
			return bad("a complete session needs the grant id")
		}
	case SessionFailed:
		if s.ErrorCode == "" {
			return bad("a failed session needs an error code")
		}
		if s.GrantID != "" && !IsCanonicalUUID(s.GrantID) {
			return bad("grant id must be a lowercase UUID")
		}
	default:
		return bad("status must be complete or failed")
	}
	switch {
	case len(s.ErrorCode) > maxErrorCodeLen || !utf8.ValidString(s.ErrorCode) || hasControl(s.ErrorCode):
		return bad(fmt.Sprintf("error code must be UTF-8 text of at most %d bytes without control characters", maxErrorCodeLen))
	case len(s.ErrorMessage) > maxErrorMsgLen || !utf8.ValidString(s.ErrorMessage) || strings.IndexByte(s.ErrorMessage, 0) >= 0:
		return bad(fmt.Sprintf("error message must be UTF-8 text of at most %d bytes", maxErrorMsgLen))
	}
	return nil
}

// checkDelegation validates d for CreateDelegation.
func checkDelegation(d Delegation) error {
	if !IsCanonicalUUID(d.ID) || !IsCanonicalUUID(d.GrantID) || !IsCanonicalUUID(d.AgentID) {
		return fmt.Errorf("delegation, grant and agent ids must be lowercase UUIDs: %w", ErrInvalid)
	}
	return nil
}

// delegatedGrantsQuery selects the active grants of one provider delegated
// to one agent: the agent's delegations by delegations_agent, then each
// grant by its primary key. The same text serves both stores, with the
// placeholders each expects.
func delegatedGrantsQuery(p1, p2, p3 string) string {
	return `SELECT g.id, g.app_id, g.credential_id, g.provider_id, g.principal, g.account, g.status, g.created_at, g.updated_at
		FROM delegations d JOIN grants g ON g.id = d.grant_id AND g.app_id = d.app_id
		WHERE d.app_id = ` + p1 + ` AND d.agent_id = ` + p2 + ` AND g.provider_id = ` + p3 + ` AND g.status = 'active'
		ORDER BY g.created_at, g.id`
}

// visibleASCII reports whether s holds only visible ASCII (0x21-0x7e).
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// nonNil returns ss, or an empty slice for nil, so a JSON column holds []
// rather than null.
func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// nilIfEmpty returns nil for an empty slice, so a row read back compares
// equal to one written with nil scopes.
func nilIfEmpty(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	return ss
}
