package vault

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// AddAgentAccess stores a (see checkAgentAccess). The agent, and the
// grant when one is named, must exist in a.AppID (ErrNotFound); the same
// entry twice is ErrConflict. Both rows are share-locked until the entry
// is written, so a concurrent DeleteAgent sees it.
func (p *Postgres) AddAgentAccess(ctx context.Context, a AgentAccess) error {
	if err := checkAgentAccess(a); err != nil {
		return err
	}
	if !storable(a.AppID) {
		return fmt.Errorf("add agent access: %w", ErrNotFound)
	}
	created := p.stamp(a.CreatedAt)
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx,
			`SELECT 1 FROM agents WHERE id = $1 AND app_id = $2 FOR KEY SHARE`, a.AgentID, a.AppID).Scan(&one); err != nil {
			return err
		}
		if a.GrantID != "" {
			if err := tx.QueryRow(ctx,
				`SELECT 1 FROM grants WHERE id = $1 AND app_id = $2 FOR KEY SHARE`, a.GrantID, a.AppID).Scan(&one); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO agent_access (`+accessColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			a.ID, a.AppID, a.AgentID, a.ProviderID, a.GrantID, created)
		return err
	})
	if err != nil {
		return fmt.Errorf("add agent access: %w", classifyPG(err))
	}
	return nil
}

func scanAgentAccessPG(row pgx.Row) (AgentAccess, error) {
	var a AgentAccess
	if err := row.Scan(&a.ID, &a.AppID, &a.AgentID, &a.ProviderID, &a.GrantID, &a.CreatedAt); err != nil {
		return AgentAccess{}, classifyPG(err)
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// ListAgentAccess returns the access entries of agentID in appID (every
// agent's when agentID is empty), oldest first.
func (p *Postgres) ListAgentAccess(ctx context.Context, appID, agentID string) ([]AgentAccess, error) {
	if !storable(appID, agentID) {
		return []AgentAccess{}, nil
	}
	q, args := `SELECT `+accessColumns+` FROM agent_access WHERE app_id = $1`, []any{appID}
	if agentID != "" {
		q, args = q+` AND agent_id = $2`, append(args, agentID)
	}
	rows, err := p.pool.Query(ctx, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list agent access: %w", err)
	}
	return collectPG(rows, scanAgentAccessPG, "list agent access")
}

// RemoveAgentAccess deletes the app's access entry id, or returns
// ErrNotFound.
func (p *Postgres) RemoveAgentAccess(ctx context.Context, appID, id string) error {
	if !storable(appID, id) {
		return fmt.Errorf("remove agent access: %w", ErrNotFound)
	}
	tag, err := p.pool.Exec(ctx, `DELETE FROM agent_access WHERE id = $1 AND app_id = $2`, id, appID)
	if err == nil {
		err = requireRows(tag)
	}
	if err != nil {
		return fmt.Errorf("remove agent access: %w", classifyPG(err))
	}
	return nil
}
