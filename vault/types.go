// Package vault holds Gatehouse's tenants, caller keys, encrypted credentials
// and the grants that bind a credential to a principal. It defines the Store
// interface (implemented by SQLite here and PostgreSQL later), the envelope
// encryption of credential material and the Vault service that the proxy and
// the admin API use.
package vault

import (
	"errors"
	"log/slog"
	"time"
)

// Sentinel errors. Store implementations wrap them with %w; callers test with
// errors.Is. A row owned by another app is reported as ErrNotFound (security
// invariant 8: cross-app access is indistinguishable from not-found).
var (
	ErrNotFound   = errors.New("not found")
	ErrConflict   = errors.New("conflict")      // unique name taken, or version fence lost
	ErrInvalid    = errors.New("invalid input") // malformed name, principal, key format…
	ErrKeyMissing = errors.New("encryption key not loaded")
)

// Grant statuses (DESIGN.md "grant").
const (
	StatusActive      = "active"
	StatusExpired     = "expired"
	StatusRevoked     = "revoked"
	StatusNeedsReauth = "needs_reauth"
)

// PrincipalGroupPrefix starts a group principal, "group:<idp group>": a
// grant bound to it reaches the group's current members (identity).
const PrincipalGroupPrefix = "group:"

// Key statuses. A deprecated key (replaced by a rotation) still
// authenticates until its ExpiresAt, then counts as revoked.
const (
	KeyActive     = "active"
	KeyDeprecated = "deprecated"
	KeyRevoked    = "revoked"
)

// App is the tenant boundary.
type App struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	EgressAllow []string  `json:"egress_allow"` // hosts (exact or "*.suffix", optional ":port") reachable as blind tunnels
	CreatedAt   time.Time `json:"created_at"`
}

// Agent is a workload identity inside an app.
type Agent struct {
	ID        string    `json:"id"`
	AppID     string    `json:"app_id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Key is a caller key's stored form. The plaintext key is never stored: Hash
// is HMAC-SHA256(pepper, plaintext). ID is the public key id embedded in the
// plaintext key. AgentID is empty for app keys.
type Key struct {
	ID        string     `json:"id"`
	AppID     string     `json:"app_id"`
	AgentID   string     `json:"agent_id,omitempty"`
	Hash      []byte     `json:"-"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"` // deprecated keys: end of the grace period
}

// Credential is encrypted material. Ciphertext is AES-256-GCM under a random
// per-credential data key; WrappedKey is that data key wrapped by the KEK named
// KEKID. The AAD binds AppID, ID and Version so a ciphertext cannot be moved
// between rows or replayed at another version.
type Credential struct {
	ID         string `json:"id"`
	AppID      string `json:"app_id"`
	ProviderID string `json:"provider_id"`
	Kind       string `json:"kind"` // KindAPIKey, KindBasic, KindOAuth2, KindOAuthClient
	Version    int64  `json:"version"`
	// ExpiresAt is when the material stops being usable (an OAuth access
	// token's expiry), zero when unknown or never. Stored in clear (it is
	// not secret) so the Redis TTL and refresh sweeps need no decryption.
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	KEKID      string    `json:"kek_id"`
	WrappedKey []byte    `json:"-"`
	Ciphertext []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Grant binds one credential to one principal.
type Grant struct {
	ID           string `json:"grant_id"`
	AppID        string `json:"app_id"`
	CredentialID string `json:"credential_id"`
	ProviderID   string `json:"provider_id"`
	Principal    string `json:"principal"` // "system", "agent:<name>", "user:<id>"
	// Account identifies the provider-side account of an OAuth grant (for
	// example a Slack user id or a Google e-mail), empty when unknown; it
	// tells apart two connections of one provider by one user.
	Account   string    `json:"account,omitempty"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Material is decrypted credential material. It redacts itself in logs and
// in fmt output so a stray log line cannot leak it (security invariant 6).
type Material struct {
	Token    string `json:"token,omitempty"`    // api_key kind: the secret value; oauth_client kind: the client secret
	Username string `json:"username,omitempty"` // basic kind
	Password string `json:"password,omitempty"` // basic kind

	// OAuth token set (kind oauth2).
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"` // zero: unknown (the provider's default lifetime applies when set)
	Scopes       []string  `json:"scopes,omitempty"`
	// GrantType is how the token set is renewed: GrantAuthorizationCode
	// (refresh token) or GrantClientCredentials (minted again from the
	// app's client id and secret).
	GrantType string `json:"grant_type,omitempty"`

	// Version is the credential version this material was read at. The
	// vault sets it on every read; it is not sealed. Refresh fences its
	// write on it.
	Version int64 `json:"-"`
}

// LogValue implements slog.LogValuer.
func (Material) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// String implements fmt.Stringer.
func (Material) String() string { return "[REDACTED]" }

// GoString implements fmt.GoStringer so %#v redacts too.
func (Material) GoString() string { return "[REDACTED]" }

// MarshalJSON implements json.Marshaler so a Material nested in a struct
// that is JSON-encoded (slog's JSON handler, an API response) stays
// redacted: LogValue only covers top-level log attributes. Sealing encodes
// through an internal type instead. Unmarshalling is unaffected.
func (Material) MarshalJSON() ([]byte, error) { return []byte(`"[REDACTED]"`), nil }

// OAuth grant types (Material.GrantType).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantClientCredentials = "client_credentials"
)

