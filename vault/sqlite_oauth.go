package vault

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PutProviderSettings inserts the app's settings for s.ProviderID, or
// replaces client id, scopes, credential id and updated_at of the existing
// row (created_at stays the first insert's). The app must exist, as must
// the credential, in the same app, when CredentialID is set (ErrNotFound).
func (s *SQLite) PutProviderSettings(ctx context.Context, ps ProviderSettings) error {
	if err := checkProviderSettings(ps); err != nil {
		return err
	}
	scopes, err := json.Marshal(nonNil(ps.Scopes))
	if err != nil {
		return fmt.Errorf("put provider settings: %w", err)
	}
	created := s.stamp(ps.CreatedAt)
	updated := created
	if !ps.UpdatedAt.IsZero() {
		updated = s.stamp(ps.UpdatedAt)
	}
	var cred any
	if ps.CredentialID != "" {
		cred = ps.CredentialID
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if ps.CredentialID != "" {
			var one int
			if err := tx.QueryRowContext(ctx,
				`SELECT 1 FROM credentials WHERE id = ? AND app_id = ?`, ps.CredentialID, ps.AppID).Scan(&one); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO provider_settings (app_id, provider_id, client_id, scopes, credential_id, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?)
			 ON CONFLICT (app_id, provider_id) DO UPDATE SET
			   client_id = excluded.client_id, scopes = excluded.scopes,
			   credential_id = excluded.credential_id, updated_at = excluded.updated_at`,
			ps.AppID, ps.ProviderID, ps.ClientID, string(scopes), cred, fmtTime(created), fmtTime(updated))
		return err
	})
	if err != nil {
		return fmt.Errorf("put provider settings: %w", classify(err))
	}
	return nil
}

const providerSettingsColumns = `app_id, provider_id, client_id, scopes, credential_id, created_at, updated_at`

func scanProviderSettings(row interface{ Scan(...any) error }) (ProviderSettings, error) {
	var ps ProviderSettings
	var scopes, created, updated string
	var cred sql.NullString
	if err := row.Scan(&ps.AppID, &ps.ProviderID, &ps.ClientID, &scopes, &cred, &created, &updated); err != nil {
		return ProviderSettings{}, classify(err)
	}
	if err := json.Unmarshal([]byte(scopes), &ps.Scopes); err != nil {
		return ProviderSettings{}, fmt.Errorf("provider settings %s: stored scopes: %w", ps.ProviderID, err)
	}
	ps.Scopes, ps.CredentialID = nilIfEmpty(ps.Scopes), cred.String
	var err error
	if ps.CreatedAt, err = parseTime(created); err != nil {
		return ProviderSettings{}, err
	}
	ps.UpdatedAt, err = parseTime(updated)
	return ps, err
}

// GetProviderSettings returns the app's settings for providerID, or
// ErrNotFound.
func (s *SQLite) GetProviderSettings(ctx context.Context, appID, providerID string) (ProviderSettings, error) {
	ps, err := scanProviderSettings(s.r.QueryRowContext(ctx,
		`SELECT `+providerSettingsColumns+` FROM provider_settings WHERE app_id = ? AND provider_id = ?`, appID, providerID))
	if err != nil {
		return ProviderSettings{}, fmt.Errorf("get provider settings: %w", err)
	}
	return ps, nil
}

// ListProviderSettings returns the app's settings ordered by provider id.
func (s *SQLite) ListProviderSettings(ctx context.Context, appID string) ([]ProviderSettings, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+providerSettingsColumns+` FROM provider_settings WHERE app_id = ? ORDER BY provider_id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list provider settings: %w", err)
	}
	return collect(rows, scanProviderSettings, "list provider settings")
}

// DeleteProviderSettings deletes the app's settings for providerID (not
// the credential they name), or returns ErrNotFound.
func (s *SQLite) DeleteProviderSettings(ctx context.Context, appID, providerID string) error {
	res, err := s.w.ExecContext(ctx,
		`DELETE FROM provider_settings WHERE app_id = ? AND provider_id = ?`, appID, providerID)
	if err == nil {
		err = requireAffected(res)
	}
	if err != nil {
		return fmt.Errorf("delete provider settings: %w", classify(err))
	}
	return nil
}

// CreateConnectSession stores a new pending session. ID must be a
// lowercase UUID, StateHash a SHA-256 digest (32 bytes) and ExpiresAt set;
// a zero CreatedAt is now. A missing app is ErrNotFound, a duplicate id or
// state hash ErrConflict.
func (s *SQLite) CreateConnectSession(ctx context.Context, cs ConnectSession) error {
	cs, err := checkConnectSession(cs)
	if err != nil {
		return err
	}
	scopes, err := json.Marshal(nonNil(cs.Scopes))
	if err != nil {
		return fmt.Errorf("create connect session: %w", err)
	}
	_, err = s.w.ExecContext(ctx,
		`INSERT INTO connect_sessions (id, state_hash, app_id, provider_id, principal, agent, grant_id, scopes,
		   redirect_uri, status, created_at, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		cs.ID, cs.StateHash, cs.AppID, cs.ProviderID, cs.Principal, cs.Agent, cs.GrantID, string(scopes),
		cs.RedirectURI, cs.Status, fmtTime(s.stamp(cs.CreatedAt)), fmtTime(s.stamp(cs.ExpiresAt)))
	if err != nil {
		return fmt.Errorf("create connect session: %w", classify(err))
	}
	return nil
}

const connectSessionColumns = `id, state_hash, app_id, provider_id, principal, agent, grant_id, scopes,
	redirect_uri, status, error_code, error_message, created_at, expires_at, completed_at`

func scanConnectSession(row interface{ Scan(...any) error }) (ConnectSession, error) {
	var cs ConnectSession
	var scopes, created, expires string
	var completed sql.NullString
	if err := row.Scan(&cs.ID, &cs.StateHash, &cs.AppID, &cs.ProviderID, &cs.Principal, &cs.Agent, &cs.GrantID,
		&scopes, &cs.RedirectURI, &cs.Status, &cs.ErrorCode, &cs.ErrorMessage, &created, &expires, &completed); err != nil {
		return ConnectSession{}, classify(err)
	}
	if err := json.Unmarshal([]byte(scopes), &cs.Scopes); err != nil {
		return ConnectSession{}, fmt.Errorf("connect session %s: stored scopes: %w", cs.ID, err)
	}
	cs.Scopes = nilIfEmpty(cs.Scopes)
	var err error
	if cs.CreatedAt, err = parseTime(created); err != nil {
		return ConnectSession{}, err
	}
	if cs.ExpiresAt, err = parseTime(expires); err != nil {
		return ConnectSession{}, err
	}
	if completed.Valid {
		t, err := parseTime(completed.String)
		if err != nil {
			return ConnectSession{}, err
		}
		cs.CompletedAt = &t
	}
	return cs, nil
}

// GetConnectSession returns the app's session id in any status, or
// ErrNotFound.
func (s *SQLite) GetConnectSession(ctx context.Context, appID, id string) (ConnectSession, error) {
	cs, err := scanConnectSession(s.r.QueryRowContext(ctx,
		`SELECT `+connectSessionColumns+` FROM connect_sessions WHERE id = ? AND app_id = ?`, id, appID))
	if err != nil {
		return ConnectSession{}, fmt.Errorf("get connect session: %w", err)
	}
	return cs, nil
}

// ClaimConnectSession moves the pending, unexpired session with stateHash
// to exchanging and returns it, in one UPDATE … RETURNING: of concurrent
// claimers exactly one gets the row. Unknown, used and expired states are
// ErrNotFound, alike.
func (s *SQLite) ClaimConnectSession(ctx context.Context, stateHash []byte, now time.Time) (ConnectSession, error) {
	if len(stateHash) == 0 {
		return ConnectSession{}, fmt.Errorf("claim connect session: %w", ErrNotFound)
	}
	cs, err := scanConnectSession(s.w.QueryRowContext(ctx,
		`UPDATE connect_sessions SET status = 'exchanging'
		 WHERE state_hash = ? AND status = 'pending' AND expires_at > ?
		 RETURNING `+connectSessionColumns,
		stateHash, fmtTime(s.stamp(now))))
	if err != nil {
		return ConnectSession{}, fmt.Errorf("claim connect session: %w", err)
	}
	return cs, nil
}

// FinishConnectSession records the outcome of a claimed (exchanging)
// session: status (complete or failed), grant id, error code and message,
// and completed_at (cs.CompletedAt or now). A missing session, or one of
// another app, is ErrNotFound; one that is not exchanging ErrConflict.
func (s *SQLite) FinishConnectSession(ctx context.Context, cs ConnectSession) error {
	if err := checkFinish(cs); err != nil {
		return err
	}
	var done time.Time
	if cs.CompletedAt != nil {
		done = *cs.CompletedAt
	}
	completed := fmtTime(s.stamp(done))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE connect_sessions SET status = ?, grant_id = ?, error_code = ?, error_message = ?, completed_at = ?
			 WHERE id = ? AND app_id = ? AND status = 'exchanging'`,
			cs.Status, cs.GrantID, cs.ErrorCode, cs.ErrorMessage, completed, cs.ID, cs.AppID)
		if err != nil {
			return err
		}
		if err := requireAffected(res); !errors.Is(err, ErrNotFound) {
			return err
		}
		var status string
		if err := tx.QueryRowContext(ctx,
			`SELECT status FROM connect_sessions WHERE id = ? AND app_id = ?`, cs.ID, cs.AppID).Scan(&status); err != nil {
			return err
		}
		return fmt.Errorf("session is %s, not exchanging: %w", status, ErrConflict)
	})
	if err != nil {
		return fmt.Errorf("finish connect session: %w", classify(err))
	}
	return nil
}

