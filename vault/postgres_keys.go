package vault

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CreateKey stores k. ID (the public key id) and Hash are required; an empty
// Status means active. An agent key's agent must exist in the same app
// (ErrNotFound otherwise), as must the app; a duplicate id is ErrConflict.
func (p *Postgres) CreateKey(ctx context.Context, k Key) error {
	if k.ID == "" || len(k.ID) > 64 {
		return fmt.Errorf("key id must be 1-64 characters: %w", ErrInvalid)
	}
	if len(k.Hash) == 0 {
		return fmt.Errorf("key hash is empty: %w", ErrInvalid)
	}
	status := k.Status
	if status == "" {
		status = KeyActive
	}
	var revoked *time.Time
	switch status {
	case KeyActive:
	case KeyRevoked:
		t := time.Time{}
		if k.RevokedAt != nil {
			t = *k.RevokedAt
		}
		t = p.stamp(t)
		revoked = &t
	default:
		return fmt.Errorf("key status %q must be active or revoked: %w", truncate(status, 40), ErrInvalid)
	}
	if !storable(k.ID) {
		return fmt.Errorf("key id must be UTF-8 text: %w", ErrInvalid)
	}
	if !storable(k.AppID, k.AgentID) {
		return fmt.Errorf("create key: %w", ErrNotFound)
	}
	var agent *string
	if k.AgentID != "" {
		agent = &k.AgentID
	}
	created := p.stamp(k.CreatedAt)
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		if k.AgentID != "" {
			// agent_id has no foreign key (see the migration), so check here
			// that the agent exists in this very app. FOR KEY SHARE holds off
			// a concurrent DeleteAgent until this key is committed, so its
			// revocation sweep sees the key.
			var one int
			if err := tx.QueryRow(ctx,
				`SELECT 1 FROM agents WHERE id = $1 AND app_id = $2 FOR KEY SHARE`, k.AgentID, k.AppID).Scan(&one); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO keys (id, app_id, agent_id, hash, status, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			k.ID, k.AppID, agent, k.Hash, status, created, revoked)
		return err
	})
	if err != nil {
		return fmt.Errorf("create key: %w", classifyPG(err))
	}
	return nil
}

func scanKeyPG(row pgx.Row) (Key, error) {
	var k Key
	var agent *string
	var revoked, expires *time.Time
	if err := row.Scan(&k.ID, &k.AppID, &agent, &k.Hash, &k.Status, &k.CreatedAt, &revoked, &expires); err != nil {
		return Key{}, classifyPG(err)
	}
	if agent != nil {
		k.AgentID = *agent
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if revoked != nil {
		t := revoked.UTC()
		k.RevokedAt = &t
	}
	if expires != nil {
		t := expires.UTC()
		k.ExpiresAt = &t
	}
	return k, nil
}

// GetKey returns the key with public id id, in any app, or ErrNotFound.
func (p *Postgres) GetKey(ctx context.Context, id string) (Key, error) {
	if !storable(id) {
		return Key{}, fmt.Errorf("get key: %w", ErrNotFound)
	}
	k, err := scanKeyPG(p.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM keys WHERE id = $1`, id))
	if err != nil {
		return Key{}, fmt.Errorf("get key: %w", err)
	}
	return k, nil
}

// ListKeys returns the app's keys, revoked ones included, oldest first.
func (p *Postgres) ListKeys(ctx context.Context, appID string) ([]Key, error) {
	if !storable(appID) {
		return []Key{}, nil
	}
	rows, err := p.pool.Query(ctx,
		`SELECT `+keyColumns+` FROM keys WHERE app_id = $1 ORDER BY created_at, id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return collectPG(rows, scanKeyPG, "list keys")
}

// RevokeKey marks the key revoked. Revoking a revoked key is a no-op that
// keeps the first revocation time; a key of another app is ErrNotFound.
func (p *Postgres) RevokeKey(ctx context.Context, appID, id string) error {
	if !storable(appID, id) {
		return fmt.Errorf("revoke key: %w", ErrNotFound)
	}
	now := p.stamp(p.now())
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var status string
		if err := tx.QueryRow(ctx,
			`SELECT status FROM keys WHERE id = $1 AND app_id = $2 FOR UPDATE`, id, appID).Scan(&status); err != nil {
			return err
		}
		if status == KeyRevoked {
			return nil
		}
		_, err := tx.Exec(ctx,
			`UPDATE keys SET status = 'revoked', revoked_at = $1 WHERE id = $2 AND app_id = $3`, now, id, appID)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke key: %w", classifyPG(err))
	}
	return nil
}

// DeprecateKey marks the app's active key deprecated until expiresAt (key
// rotation). A key that is not active is ErrConflict, a missing one (or
// one of another app) ErrNotFound.
func (p *Postgres) DeprecateKey(ctx context.Context, appID, id string, expiresAt time.Time) error {
	if expiresAt.IsZero() {
		return fmt.Errorf("deprecate key: needs an expiry: %w", ErrInvalid)
	}
	if !storable(appID, id) {
		return fmt.Errorf("deprecate key: %w", ErrNotFound)
	}
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var status string
		if err := tx.QueryRow(ctx,
			`SELECT status FROM keys WHERE id = $1 AND app_id = $2 FOR UPDATE`, id, appID).Scan(&status); err != nil {
			return err
		}
		if status != KeyActive {
			return fmt.Errorf("key is %s, not active: %w", status, ErrConflict)
		}
		_, err := tx.Exec(ctx,
			`UPDATE keys SET status = 'deprecated', expires_at = $1 WHERE id = $2 AND app_id = $3`,
			p.stamp(expiresAt), id, appID)
		return err
	})
	if err != nil {
		return fmt.Errorf("deprecate key: %w", classifyPG(err))
	}
	return nil
}
