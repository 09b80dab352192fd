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

// Key statuses.
const (
	KeyActive  = "active"
	KeyRevoked = "revoked"
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
}

// Credential is encrypted material. Ciphertext is AES-256-GCM under a random
// per-credential data key; WrappedKey is that data key wrapped by the KEK named
// KEKID. The AAD binds AppID, ID and Version so a ciphertext cannot be moved
// between rows or replayed at another version.
type Credential struct {
	ID         string    `json:"id"`
	AppID      string    `json:"app_id"`
	ProviderID string    `json:"provider_id"`
	Kind       string    `json:"kind"` // "api_key", "basic" (later "oauth2", …)
	Version    int64     `json:"version"`
	KEKID      string    `json:"kek_id"`
	WrappedKey []byte    `json:"-"`
	Ciphertext []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Grant binds one credential to one principal.
type Grant struct {
	ID           string    `json:"grant_id"`
	AppID        string    `json:"app_id"`
	CredentialID string    `json:"credential_id"`
	ProviderID   string    `json:"provider_id"`
	Principal    string    `json:"principal"` // "system", "agent:<name>", "user:<id>"
	Status       string    `json:"status"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Material is decrypted credential material. It redacts itself in logs and
// in fmt output so a stray log line cannot leak it (security invariant 6).
type Material struct {
	Token    string `json:"token,omitempty"`    // api_key kinds: the secret value
	Username string `json:"username,omitempty"` // basic kind
	Password string `json:"password,omitempty"` // basic kind
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

// GrantFilter narrows ListGrants. Empty fields match everything.
type GrantFilter struct {
	ProviderID string
	Principal  string
	Status     string
}
