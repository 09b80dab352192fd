package vault

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// CreateCredential stores c. ID, ProviderID, Kind, KEKID, WrappedKey and
// Ciphertext are required and Version must be at least 1. A missing app is
// ErrNotFound, a duplicate id ErrConflict.
func (p *Postgres) CreateCredential(ctx context.Context, c Credential) error {
	if err := checkCredential(c); err != nil {
		return err
	}
	if c.Version < 1 {
		return fmt.Errorf("credential version must be at least 1: %w", ErrInvalid)
	}
	if !storable(c.AppID) {
		return fmt.Errorf("create credential: %w", ErrNotFound)
	}
	created := p.stamp(c.CreatedAt)
	updated := created
	if !c.UpdatedAt.IsZero() {
		updated = p.stamp(c.UpdatedAt)
	}
	_, err := p.pool.Exec(ctx,
		`INSERT INTO credentials (id, app_id, provider_id, kind, version, expires_at, kek_id, wrapped_key, ciphertext, created_at, updated_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		c.ID, c.AppID, c.ProviderID, c.Kind, c.Version, optTimePG(c.ExpiresAt), c.KEKID, c.WrappedKey, c.Ciphertext, created, updated)
	if err != nil {
		return fmt.Errorf("create credential: %w", classifyPG(err))
	}
	return nil
}

func scanCredentialPG(row pgx.Row) (Credential, error) {
	var c Credential
	var expires *time.Time
	if err := row.Scan(&c.ID, &c.AppID, &c.ProviderID, &c.Kind, &c.Version, &expires, &c.KEKID,
		&c.WrappedKey, &c.Ciphertext, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return Credential{}, classifyPG(err)
	}
	if expires != nil {
		c.ExpiresAt = expires.UTC()
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, nil
}

// optTimePG is the parameter for a nullable timestamptz: the zero time is
// NULL, anything else is truncated to the stored microseconds (timestamptz
// would round).
func optTimePG(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	return &t
}

// GetCredential returns the app's credential id, or ErrNotFound.
func (p *Postgres) GetCredential(ctx context.Context, appID, id string) (Credential, error) {
	if !storable(appID, id) {
		return Credential{}, fmt.Errorf("get credential: %w", ErrNotFound)
	}
	c, err := scanCredentialPG(p.pool.QueryRow(ctx,
		`SELECT `+credentialColumns+` FROM credentials WHERE id = $1 AND app_id = $2`, id, appID))
	if err != nil {
		return Credential{}, fmt.Errorf("get credential: %w", err)
	}
	return c, nil
}

// UpdateCredential replaces version, expiry, KEK id, wrapped key,
// ciphertext and updated_at where the stored version is c.Version-1 (the
// version fence).
// A lost fence is ErrConflict, a missing row ErrNotFound. ProviderID, Kind
// and CreatedAt are not changed. Racing updaters serialise on the row lock
// and the loser's WHERE is re-checked against the winner's version.
func (p *Postgres) UpdateCredential(ctx context.Context, c Credential) error {
	if err := checkCredential(c); err != nil {
		return err
	}
	if c.Version < 2 {
		return fmt.Errorf("an updated credential's version must be at least 2: %w", ErrInvalid)
	}
	if !storable(c.AppID) {
		return fmt.Errorf("update credential: %w", ErrNotFound)
	}
	updated := p.stamp(c.UpdatedAt)
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE credentials SET version = $1, expires_at = $2, kek_id = $3, wrapped_key = $4, ciphertext = $5, updated_at = $6
			 WHERE id = $7 AND app_id = $8 AND version = $9`,
			c.Version, optTimePG(c.ExpiresAt), c.KEKID, c.WrappedKey, c.Ciphertext, updated, c.ID, c.AppID, c.Version-1)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			return nil
		}
		// Nothing matched: tell a missing row from a lost fence.
		var v int64
		if err := tx.QueryRow(ctx,
			`SELECT version FROM credentials WHERE id = $1 AND app_id = $2`, c.ID, c.AppID).Scan(&v); err != nil {
			return err
		}
		return fmt.Errorf("stored version is %d, update expects %d: %w", v, c.Version-1, ErrConflict)
	})
	if err != nil {
		return fmt.Errorf("update credential: %w", classifyPG(err))
	}
	return nil
}

