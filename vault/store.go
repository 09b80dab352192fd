package vault

import "context"

// Store is the persistence interface. Every method that takes an appID scopes
// its query to that app; a row of another app is ErrNotFound. Implementations:
// SQLite (sqlite.go, embedded default) and PostgreSQL (later issue). Both must
// pass the conformance suite in storetest.
type Store interface {
	CreateApp(ctx context.Context, a App) (App, error)
	GetApp(ctx context.Context, id string) (App, error)
	GetAppByName(ctx context.Context, name string) (App, error)
	ListApps(ctx context.Context) ([]App, error)
	SetAppEgress(ctx context.Context, appID string, hosts []string) error

	CreateAgent(ctx context.Context, a Agent) (Agent, error)
	GetAgent(ctx context.Context, appID, id string) (Agent, error)
	GetAgentByName(ctx context.Context, appID, name string) (Agent, error)
	ListAgents(ctx context.Context, appID string) ([]Agent, error)
	// DeleteAgent removes the agent and revokes its keys and the grants whose
	// principal is "agent:<name>", in one transaction.
	DeleteAgent(ctx context.Context, appID, id string) error

	CreateKey(ctx context.Context, k Key) error
	// GetKey looks a key up by its public id alone (the proxy does not know
	// the app yet); the caller compares Hash in constant time.
	GetKey(ctx context.Context, id string) (Key, error)
	ListKeys(ctx context.Context, appID string) ([]Key, error)
	RevokeKey(ctx context.Context, appID, id string) error

	CreateCredential(ctx context.Context, c Credential) error
	GetCredential(ctx context.Context, appID, id string) (Credential, error)
	// UpdateCredential replaces ciphertext and wrapped key where the stored
	// version equals c.Version-1 (version fence); otherwise ErrConflict.
	UpdateCredential(ctx context.Context, c Credential) error
	DeleteCredential(ctx context.Context, appID, id string) error
	// ListCredentialsNotUnder pages (ordered by id, strictly after afterID)
	// through credentials of every app whose kek_id != activeKEK. Used only
	// by KEK rotation. An empty activeKEK or a limit below 1 is ErrInvalid.
	ListCredentialsNotUnder(ctx context.Context, activeKEK, afterID string, limit int) ([]Credential, error)
	// RewrapCredential swaps kek_id and wrapped_key of one credential (and
	// sets updated_at, c.UpdatedAt or now) when its app, version and kek_id
	// still equal c.AppID, c.Version and oldKEK (fence); ciphertext and
	// version are untouched. A lost fence is ErrConflict, a missing row (or
	// one of another app) ErrNotFound.
	RewrapCredential(ctx context.Context, c Credential, oldKEK string) error

	CreateGrant(ctx context.Context, g Grant) error
	GetGrant(ctx context.Context, appID, id string) (Grant, error)
	ListGrants(ctx context.Context, appID string, f GrantFilter) ([]Grant, error)
	SetGrantStatus(ctx context.Context, appID, id, status string) error

	Ping(ctx context.Context) error
	Close() error
}