// DeleteConnectSessions deletes every session (of every app) that expired
// before expiredBefore and returns how many.
func (s *SQLite) DeleteConnectSessions(ctx context.Context, expiredBefore time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx,
		`DELETE FROM connect_sessions WHERE expires_at < ?`, fmtTime(expiredBefore.Truncate(time.Microsecond)))
	if err != nil {
		return 0, fmt.Errorf("delete connect sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete connect sessions: %w", err)
	}
	return int(n), nil
}

// CreateDelegation stores d. ID, GrantID and AgentID must be lowercase
// UUIDs; the grant and the agent must exist in d.AppID (ErrNotFound); a
// zero CreatedAt is now. A second delegation of the grant to the agent is
// ErrConflict.
func (s *SQLite) CreateDelegation(ctx context.Context, d Delegation) error {
	if err := checkDelegation(d); err != nil {
		return err
	}
	created := fmtTime(s.stamp(d.CreatedAt))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx,
			`SELECT 1 FROM grants WHERE id = ? AND app_id = ?`, d.GrantID, d.AppID).Scan(&one); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx,
			`SELECT 1 FROM agents WHERE id = ? AND app_id = ?`, d.AgentID, d.AppID).Scan(&one); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO delegations (id, app_id, grant_id, agent_id, created_at) VALUES (?, ?, ?, ?, ?)`,
			d.ID, d.AppID, d.GrantID, d.AgentID, created)
		return err
	})
	if err != nil {
		return fmt.Errorf("create delegation: %w", classify(err))
	}
	return nil
}

const delegationColumns = `id, app_id, grant_id, agent_id, created_at`

func scanDelegation(row interface{ Scan(...any) error }) (Delegation, error) {
	var d Delegation
	var created string
	if err := row.Scan(&d.ID, &d.AppID, &d.GrantID, &d.AgentID, &created); err != nil {
		return Delegation{}, classify(err)
	}
	var err error
	d.CreatedAt, err = parseTime(created)
	return d, err
}

// ListDelegations returns the app's delegations matching f, oldest first.
func (s *SQLite) ListDelegations(ctx context.Context, appID string, f DelegationFilter) ([]Delegation, error) {
	where := []string{"app_id = ?"}
	args := []any{appID}
	for _, c := range []struct{ col, v string }{{"grant_id", f.GrantID}, {"agent_id", f.AgentID}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+delegationColumns+` FROM delegations WHERE `+strings.Join(where, " AND ")+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list delegations: %w", err)
	}
	return collect(rows, scanDelegation, "list delegations")
}

// DeleteDelegation deletes the app's delegation id (the grant stays), or
// returns ErrNotFound.
func (s *SQLite) DeleteDelegation(ctx context.Context, appID, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM delegations WHERE id = ? AND app_id = ?`, id, appID)
	if err == nil {
		err = requireAffected(res)
	}
	if err != nil {
		return fmt.Errorf("delete delegation: %w", classify(err))
	}
	return nil
}

// DelegatedGrants returns the active grants of providerID delegated to
// agentID in appID, oldest first.
func (s *SQLite) DelegatedGrants(ctx context.Context, appID, agentID, providerID string) ([]Grant, error) {
	rows, err := s.r.QueryContext(ctx, delegatedGrantsQuery("?", "?", "?"), appID, agentID, providerID)
	if err != nil {
		return nil, fmt.Errorf("delegated grants: %w", err)
	}
	return collect(rows, scanGrant, "delegated grants")
}
