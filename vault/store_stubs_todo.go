package vault

// Temporary stubs (issue 5) so the tree compiles while the stores are
// written; the vault engineer deletes this file.

import (
	"context"
	"errors"
	"time"
)

var errTODO5 = errors.New("not implemented yet")

func (*SQLite) PutIdentityProvider(ctx context.Context, p IdentityProvider) error { return errTODO5 }
func (*SQLite) GetIdentityProvider(ctx context.Context, appID string) (IdentityProvider, error) {
	return IdentityProvider{}, errTODO5
}
func (*SQLite) DeleteIdentityProvider(ctx context.Context, appID string) error { return errTODO5 }
func (*SQLite) PutAppPolicy(ctx context.Context, p AppPolicy) (AppPolicy, error) {
	return AppPolicy{}, errTODO5
}
func (*SQLite) GetAppPolicy(ctx context.Context, appID string) (AppPolicy, error) {
	return AppPolicy{}, errTODO5
}
func (*SQLite) ListAppPolicies(ctx context.Context) ([]AppPolicy, error) { return nil, errTODO5 }
func (*SQLite) DeleteAppPolicy(ctx context.Context, appID string) error  { return errTODO5 }
func (*SQLite) AddAgentAccess(ctx context.Context, a AgentAccess) error  { return errTODO5 }
func (*SQLite) ListAgentAccess(ctx context.Context, appID, agentID string) ([]AgentAccess, error) {
	return nil, errTODO5
}
func (*SQLite) RemoveAgentAccess(ctx context.Context, appID, id string) error { return errTODO5 }
func (*SQLite) TouchUser(ctx context.Context, u User) error                   { return errTODO5 }
func (*SQLite) ListUsers(ctx context.Context, appID string) ([]User, error)   { return nil, errTODO5 }
func (*SQLite) DeprecateKey(ctx context.Context, appID, id string, expiresAt time.Time) error {
	return errTODO5
}

func (*Postgres) PutIdentityProvider(ctx context.Context, p IdentityProvider) error { return errTODO5 }
func (*Postgres) GetIdentityProvider(ctx context.Context, appID string) (IdentityProvider, error) {
	return IdentityProvider{}, errTODO5
}
func (*Postgres) DeleteIdentityProvider(ctx context.Context, appID string) error { return errTODO5 }
func (*Postgres) PutAppPolicy(ctx context.Context, p AppPolicy) (AppPolicy, error) {
	return AppPolicy{}, errTODO5
}
func (*Postgres) GetAppPolicy(ctx context.Context, appID string) (AppPolicy, error) {
	return AppPolicy{}, errTODO5
}
func (*Postgres) ListAppPolicies(ctx context.Context) ([]AppPolicy, error) { return nil, errTODO5 }
func (*Postgres) DeleteAppPolicy(ctx context.Context, appID string) error  { return errTODO5 }
func (*Postgres) AddAgentAccess(ctx context.Context, a AgentAccess) error  { return errTODO5 }
func (*Postgres) ListAgentAccess(ctx context.Context, appID, agentID string) ([]AgentAccess, error) {
	return nil, errTODO5
}
func (*Postgres) RemoveAgentAccess(ctx context.Context, appID, id string) error { return errTODO5 }
func (*Postgres) TouchUser(ctx context.Context, u User) error                   { return errTODO5 }
func (*Postgres) ListUsers(ctx context.Context, appID string) ([]User, error)   { return nil, errTODO5 }
func (*Postgres) DeprecateKey(ctx context.Context, appID, id string, expiresAt time.Time) error {
	return errTODO5
}
