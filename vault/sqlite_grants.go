package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// CreateCredential stores c. ID, ProviderID, Kind, KEKID, WrappedKey and
// Ciphertext are required and Version must be at least 1. A missing app is
// ErrNotFound, a duplicate id ErrConflict.
func (s *SQLite) CreateCredential(ctx context.Context, c Credential) error {
	if err := checkCredential(c); err != nil {
		return err
	}
	if c.Version < 1 {
		return fmt.Errorf("credential version must be at least 1: %w", ErrInvalid)
	}
	created := s.stamp(c.CreatedAt)
	updated := created
	if !c.UpdatedAt.IsZero() {
		updated = s.stamp(c.UpdatedAt)
	}
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO credentials (id, app_id, provider_id, kind, version, expires_at, kek_id, wrapped_key, ciphertext, created_at, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.AppID, c.ProviderID, c.Kind, c.Version, fmtOptTime(c.ExpiresAt), c.KEKID, c.WrappedKey, c.Ciphertext,
		fmtTime(created), fmtTime(updated))
	if err != nil {
		return fmt.Errorf("create credential: %w", classify(err))
	}
	return nil
}

// checkGrant validates g for CreateGrant (both stores), defaulting an
// empty Status to active.
func checkGrant(g *Grant) error {
	if !IsCanonicalUUID(g.ID) {
		return fmt.Errorf("grant id must be a lowercase UUID: %w", ErrInvalid)
	}
	if err := ValidatePrincipal(g.Principal); err != nil {
		return err
	}
	if err := ValidateAccount(g.Account); err != nil {
		return err
	}
	if g.Status == "" {
		g.Status = StatusActive
	}
	return ValidateGrantStatus(g.Status)
}

func checkCredential(c Credential) error {
	switch {
	case !IsCanonicalUUID(c.ID):
		return fmt.Errorf("credential id must be a lowercase UUID: %w", ErrInvalid)
	case c.ProviderID == "" || c.Kind == "" || c.KEKID == "":
		return fmt.Errorf("credential needs a provider, kind and KEK id: %w", ErrInvalid)
	case len(c.WrappedKey) == 0 || len(c.Ciphertext) == 0:
		return fmt.Errorf("credential has no sealed material: %w", ErrInvalid)
	}
	return nil
}

const credentialColumns = `id, app_id, provider_id, kind, version, expires_at, kek_id, wrapped_key, ciphertext, created_at, updated_at`

func scanCredential(row interface{ Scan(...any) error }) (Credential, error) {
	var c Credential
	var created, updated string
	var expires sql.NullString
	if err := row.Scan(&c.ID, &c.AppID, &c.ProviderID, &c.Kind, &c.Version, &expires, &c.KEKID,
		&c.WrappedKey, &c.Ciphertext, &created, &updated); err != nil {
		return Credential{}, classify(err)
	}
	var err error
	if c.ExpiresAt, err = parseOptTime(expires); err != nil {
		return Credential{}, err
	}
	if c.CreatedAt, err = parseTime(created); err != nil {
		return Credential{}, err
	}
	c.UpdatedAt, err = parseTime(updated)
	return c, err
}

// GetCredential returns the app's credential id, or ErrNotFound.
func (s *SQLite) GetCredential(ctx context.Context, appID, id string) (Credential, error) {
	c, err := scanCredential(s.r.QueryRowContext(ctx,
		`SELECT `+credentialColumns+` FROM credentials WHERE id = ? AND app_id = ?`, id, appID))
	if err != nil {
		return Credential{}, fmt.Errorf("get credential: %w", err)
	}
	return c, nil
}

