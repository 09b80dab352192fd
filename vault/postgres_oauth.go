package vault

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// PutProviderSettings inserts the app's settings for s.ProviderID, or
// replaces client id, scopes, credential id and updated_at of the existing
// row (created_at stays the first insert's). The app must exist, as must
// the credential, in the same app, when CredentialID is set (ErrNotFound);
// the credential row is share-locked until the settings are written.
func (p *Postgres) PutProviderSettings(ctx context.Context, ps ProviderSettings) error {
	if err := checkProviderSettings(ps); err != nil {
		return err
	}
	if !storable(ps.AppID) {
		return fmt.Errorf("put provider settings: %w", ErrNotFound)
	}
	created := p.stamp(ps.CreatedAt)
	updated := created
	if !ps.UpdatedAt.IsZero() {
		updated = p.stamp(ps.UpdatedAt)
	}
	var cred *string
	if ps.CredentialID != "" {
		cred = &ps.CredentialID
	}
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		if cred != nil {
			var one int
			if err := tx.QueryRow(ctx,
				`SELECT 1 FROM credentials WHERE id = $1 AND app_id = $2 FOR KEY SHARE`, *cred, ps.AppID).Scan(&one); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO provider_settings (app_id, provider_id, client_id, scopes, credential_id, created_at, updated_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7)
			 ON CONFLICT (app_id, provider_id) DO UPDATE SET
			   client_id = excluded.client_id, scopes = excluded.scopes,
			   credential_id = excluded.credential_id, updated_at = excluded.updated_at`,
			ps.AppID, ps.ProviderID, ps.ClientID, nonNil(ps.Scopes), cred, created, updated)
		return err
	})
	if err != nil {
		return fmt.Errorf("put provider settings: %w", classifyPG(err))
	}
	return nil
}

func scanProviderSettingsPG(row pgx.Row) (ProviderSettings, error) {
	var ps ProviderSettings
	var cred *string
	if err := row.Scan(&ps.AppID, &ps.ProviderID, &ps.ClientID, &ps.Scopes, &cred, &ps.CreatedAt, &ps.UpdatedAt); err != nil {
		return ProviderSettings{}, classifyPG(err)
	}
	if cred != nil {
		ps.CredentialID = *cred
	}
	ps.Scopes = nilIfEmpty(ps.Scopes)
	ps.CreatedAt, ps.UpdatedAt = ps.CreatedAt.UTC(), ps.UpdatedAt.UTC()
	return ps, nil
}

// GetProviderSettings returns the app's settings for providerID, or
// ErrNotFound.
func (p *Postgres) GetProviderSettings(ctx context.Context, appID, providerID string) (ProviderSettings, error) {
	if !storable(appID, providerID) {
		return ProviderSettings{}, fmt.Errorf("get provider settings: %w", ErrNotFound)
	}
	ps, err := scanProviderSettingsPG(p.pool.QueryRow(ctx,
		`SELECT `+providerSettingsColumns+` FROM provider_settings WHERE app_id = $1 AND provider_id = $2`, appID, providerID))
	if err != nil {
		return ProviderSettings{}, fmt.Errorf("get provider settings: %w", err)
	}
	return ps, nil
}

// ListProviderSettings returns the app's settings ordered by provider id.
func (p *Postgres) ListProviderSettings(ctx context.Context, appID string) ([]ProviderSettings, error) {
	if !storable(appID) {
		return []ProviderSettings{}, nil
	}
	rows, err := p.pool.Query(ctx,
		`SELECT `+providerSettingsColumns+` FROM provider_settings WHERE app_id = $1 ORDER BY provider_id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list provider settings: %w", err)
	}
	return collectPG(rows, scanProviderSettingsPG, "list provider settings")
}

// DeleteProviderSettings deletes the app's settings for providerID (not
// the credential they name), or returns ErrNotFound.
func (p *Postgres) DeleteProviderSettings(ctx context.Context, appID, providerID string) error {
	if !storable(appID, providerID) {
		return fmt.Errorf("delete provider settings: %w", ErrNotFound)
	}
	tag, err := p.pool.Exec(ctx,
		`DELETE FROM provider_settings WHERE app_id = $1 AND provider_id = $2`, appID, providerID)
	if err == nil {
		err = requireRows(tag)
	}
	if err != nil {
		return fmt.Errorf("delete provider settings: %w", classifyPG(err))
	}
	return nil
}