// DeleteCredential deletes the credential and, in the same transaction,
// revokes every grant bound to it, so no active grant ever points at a
// missing credential. A credential of another app is ErrNotFound.
func (p *Postgres) DeleteCredential(ctx context.Context, appID, id string) error {
	if !storable(appID, id) {
		return fmt.Errorf("delete credential: %w", ErrNotFound)
	}
	now := p.stamp(p.now())
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM credentials WHERE id = $1 AND app_id = $2`, id, appID)
		if err != nil {
			return err
		}
		if err := requireRows(tag); err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			`UPDATE grants SET status = 'revoked', updated_at = $1 WHERE app_id = $2 AND credential_id = $3 AND status <> 'revoked'`,
			now, appID, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete credential: %w", classifyPG(err))
	}
	return nil
}

// ListCredentialsNotUnder returns up to limit credentials of every app whose
// KEK id is not activeKEK, ordered by id and strictly after afterID ("" for
// the first page). Only KEK rotation uses it. An empty activeKEK or a limit
// below 1 is ErrInvalid.
func (p *Postgres) ListCredentialsNotUnder(ctx context.Context, activeKEK, afterID string, limit int) ([]Credential, error) {
	switch {
	case activeKEK == "":
		return nil, fmt.Errorf("list credentials not under KEK: empty active KEK id: %w", ErrInvalid)
	case limit < 1:
		return nil, fmt.Errorf("list credentials not under KEK: limit %d must be at least 1: %w", limit, ErrInvalid)
	case !storable(activeKEK, afterID):
		return nil, fmt.Errorf("list credentials not under KEK: KEK id and cursor must be UTF-8 text: %w", ErrInvalid)
	}
	rows, err := p.pool.Query(ctx,
		`SELECT `+credentialColumns+` FROM credentials WHERE kek_id <> $1 AND id > $2 ORDER BY id LIMIT $3`,
		activeKEK, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list credentials not under KEK: %w", err)
	}
	return collectPG(rows, scanCredentialPG, "list credentials not under KEK")
}

// RewrapCredential stores c.KEKID and c.WrappedKey (and updated_at, from
// c.UpdatedAt or now) on the row (c.ID, c.AppID) while its version is still
// c.Version and its KEK id still oldKEK. Version, ciphertext and every other
// column stay as they are: the data key, and so the ciphertext, does not
// change. A lost fence is ErrConflict; a missing row, or one of another
// app, ErrNotFound. The UPDATE's WHERE is re-checked after waiting for a
// concurrent writer's row lock, so a racing rotation or rewrap is seen.
func (p *Postgres) RewrapCredential(ctx context.Context, c Credential, oldKEK string) error {
	switch {
	case !IsCanonicalUUID(c.ID):
		return fmt.Errorf("rewrap credential: id must be a lowercase UUID: %w", ErrInvalid)
	case c.KEKID == "" || oldKEK == "":
		return fmt.Errorf("rewrap credential: needs the new and the old KEK id: %w", ErrInvalid)
	case len(c.WrappedKey) == 0:
		return fmt.Errorf("rewrap credential: no wrapped key: %w", ErrInvalid)
	case c.Version < 1:
		return fmt.Errorf("rewrap credential: version must be at least 1: %w", ErrInvalid)
	case !storable(c.KEKID, oldKEK):
		return fmt.Errorf("rewrap credential: KEK ids must be UTF-8 text: %w", ErrInvalid)
	case !storable(c.AppID):
		return fmt.Errorf("rewrap credential: %w", ErrNotFound)
	}
	updated := p.stamp(c.UpdatedAt)
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE credentials SET kek_id = $1, wrapped_key = $2, updated_at = $3
			 WHERE id = $4 AND app_id = $5 AND version = $6 AND kek_id = $7`,
			c.KEKID, c.WrappedKey, updated, c.ID, c.AppID, c.Version, oldKEK)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			return nil
		}
		// Nothing matched: tell a missing row from a lost fence. The
		// message names versions and KEK ids only, never key material.
		var (
			v   int64
			kek string
		)
		if err := tx.QueryRow(ctx,
			`SELECT version, kek_id FROM credentials WHERE id = $1 AND app_id = $2`, c.ID, c.AppID).Scan(&v, &kek); err != nil {
			return err
		}
		return fmt.Errorf("stored version %d under KEK %q, rewrap expects version %d under %q: %w",
			v, truncate(kek, 64), c.Version, truncate(oldKEK, 64), ErrConflict)
	})
	if err != nil {
		return fmt.Errorf("rewrap credential: %w", classifyPG(err))
	}
	return nil
}

// CreateGrant stores g. The credential must exist in the same app
// (ErrNotFound otherwise) and belong to the same provider (ErrInvalid); an
// empty Status means active. The credential row is share-locked so a
// concurrent DeleteCredential either sees this grant and revokes it, or
// has already deleted the credential.
func (p *Postgres) CreateGrant(ctx context.Context, g Grant) error {
	if err := checkGrant(&g); err != nil {
		return err
	}
	if !storable(g.AppID, g.CredentialID, g.ProviderID) {
		return fmt.Errorf("create grant: %w", ErrNotFound)
	}
	created := p.stamp(g.CreatedAt)
	updated := created
	if !g.UpdatedAt.IsZero() {
		updated = p.stamp(g.UpdatedAt)
	}
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var provider string
		if err := tx.QueryRow(ctx,
			`SELECT provider_id FROM credentials WHERE id = $1 AND app_id = $2 FOR KEY SHARE`,
			g.CredentialID, g.AppID).Scan(&provider); err != nil {
			return err
		}
		if provider != g.ProviderID {
			return fmt.Errorf("grant provider differs from its credential's provider: %w", ErrInvalid)
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO grants (id, app_id, credential_id, provider_id, principal, account, status, created_at, updated_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			g.ID, g.AppID, g.CredentialID, g.ProviderID, g.Principal, g.Account, g.Status, created, updated)
		return err
	})
	if err != nil {
		return fmt.Errorf("create grant: %w", classifyPG(err))
	}
	return nil
}

