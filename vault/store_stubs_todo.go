package vault

// Temporary stubs so the tree compiles while the stores are written; the
// vault engineer deletes this file.

import (
	"context"
	"time"
)

func (*SQLite) UpdateGrant(ctx context.Context, g Grant) error                    { return errTODO }
func (*SQLite) PutProviderSettings(ctx context.Context, s ProviderSettings) error { return errTODO }
func (*SQLite) GetProviderSettings(ctx context.Context, appID, providerID string) (ProviderSettings, error) {
	return ProviderSettings{}, errTODO
}
func (*SQLite) ListProviderSettings(ctx context.Context, appID string) ([]ProviderSettings, error) {
	return nil, errTODO
}
func (*SQLite) DeleteProviderSettings(ctx context.Context, appID, providerID string) error {
	return errTODO
}
func (*SQLite) CreateConnectSession(ctx context.Context, s ConnectSession) error { return errTODO }
func (*SQLite) GetConnectSession(ctx context.Context, appID, id string) (ConnectSession, error) {
	return ConnectSession{}, errTODO
}
func (*SQLite) ClaimConnectSession(ctx context.Context, stateHash []byte, now time.Time) (ConnectSession, error) {
	return ConnectSession{}, errTODO
}
func (*SQLite) FinishConnectSession(ctx context.Context, s ConnectSession) error { return errTODO }
func (*SQLite) DeleteConnectSessions(ctx context.Context, expiredBefore time.Time) (int, error) {
	return 0, errTODO
}
func (*SQLite) CreateDelegation(ctx context.Context, d Delegation) error { return errTODO }
func (*SQLite) ListDelegations(ctx context.Context, appID string, f DelegationFilter) ([]Delegation, error) {
	return nil, errTODO
}
func (*SQLite) DeleteDelegation(ctx context.Context, appID, id string) error { return errTODO }
func (*SQLite) DelegatedGrants(ctx context.Context, appID, agentID, providerID string) ([]Grant, error) {
	return nil, errTODO
}

func (*Postgres) UpdateGrant(ctx context.Context, g Grant) error                    { return errTODO }
func (*Postgres) PutProviderSettings(ctx context.Context, s ProviderSettings) error { return errTODO }
func (*Postgres) GetProviderSettings(ctx context.Context, appID, providerID string) (ProviderSettings, error) {
	return ProviderSettings{}, errTODO
}
func (*Postgres) ListProviderSettings(ctx context.Context, appID string) ([]ProviderSettings, error) {
	return nil, errTODO
}
func (*Postgres) DeleteProviderSettings(ctx context.Context, appID, providerID string) error {
	return errTODO
}
func (*Postgres) CreateConnectSession(ctx context.Context, s ConnectSession) error { return errTODO }
func (*Postgres) GetConnectSession(ctx context.Context, appID, id string) (ConnectSession, error) {
	return ConnectSession{}, errTODO
}
func (*Postgres) ClaimConnectSession(ctx context.Context, stateHash []byte, now time.Time) (ConnectSession, error) {
	return ConnectSession{}, errTODO
}
func (*Postgres) FinishConnectSession(ctx context.Context, s ConnectSession) error { return errTODO }
func (*Postgres) DeleteConnectSessions(ctx context.Context, expiredBefore time.Time) (int, error) {
	return 0, errTODO
}
func (*Postgres) CreateDelegation(ctx context.Context, d Delegation) error { return errTODO }
func (*Postgres) ListDelegations(ctx context.Context, appID string, f DelegationFilter) ([]Delegation, error) {
	return nil, errTODO
}
func (*Postgres) DeleteDelegation(ctx context.Context, appID, id string) error { return errTODO }
func (*Postgres) DelegatedGrants(ctx context.Context, appID, agentID, providerID string) ([]Grant, error) {
	return nil, errTODO
}

var _ = time.Time{}
