package vault

import (
	"context"
	"database/sql"
	"fmt"
)

// AddAgentAccess stores a (see checkAgentAccess). The agent, and the
// grant when one is named, must exist in a.AppID (ErrNotFound); the same
// entry twice is ErrConflict.
func (s *SQLite) AddAgentAccess(ctx context.Context, a AgentAccess) error {
	if err := checkAgentAccess(a); err != nil {
		return err
	}
	created := fmtTime(s.stamp(a.CreatedAt))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx,
			`SELECT 1 FROM agents WHERE id = ? AND app_id = ?`, a.AgentID, a.AppID).Scan(&one); err != nil {
			return err
		}
		if a.GrantID != "" {
			if err := tx.QueryRowContext(ctx,
				`SELECT 1 FROM grants WHERE id = ? AND app_id = ?`, a.GrantID, a.AppID).Scan(&one); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO agent_access (`+accessColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			a.ID, a.AppID, a.AgentID, a.ProviderID, a.GrantID, created)
		return err
	})
	if err != nil {
		return fmt.Errorf("add agent access: %w", classify(err))
	}
	return nil
}

func scanAgentAccess(row interface{ Scan(...any) error }) (AgentAccess, error) {
	var a AgentAccess
	var created string
	if err := row.Scan(&a.ID, &a.AppID, &a.AgentID, &a.ProviderID, &a.GrantID, &created); err != nil {
		return AgentAccess{}, classify(err)
	}
	var err error
	a.CreatedAt, err = parseTime(created)
	return a, err
}

// ListAgentAccess returns the access entries of agentID in appID (every
// agent's when agentID is empty), oldest first.
func (s *SQLite) ListAgentAccess(ctx context.Context, appID, agentID string) ([]AgentAccess, error) {
	q, args := `SELECT `+accessColumns+` FROM agent_access WHERE app_id = ?`, []any{appID}
	if agentID != "" {
		q, args = q+` AND agent_id = ?`, append(args, agentID)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list agent access: %w", err)
	}
	return collect(rows, scanAgentAccess, "list agent access")
}

// RemoveAgentAccess deletes the app's access entry id, or returns
// ErrNotFound.
func (s *SQLite) RemoveAgentAccess(ctx context.Context, appID, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM agent_access WHERE id = ? AND app_id = ?`, id, appID)
	if err == nil {
		err = requireAffected(res)
	}
	if err != nil {
		return fmt.Errorf("remove agent access: %w", classify(err))
	}
	return nil
}