func scanGrantPG(row pgx.Row) (Grant, error) {
	var g Grant
	if err := row.Scan(&g.ID, &g.AppID, &g.CredentialID, &g.ProviderID, &g.Principal, &g.Account, &g.Status,
		&g.CreatedAt, &g.UpdatedAt); err != nil {
		return Grant{}, classifyPG(err)
	}
	g.CreatedAt, g.UpdatedAt = g.CreatedAt.UTC(), g.UpdatedAt.UTC()
	return g, nil
}

// GetGrant returns the app's grant id in any status, or ErrNotFound.
func (p *Postgres) GetGrant(ctx context.Context, appID, id string) (Grant, error) {
	if !storable(appID, id) {
		return Grant{}, fmt.Errorf("get grant: %w", ErrNotFound)
	}
	g, err := scanGrantPG(p.pool.QueryRow(ctx,
		`SELECT `+grantColumns+` FROM grants WHERE id = $1 AND app_id = $2`, id, appID))
	if err != nil {
		return Grant{}, fmt.Errorf("get grant: %w", err)
	}
	return g, nil
}

// ListGrants returns the app's grants matching f, oldest first.
func (p *Postgres) ListGrants(ctx context.Context, appID string, f GrantFilter) ([]Grant, error) {
	if !storable(appID, f.ProviderID, f.Principal, f.Status) {
		return []Grant{}, nil
	}
	where := []string{"app_id = $1"}
	args := []any{appID}
	for _, c := range []struct{ col, v string }{
		{"provider_id", f.ProviderID}, {"principal", f.Principal}, {"status", f.Status},
	} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	rows, err := p.pool.Query(ctx,
		`SELECT `+grantColumns+` FROM grants WHERE `+strings.Join(where, " AND ")+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return collectPG(rows, scanGrantPG, "list grants")
}

// SetGrantStatus changes the grant's status. Revoked is final: setting it
// again is a no-op, moving a revoked grant to any other status ErrConflict.
// The row is locked while deciding, so a concurrent revocation can never be
// overwritten by a status read before it.
func (p *Postgres) SetGrantStatus(ctx context.Context, appID, id, status string) error {
	if err := ValidateGrantStatus(status); err != nil {
		return err
	}
	if !storable(appID, id) {
		return fmt.Errorf("set grant status: %w", ErrNotFound)
	}
	now := p.stamp(p.now())
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var cur string
		if err := tx.QueryRow(ctx,
			`SELECT status FROM grants WHERE id = $1 AND app_id = $2 FOR UPDATE`, id, appID).Scan(&cur); err != nil {
			return err
		}
		switch {
		case cur == status:
			return nil
		case cur == StatusRevoked:
			return fmt.Errorf("grant is revoked: %w", ErrConflict)
		}
		_, err := tx.Exec(ctx,
			`UPDATE grants SET status = $1, updated_at = $2 WHERE id = $3 AND app_id = $4`, status, now, id, appID)
		return err
	})
	if err != nil {
		return fmt.Errorf("set grant status: %w", classifyPG(err))
	}
	return nil
}

// UpdateGrant sets the grant's account and status (and updated_at, from
// g.UpdatedAt or now): re-consent. Revoked is final as in SetGrantStatus:
// a revoked grant stays as it is, and moving it to another status is
// ErrConflict. The row is locked while deciding.
func (p *Postgres) UpdateGrant(ctx context.Context, g Grant) error {
	if err := checkGrantUpdate(g); err != nil {
		return err
	}
	if !storable(g.AppID, g.ID) {
		return fmt.Errorf("update grant: %w", ErrNotFound)
	}
	updated := p.stamp(g.UpdatedAt)
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var cur string
		if err := tx.QueryRow(ctx,
			`SELECT status FROM grants WHERE id = $1 AND app_id = $2 FOR UPDATE`, g.ID, g.AppID).Scan(&cur); err != nil {
			return err
		}
		if cur == StatusRevoked {
			if g.Status == StatusRevoked {
				return nil
			}
			return fmt.Errorf("grant is revoked: %w", ErrConflict)
		}
		_, err := tx.Exec(ctx,
			`UPDATE grants SET account = $1, status = $2, updated_at = $3 WHERE id = $4 AND app_id = $5`,
			g.Account, g.Status, updated, g.ID, g.AppID)
		return err
	})
	if err != nil {
		return fmt.Errorf("update grant: %w", classifyPG(err))
	}
	return nil
}
