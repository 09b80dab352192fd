package vault

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// CreateKey stores k. ID (the public key id) and Hash are required; an empty
// Status means active. An agent key's agent must exist in the same app
// (ErrNotFound otherwise), as must the app; a duplicate id is ErrConflict.
func (s *SQLite) CreateKey(ctx context.Context, k Key) error {
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
	var revoked any
	switch status {
	case KeyActive:
	case KeyRevoked:
		t := time.Time{}
		if k.RevokedAt != nil {
			t = *k.RevokedAt
		}
		revoked = fmtTime(s.stamp(t))
	default:
		return fmt.Errorf("key status %q must be active or revoked: %w", truncate(status, 40), ErrInvalid)
	}
	var agent any
	if k.AgentID != "" {
		agent = k.AgentID
	}
	created := fmtTime(s.stamp(k.CreatedAt))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if k.AgentID != "" {
			// agent_id has no foreign key (see the migration), so check here
			// that the agent exists in this very app.
			var one int
			if err := tx.QueryRowContext(ctx,
				`SELECT 1 FROM agents WHERE id = ? AND app_id = ?`, k.AgentID, k.AppID).Scan(&one); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO keys (id, app_id, agent_id, hash, status, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.AppID, agent, k.Hash, status, created, revoked)
		return err
	})
	if err != nil {
		return fmt.Errorf("create key: %w", classify(err))
	}
	return nil
}

const keyColumns = `id, app_id, agent_id, hash, status, created_at, revoked_at, expires_at`

func scanKey(row interface{ Scan(...any) error }) (Key, error) {
	var k Key
	var agent, revoked, expires sql.NullString
	var created string
	if err := row.Scan(&k.ID, &k.AppID, &agent, &k.Hash, &k.Status, &created, &revoked, &expires); err != nil {
		return Key{}, classify(err)
	}
	k.AgentID = agent.String
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return Key{}, err
	}
	if revoked.Valid {
		t, err := parseTime(revoked.String)
		if err != nil {
			return Key{}, err
		}
		k.RevokedAt = &t
	}
	if expires.Valid {
		t, err := parseTime(expires.String)
		if err != nil {
			return Key{}, err
		}
		k.ExpiresAt = &t
	}
	return k, nil
}

// GetKey returns the key with public id id, in any app, or ErrNotFound.
func (s *SQLite) GetKey(ctx context.Context, id string) (Key, error) {
	k, err := scanKey(s.r.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM keys WHERE id = ?`, id))
	if err != nil {
		return Key{}, fmt.Errorf("get key: %w", err)
	}
	return k, nil
}

// ListKeys returns the app's keys, revoked ones included, oldest first.
func (s *SQLite) ListKeys(ctx context.Context, appID string) ([]Key, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+keyColumns+` FROM keys WHERE app_id = ? ORDER BY created_at, id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return collect(rows, scanKey, "list keys")
}

// RevokeKey marks the key revoked. Revoking a revoked key is a no-op that
// keeps the first revocation time; a key of another app is ErrNotFound.
func (s *SQLite) RevokeKey(ctx context.Context, appID, id string) error {
	now := fmtTime(s.stamp(s.now()))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx,
			`SELECT status FROM keys WHERE id = ? AND app_id = ?`, id, appID).Scan(&status); err != nil {
			return err
		}
		if status == KeyRevoked {
			return nil
		}
		_, err := tx.ExecContext(ctx,
			`UPDATE keys SET status = 'revoked', revoked_at = ? WHERE id = ? AND app_id = ?`, now, id, appID)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke key: %w", classify(err))
	}
	return nil
}

// DeprecateKey marks the app's active key deprecated until expiresAt (key
// rotation). A key that is not active is ErrConflict, a missing one (or
// one of another app) ErrNotFound.
func (s *SQLite) DeprecateKey(ctx context.Context, appID, id string, expiresAt time.Time) error {
	if expiresAt.IsZero() {
		return fmt.Errorf("deprecate key: needs an expiry: %w", ErrInvalid)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx,
			`SELECT status FROM keys WHERE id = ? AND app_id = ?`, id, appID).Scan(&status); err != nil {
			return err
		}
		if status != KeyActive {
			return fmt.Errorf("key is %s, not active: %w", status, ErrConflict)
		}
		_, err := tx.ExecContext(ctx,
			`UPDATE keys SET status = 'deprecated', expires_at = ? WHERE id = ? AND app_id = ?`,
			fmtTime(s.stamp(expiresAt)), id, appID)
		return err
	})
	if err != nil {
		return fmt.Errorf("deprecate key: %w", classify(err))
	}
	return nil
}
