package vault

import (
	"context"
	"time"
)

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

	// UpdateGrant sets Account and Status of the grant (re-consent). A
	// revoked grant cannot leave revoked (ErrConflict).
	UpdateGrant(ctx context.Context, g Grant) error

	// PutProviderSettings inserts or replaces the app's settings for
	// s.ProviderID (the app must exist).
	PutProviderSettings(ctx context.Context, s ProviderSettings) error
	GetProviderSettings(ctx context.Context, appID, providerID string) (ProviderSettings, error)
	ListProviderSettings(ctx context.Context, appID string) ([]ProviderSettings, error)
	DeleteProviderSettings(ctx context.Context, appID, providerID string) error

	// CreateConnectSession stores a new pending session: ID a lowercase
	// UUID, StateHash 32 bytes (SHA-256), ExpiresAt set. A duplicate id or
	// state hash is ErrConflict.
	CreateConnectSession(ctx context.Context, s ConnectSession) error
	GetConnectSession(ctx context.Context, appID, id string) (ConnectSession, error)
	// ClaimConnectSession moves the session whose StateHash is stateHash
	// from pending to exchanging, if it has not expired at now, and returns
	// it; exactly one caller can claim a state. Unknown, used and expired
	// states are ErrNotFound.
	ClaimConnectSession(ctx context.Context, stateHash []byte, now time.Time) (ConnectSession, error)
	// FinishConnectSession records the outcome (SessionComplete with
	// grantID, or SessionFailed with a code and message) of a claimed
	// session. A session that is not exchanging is ErrConflict.
	FinishConnectSession(ctx context.Context, s ConnectSession) error
	// DeleteConnectSessions removes sessions that expired before t and
	// returns how many.
	DeleteConnectSessions(ctx context.Context, expiredBefore time.Time) (int, error)

	// CreateDelegation records d (ID, GrantID and AgentID lowercase UUIDs;
	// grant and agent must exist in d.AppID; a second delegation of the
	// same grant to the same agent is ErrConflict). DeleteAgent deletes
	// the agent's delegations.
	CreateDelegation(ctx context.Context, d Delegation) error
	ListDelegations(ctx context.Context, appID string, f DelegationFilter) ([]Delegation, error)
	DeleteDelegation(ctx context.Context, appID, id string) error
	// DelegatedGrants returns the active grants of providerID delegated to
	// agentID, oldest first.
	DelegatedGrants(ctx context.Context, appID, agentID, providerID string) ([]Grant, error)

	// Issue 5. Identity provider per app (upsert by app).
	PutIdentityProvider(ctx context.Context, p IdentityProvider) error
	GetIdentityProvider(ctx context.Context, appID string) (IdentityProvider, error)
	DeleteIdentityProvider(ctx context.Context, appID string) error

	// App policies: PutAppPolicy upserts and sets Version to the stored
	// version + 1 (returned); ListAppPolicies returns every app's.
	PutAppPolicy(ctx context.Context, p AppPolicy) (AppPolicy, error)
	GetAppPolicy(ctx context.Context, appID string) (AppPolicy, error)
	ListAppPolicies(ctx context.Context) ([]AppPolicy, error)
	DeleteAppPolicy(ctx context.Context, appID string) error

	// Agent access sets (duplicate entry: ErrConflict; agent, grant must
	// exist in the app).
	AddAgentAccess(ctx context.Context, a AgentAccess) error
	ListAgentAccess(ctx context.Context, appID, agentID string) ([]AgentAccess, error) // agentID "" = all agents
	RemoveAgentAccess(ctx context.Context, appID, id string) error

	// TouchUser records u: inserted on first sight (FirstSeen), else
	// LastSeen and Groups updated.
	TouchUser(ctx context.Context, u User) error
	ListUsers(ctx context.Context, appID string) ([]User, error)

	// DeprecateKey marks an active key deprecated until expiresAt (key
	// rotation with a grace period); ErrConflict unless it was active.
	DeprecateKey(ctx context.Context, appID, id string, expiresAt time.Time) error

	Ping(ctx context.Context) error
	Close() error
}