// CreateConnectSession stores a new pending session. ID must be a
// lowercase UUID, StateHash a SHA-256 digest (32 bytes) and ExpiresAt set;
// a zero CreatedAt is now. A missing app is ErrNotFound, a duplicate id or
// state hash ErrConflict.
func (p *Postgres) CreateConnectSession(ctx context.Context, cs ConnectSession) error {
	cs, err := checkConnectSession(cs)
	if err != nil {
		return err
	}
	if !storable(cs.AppID) {
		return fmt.Errorf("create connect session: %w", ErrNotFound)
	}
	_, err = p.pool.Exec(ctx,
		`INSERT INTO connect_sessions (id, state_hash, app_id, provider_id, principal, agent, grant_id, scopes,
		   redirect_uri, status, created_at, expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		cs.ID, cs.StateHash, cs.AppID, cs.ProviderID, cs.Principal, cs.Agent, cs.GrantID, nonNil(cs.Scopes),
		cs.RedirectURI, cs.Status, p.stamp(cs.CreatedAt), p.stamp(cs.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create connect session: %w", classifyPG(err))
	}
	return nil
}

func scanConnectSessionPG(row pgx.Row) (ConnectSession, error) {
	var cs ConnectSession
	var completed *time.Time
	if err := row.Scan(&cs.ID, &cs.StateHash, &cs.AppID, &cs.ProviderID, &cs.Principal, &cs.Agent, &cs.GrantID,
		&cs.Scopes, &cs.RedirectURI, &cs.Status, &cs.ErrorCode, &cs.ErrorMessage,
		&cs.CreatedAt, &cs.ExpiresAt, &completed); err != nil {
		return ConnectSession{}, classifyPG(err)
	}
	cs.Scopes = nilIfEmpty(cs.Scopes)
	cs.CreatedAt, cs.ExpiresAt = cs.CreatedAt.UTC(), cs.ExpiresAt.UTC()
	if completed != nil {
		t := completed.UTC()
		cs.CompletedAt = &t
	}
	return cs, nil
}

// GetConnectSession returns the app's session id in any status, or
// ErrNotFound.
func (p *Postgres) GetConnectSession(ctx context.Context, appID, id string) (ConnectSession, error) {
	if !storable(appID, id) {
		return ConnectSession{}, fmt.Errorf("get connect session: %w", ErrNotFound)
	}
	cs, err := scanConnectSessionPG(p.pool.QueryRow(ctx,
		`SELECT `+connectSessionColumns+` FROM connect_sessions WHERE id = $1 AND app_id = $2`, id, appID))
	if err != nil {
		return ConnectSession{}, fmt.Errorf("get connect session: %w", err)
	}
	return cs, nil
}

// ClaimConnectSession moves the pending, unexpired session with stateHash
// to exchanging and returns it, in one UPDATE … RETURNING. Concurrent
// claimers queue on the row lock and re-check the WHERE against the
// winner's row, so exactly one gets it. Unknown, used and expired states
// are ErrNotFound, alike.
func (p *Postgres) ClaimConnectSession(ctx context.Context, stateHash []byte, now time.Time) (ConnectSession, error) {
	if len(stateHash) == 0 {
		return ConnectSession{}, fmt.Errorf("claim connect session: %w", ErrNotFound)
	}
	cs, err := scanConnectSessionPG(p.pool.QueryRow(ctx,
		`UPDATE connect_sessions SET status = 'exchanging'
		 WHERE state_hash = $1 AND status = 'pending' AND expires_at > $2
		 RETURNING `+connectSessionColumns,
		stateHash, p.stamp(now)))
	if err != nil {
		return ConnectSession{}, fmt.Errorf("claim connect session: %w", err)
	}
	return cs, nil
}

// FinishConnectSession records the outcome of a claimed (exchanging)
// session: status (complete or failed), grant id, error code and message,
// and completed_at (cs.CompletedAt or now). A missing session, or one of
// another app, is ErrNotFound; one that is not exchanging ErrConflict.
func (p *Postgres) FinishConnectSession(ctx context.Context, cs ConnectSession) error {
	if err := checkFinish(cs); err != nil {
		return err
	}
	if !storable(cs.AppID, cs.ID) {
		return fmt.Errorf("finish connect session: %w", ErrNotFound)
	}
	var done time.Time
	if cs.CompletedAt != nil {
		done = *cs.CompletedAt
	}
	completed := p.stamp(done)
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE connect_sessions SET status = $1, grant_id = $2, error_code = $3, error_message = $4, completed_at = $5
			 WHERE id = $6 AND app_id = $7 AND status = 'exchanging'`,
			cs.Status, cs.GrantID, cs.ErrorCode, cs.ErrorMessage, completed, cs.ID, cs.AppID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			return nil
		}
		var status string
		if err := tx.QueryRow(ctx,
			`SELECT status FROM connect_sessions WHERE id = $1 AND app_id = $2`, cs.ID, cs.AppID).Scan(&status); err != nil {
			return err
		}
		return fmt.Errorf("session is %s, not exchanging: %w", status, ErrConflict)
	})
	if err != nil {
		return fmt.Errorf("finish connect session: %w", classifyPG(err))
	}
	return nil
}

