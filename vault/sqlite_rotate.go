package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ListCredentialsNotUnder returns up to limit credentials of every app whose
// KEK id is not activeKEK, ordered by id and strictly after afterID ("" for
// the first page). It reads through the read pool, so a rotation scan never
// holds the writer.
func (s *SQLite) ListCredentialsNotUnder(ctx context.Context, activeKEK, afterID string, limit int) ([]Credential, error) {
	if activeKEK == "" {
		return nil, fmt.Errorf("list credentials not under KEK: empty active KEK id: %w", ErrInvalid)
	}
	if limit < 1 {
		return nil, fmt.Errorf("list credentials not under KEK: limit %d must be at least 1: %w", limit, ErrInvalid)
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+credentialColumns+` FROM credentials WHERE kek_id <> ? AND id > ? ORDER BY id LIMIT ?`,
		activeKEK, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list credentials not under KEK: %w", err)
	}
	defer rows.Close()
	out := []Credential{}
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("list credentials not under KEK: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list credentials not under KEK: %w", err)
	}
	return out, nil
}

// RewrapCredential stores c.KEKID and c.WrappedKey (and updated_at) on the
// row (c.ID, c.AppID) while its version is still c.Version and its KEK id
// still oldKEK. Version, ciphertext and every other column stay as they are:
// the data key, and so the ciphertext, does not change. A lost fence is
// ErrConflict; a missing row, or one of another app, ErrNotFound.
func (s *SQLite) RewrapCredential(ctx context.Context, c Credential, oldKEK string) error {
	switch {
	case !IsCanonicalUUID(c.ID):
		return fmt.Errorf("rewrap credential: id must be a lowercase UUID: %w", ErrInvalid)
	case c.KEKID == "" || oldKEK == "":
		return fmt.Errorf("rewrap credential: needs the new and the old KEK id: %w", ErrInvalid)
	case len(c.WrappedKey) == 0:
		return fmt.Errorf("rewrap credential: no wrapped key: %w", ErrInvalid)
	case c.Version < 1:
		return fmt.Errorf("rewrap credential: version must be at least 1: %w", ErrInvalid)
	}
	updated := fmtTime(s.stamp(c.UpdatedAt))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE credentials SET kek_id = ?, wrapped_key = ?, updated_at = ?
			 WHERE id = ? AND app_id = ? AND version = ? AND kek_id = ?`,
			c.KEKID, c.WrappedKey, updated, c.ID, c.AppID, c.Version, oldKEK)
		if err != nil {
			return err
		}
		if err := requireAffected(res); !errors.Is(err, ErrNotFound) {
			return err
		}
		// Nothing matched: tell a missing row from a lost fence. The
		// message names versions and KEK ids only, never key material.
		var (
			v   int64
			kek string
		)
		if err := tx.QueryRowContext(ctx,
			`SELECT version, kek_id FROM credentials WHERE id = ? AND app_id = ?`, c.ID, c.AppID).Scan(&v, &kek); err != nil {
			return err
		}
		return fmt.Errorf("stored version %d under KEK %q, rewrap expects version %d under %q: %w",
			v, truncate(kek, 64), c.Version, truncate(oldKEK, 64), ErrConflict)
	})
	if err != nil {
		return fmt.Errorf("rewrap credential: %w", classify(err))
	}
	return nil
}