// ProviderSettings is an app's OAuth client for one provider. The client
// secret is sealed like any credential, in the credential CredentialID of
// kind KindOAuthClient (Material.Token), so KEK rotation covers it; it is
// empty for a public client (PKCE only).
type ProviderSettings struct {
	AppID        string    `json:"app_id"`
	ProviderID   string    `json:"provider_id"`
	ClientID     string    `json:"client_id"`
	Scopes       []string  `json:"scopes,omitempty"` // empty: the catalog's default scopes
	CredentialID string    `json:"credential_id,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Connect session statuses.
const (
	SessionPending    = "pending"    // waiting for the user at the provider
	SessionExchanging = "exchanging" // callback claimed the state; code exchange running
	SessionComplete   = "complete"   // grant created (GrantID)
	SessionFailed     = "failed"     // ErrorCode/ErrorMessage say why
)

// ConnectSession is one authorization-code flow in progress. The state sent
// to the provider is never stored: StateHash is SHA-256(state), and the PKCE
// verifier is derived from the state (Vault.DeriveKey), so a database read
// reveals neither.
type ConnectSession struct {
	ID           string     `json:"id"` // public id, for polling
	StateHash    []byte     `json:"-"`
	AppID        string     `json:"app_id"`
	ProviderID   string     `json:"provider_id"`
	Principal    string     `json:"principal"`          // "user:<id>" (or any principal)
	Agent        string     `json:"agent,omitempty"`    // agent name to delegate the new grant to
	GrantID      string     `json:"grant_id,omitempty"` // at start: the grant to re-consent (optional); when complete: the grant
	Scopes       []string   `json:"scopes,omitempty"`
	RedirectURI  string     `json:"redirect_uri"`
	Status       string     `json:"status"`
	ErrorCode    string     `json:"error_code,omitempty"`
	ErrorMessage string     `json:"error_message,omitempty"` // safe to show: the provider's error description, never a token
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    time.Time  `json:"expires_at"`
	CompletedAt  *time.Time `json:"completed_at,omitempty"`
}

// Delegation is a user's consent that one agent may use one of the user's
// grants. Deleting it leaves the grant.
type Delegation struct {
	ID        string    `json:"id"`
	AppID     string    `json:"app_id"`
	GrantID   string    `json:"grant_id"`
	AgentID   string    `json:"agent_id"`
	CreatedAt time.Time `json:"created_at"`
}

// DelegationFilter narrows ListDelegations. Empty fields match everything.
type DelegationFilter struct {
	GrantID string
	AgentID string
}

// IdentityProvider is an app's identity provider: JWTs in Gatehouse-User
// are verified against it (package identity). Zero fields take identity's
// defaults.
type IdentityProvider struct {
	AppID      string        `json:"app_id"`
	Issuer     string        `json:"issuer"`
	JWKSURL    string        `json:"jwks_url,omitempty"` // empty: OpenID discovery from Issuer
	Audience   string        `json:"audience"`
	UserClaim  string        `json:"user_claim,omitempty"`  // default "sub"
	GroupClaim string        `json:"group_claim,omitempty"` // default none
	Algorithms []string      `json:"algorithms,omitempty"`  // default RS256, ES256
	Leeway     time.Duration `json:"leeway,omitempty"`      // default 30s
	CreatedAt  time.Time     `json:"created_at"`
	UpdatedAt  time.Time     `json:"updated_at"`
}

// AppPolicy is an app's own policy rules: one YAML document in the policy
// format (package policy), whose rules apply to that app only. Version
// increases with every write.
type AppPolicy struct {
	AppID     string    `json:"app_id"`
	Document  string    `json:"document"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AgentAccess is one entry of an agent's access set: the agent may use the
// app's grant GrantID, or every grant of the app's system principal for
// ProviderID (exactly one of them is set). Delegations and the agent's own
// grants need no entry.
type AgentAccess struct {
	ID         string    `json:"id"`
	AppID      string    `json:"app_id"`
	AgentID    string    `json:"agent_id"`
	ProviderID string    `json:"provider_id,omitempty"`
	GrantID    string    `json:"grant_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// User is a user principal the app's identity provider vouched for, kept
// from the first time it was seen.
type User struct {
	AppID     string    `json:"app_id"`
	ID        string    `json:"id"` // principal is "user:<ID>"
	Groups    []string  `json:"groups,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// GrantFilter narrows ListGrants. Empty fields match everything.
type GrantFilter struct {
	ProviderID string
	Principal  string
	Status     string
}