// DeleteConnectSessions deletes every session (of every app) that expired
// before expiredBefore and returns how many.
func (p *Postgres) DeleteConnectSessions(ctx context.Context, expiredBefore time.Time) (int, error) {
	tag, err := p.pool.Exec(ctx,
		`DELETE FROM connect_sessions WHERE expires_at < $1`, expiredBefore.UTC().Truncate(time.Microsecond))
	if err != nil {
		return 0, fmt.Errorf("delete connect sessions: %w", classifyPG(err))
	}
	return int(tag.RowsAffected()), nil
}

// CreateDelegation stores d. ID, GrantID and AgentID must be lowercase
// UUIDs; the grant and the agent must exist in d.AppID (ErrNotFound); a
// zero CreatedAt is now. A second delegation of the grant to the agent is
// ErrConflict. The agent row is share-locked, so a concurrent DeleteAgent
// either deletes this delegation too or has already removed the agent.
func (p *Postgres) CreateDelegation(ctx context.Context, d Delegation) error {
	if err := checkDelegation(d); err != nil {
		return err
	}
	if !storable(d.AppID) {
		return fmt.Errorf("create delegation: %w", ErrNotFound)
	}
	created := p.stamp(d.CreatedAt)
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx,
			`SELECT 1 FROM grants WHERE id = $1 AND app_id = $2 FOR KEY SHARE`, d.GrantID, d.AppID).Scan(&one); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx,
			`SELECT 1 FROM agents WHERE id = $1 AND app_id = $2 FOR KEY SHARE`, d.AgentID, d.AppID).Scan(&one); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO delegations (id, app_id, grant_id, agent_id, created_at) VALUES ($1, $2, $3, $4, $5)`,
			d.ID, d.AppID, d.GrantID, d.AgentID, created)
		return err
	})
	if err != nil {
		return fmt.Errorf("create delegation: %w", classifyPG(err))
	}
	return nil
}

func scanDelegationPG(row pgx.Row) (Delegation, error) {
	var d Delegation
	if err := row.Scan(&d.ID, &d.AppID, &d.GrantID, &d.AgentID, &d.CreatedAt); err != nil {
		return Delegation{}, classifyPG(err)
	}
	d.CreatedAt = d.CreatedAt.UTC()
	return d, nil
}

// ListDelegations returns the app's delegations matching f, oldest first.
func (p *Postgres) ListDelegations(ctx context.Context, appID string, f DelegationFilter) ([]Delegation, error) {
	if !storable(appID, f.GrantID, f.AgentID) {
		return []Delegation{}, nil
	}
	where := []string{"app_id = $1"}
	args := []any{appID}
	for _, c := range []struct{ col, v string }{{"grant_id", f.GrantID}, {"agent_id", f.AgentID}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	rows, err := p.pool.Query(ctx,
		`SELECT `+delegationColumns+` FROM delegations WHERE `+strings.Join(where, " AND ")+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list delegations: %w", err)
	}
	return collectPG(rows, scanDelegationPG, "list delegations")
}

// DeleteDelegation deletes the app's delegation id (the grant stays), or
// returns ErrNotFound.
func (p *Postgres) DeleteDelegation(ctx context.Context, appID, id string) error {
	if !storable(appID, id) {
		return fmt.Errorf("delete delegation: %w", ErrNotFound)
	}
	tag, err := p.pool.Exec(ctx, `DELETE FROM delegations WHERE id = $1 AND app_id = $2`, id, appID)
	if err == nil {
		err = requireRows(tag)
	}
	if err != nil {
		return fmt.Errorf("delete delegation: %w", classifyPG(err))
	}
	return nil
}

// DelegatedGrants returns the active grants of providerID delegated to
// agentID in appID, oldest first.
func (p *Postgres) DelegatedGrants(ctx context.Context, appID, agentID, providerID string) ([]Grant, error) {
	if !storable(appID, agentID, providerID) {
		return []Grant{}, nil
	}
	rows, err := p.pool.Query(ctx, delegatedGrantsQuery("$1", "$2", "$3"), appID, agentID, providerID)
	if err != nil {
		return nil, fmt.Errorf("delegated grants: %w", err)
	}
	return collectPG(rows, scanGrantPG, "delegated grants")
}