// UpdateCredential replaces version, expiry, KEK id, wrapped key,
// ciphertext and updated_at where the stored version is c.Version-1 (the
// version fence). A lost fence is ErrConflict, a missing row ErrNotFound.
// ProviderID, Kind and CreatedAt are not changed.
func (s *SQLite) UpdateCredential(ctx context.Context, c Credential) error {
	if err := checkCredential(c); err != nil {
		return err
	}
	if c.Version < 2 {
		return fmt.Errorf("an updated credential's version must be at least 2: %w", ErrInvalid)
	}
	updated := fmtTime(s.stamp(c.UpdatedAt))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE credentials SET version = ?, expires_at = ?, kek_id = ?, wrapped_key = ?, ciphertext = ?, updated_at = ?
			 WHERE id = ? AND app_id = ? AND version = ?`,
			c.Version, fmtOptTime(c.ExpiresAt), c.KEKID, c.WrappedKey, c.Ciphertext, updated, c.ID, c.AppID, c.Version-1)
		if err != nil {
			return err
		}
		if err := requireAffected(res); !errors.Is(err, ErrNotFound) {
			return err
		}
		// Nothing matched: tell a missing row from a lost fence.
		var v int64
		if err := tx.QueryRowContext(ctx,
			`SELECT version FROM credentials WHERE id = ? AND app_id = ?`, c.ID, c.AppID).Scan(&v); err != nil {
			return err
		}
		return fmt.Errorf("stored version is %d, update expects %d: %w", v, c.Version-1, ErrConflict)
	})
	if err != nil {
		return fmt.Errorf("update credential: %w", classify(err))
	}
	return nil
}

// DeleteCredential deletes the credential and, in the same transaction,
// revokes every grant bound to it, so no active grant ever points at a
// missing credential. A credential of another app is ErrNotFound.
func (s *SQLite) DeleteCredential(ctx context.Context, appID, id string) error {
	now := fmtTime(s.stamp(s.now()))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE id = ? AND app_id = ?`, id, appID)
		if err != nil {
			return err
		}
		if err := requireAffected(res); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE grants SET status = 'revoked', updated_at = ? WHERE app_id = ? AND credential_id = ? AND status <> 'revoked'`,
			now, appID, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete credential: %w", classify(err))
	}
	return nil
}

// CreateGrant stores g. The credential must exist in the same app
// (ErrNotFound otherwise) and belong to the same provider (ErrInvalid); an
// empty Status means active.
func (s *SQLite) CreateGrant(ctx context.Context, g Grant) error {
	if err := checkGrant(&g); err != nil {
		return err
	}
	created := s.stamp(g.CreatedAt)
	updated := created
	if !g.UpdatedAt.IsZero() {
		updated = s.stamp(g.UpdatedAt)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var provider string
		if err := tx.QueryRowContext(ctx,
			`SELECT provider_id FROM credentials WHERE id = ? AND app_id = ?`, g.CredentialID, g.AppID).Scan(&provider); err != nil {
			return err
		}
		if provider != g.ProviderID {
			return fmt.Errorf("grant provider differs from its credential's provider: %w", ErrInvalid)
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO grants (id, app_id, credential_id, provider_id, principal, account, status, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			g.ID, g.AppID, g.CredentialID, g.ProviderID, g.Principal, g.Account, g.Status, fmtTime(created), fmtTime(updated))
		return err
	})
	if err != nil {
		return fmt.Errorf("create grant: %w", classify(err))
	}
	return nil
}

const grantColumns = `id, app_id, credential_id, provider_id, principal, account, status, created_at, updated_at`

func scanGrant(row interface{ Scan(...any) error }) (Grant, error) {
	var g Grant
	var created, updated string
	if err := row.Scan(&g.ID, &g.AppID, &g.CredentialID, &g.ProviderID, &g.Principal, &g.Account, &g.Status,
		&created, &updated); err != nil {
		return Grant{}, classify(err)
	}
	var err error
	if g.CreatedAt, err = parseTime(created); err != nil {
		return Grant{}, err
	}
	g.UpdatedAt, err = parseTime(updated)
	return g, err
}

// GetGrant returns the app's grant id in any status, or ErrNotFound.
func (s *SQLite) GetGrant(ctx context.Context, appID, id string) (Grant, error) {
	g, err := scanGrant(s.r.QueryRowContext(ctx,
		`SELECT `+grantColumns+` FROM grants WHERE id = ? AND app_id = ?`, id, appID))
	if err != nil {
		return Grant{}, fmt.Errorf("get grant: %w", err)
	}
	return g, nil
}

// ListGrants returns the app's grants matching f, oldest first.
func (s *SQLite) ListGrants(ctx context.Context, appID string, f GrantFilter) ([]Grant, error) {
	where := []string{"app_id = ?"}
	args := []any{appID}
	for _, c := range []struct{ col, v string }{
		{"provider_id", f.ProviderID}, {"principal", f.Principal}, {"status", f.Status},
	} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+grantColumns+` FROM grants WHERE `+strings.Join(where, " AND ")+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return collect(rows, scanGrant, "list grants")
}

// SetGrantStatus changes the grant's status. Revoked is final: setting it
// again is a no-op, moving a revoked grant to any other status ErrConflict.
func (s *SQLite) SetGrantStatus(ctx context.Context, appID, id, status string) error {
	if err := ValidateGrantStatus(status); err != nil {
		return err
	}
	now := fmtTime(s.stamp(s.now()))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var cur string
		if err := tx.QueryRowContext(ctx,
			`SELECT status FROM grants WHERE id = ? AND app_id = ?`, id, appID).Scan(&cur); err != nil {
			return err
		}
		switch {
		case cur == status:
			return nil
		case cur == StatusRevoked:
			return fmt.Errorf("grant is revoked: %w", ErrConflict)
		}
		_, err := tx.ExecContext(ctx,
			`UPDATE grants SET status = ?, updated_at = ? WHERE id = ? AND app_id = ?`, status, now, id, appID)
		return err
	})
	if err != nil {
		return fmt.Errorf("set grant status: %w", classify(err))
	}
	return nil
}

// UpdateGrant sets the grant's account and status (and updated_at, from
// g.UpdatedAt or now): re-consent. Revoked is final as in SetGrantStatus:
// a revoked grant stays as it is, and moving it to another status is
// ErrConflict.
func (s *SQLite) UpdateGrant(ctx context.Context, g Grant) error {
	if err := checkGrantUpdate(g); err != nil {
		return err
	}
	updated := fmtTime(s.stamp(g.UpdatedAt))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var cur string
		if err := tx.QueryRowContext(ctx,
			`SELECT status FROM grants WHERE id = ? AND app_id = ?`, g.ID, g.AppID).Scan(&cur); err != nil {
			return err
		}
		if cur == StatusRevoked {
			if g.Status == StatusRevoked {
				return nil
			}
			return fmt.Errorf("grant is revoked: %w", ErrConflict)
		}
		_, err := tx.ExecContext(ctx,
			`UPDATE grants SET account = ?, status = ?, updated_at = ? WHERE id = ? AND app_id = ?`,
			g.Account, g.Status, updated, g.ID, g.AppID)
		return err
	})
	if err != nil {
		return fmt.Errorf("update grant: %w", classify(err))
	}
	return nil
}

// checkGrantUpdate validates the fields UpdateGrant writes.
func checkGrantUpdate(g Grant) error {
	if err := ValidateAccount(g.Account); err != nil {
		return err
	}
	return ValidateGrantStatus(g.Status)
}
