package vault

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PutIdentityProvider inserts or replaces the app's identity provider
// (created_at stays the first insert's). A missing app is ErrNotFound.
func (p *Postgres) PutIdentityProvider(ctx context.Context, ip IdentityProvider) error {
	if err := checkIdentityProvider(ip); err != nil {
		return err
	}
	if !storable(ip.AppID) {
		return fmt.Errorf("put identity provider: %w", ErrNotFound)
	}
	created := p.stamp(ip.CreatedAt)
	updated := created
	if !ip.UpdatedAt.IsZero() {
		updated = p.stamp(ip.UpdatedAt)
	}
	_, err := p.pool.Exec(ctx,
		`INSERT INTO identity_providers (`+idpColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		 ON CONFLICT (app_id) DO UPDATE SET
		   issuer = excluded.issuer, jwks_url = excluded.jwks_url, audience = excluded.audience,
		   user_claim = excluded.user_claim, group_claim = excluded.group_claim,
		   algorithms = excluded.algorithms, leeway_ns = excluded.leeway_ns, updated_at = excluded.updated_at`,
		ip.AppID, ip.Issuer, ip.JWKSURL, ip.Audience, ip.UserClaim, ip.GroupClaim, nonNil(ip.Algorithms),
		int64(ip.Leeway), created, updated)
	if err != nil {
		return fmt.Errorf("put identity provider: %w", classifyPG(err))
	}
	return nil
}

// GetIdentityProvider returns the app's identity provider, or ErrNotFound.
func (p *Postgres) GetIdentityProvider(ctx context.Context, appID string) (IdentityProvider, error) {
	if !storable(appID) {
		return IdentityProvider{}, fmt.Errorf("get identity provider: %w", ErrNotFound)
	}
	var ip IdentityProvider
	var leeway int64
	err := p.pool.QueryRow(ctx, `SELECT `+idpColumns+` FROM identity_providers WHERE app_id = $1`, appID).Scan(
		&ip.AppID, &ip.Issuer, &ip.JWKSURL, &ip.Audience, &ip.UserClaim, &ip.GroupClaim, &ip.Algorithms, &leeway,
		&ip.CreatedAt, &ip.UpdatedAt)
	if err != nil {
		return IdentityProvider{}, fmt.Errorf("get identity provider: %w", classifyPG(err))
	}
	ip.Algorithms, ip.Leeway = nilIfEmpty(ip.Algorithms), time.Duration(leeway)
	ip.CreatedAt, ip.UpdatedAt = ip.CreatedAt.UTC(), ip.UpdatedAt.UTC()
	return ip, nil
}

// DeleteIdentityProvider removes the app's identity provider, or returns
// ErrNotFound.
func (p *Postgres) DeleteIdentityProvider(ctx context.Context, appID string) error {
	if !storable(appID) {
		return fmt.Errorf("delete identity provider: %w", ErrNotFound)
	}
	tag, err := p.pool.Exec(ctx, `DELETE FROM identity_providers WHERE app_id = $1`, appID)
	if err == nil {
		err = requireRows(tag)
	}
	if err != nil {
		return fmt.Errorf("delete identity provider: %w", classifyPG(err))
	}
	return nil
}

// PutAppPolicy inserts or replaces the app's policy document, at version
// 1 or the stored version + 1 (one statement: concurrent writers get
// distinct versions), and returns what was stored. p.Version is ignored;
// an empty UpdatedAt means now. A missing app is ErrNotFound.
func (p *Postgres) PutAppPolicy(ctx context.Context, ap AppPolicy) (AppPolicy, error) {
	if err := checkAppPolicy(ap); err != nil {
		return AppPolicy{}, err
	}
	if !storable(ap.AppID) {
		return AppPolicy{}, fmt.Errorf("put app policy: %w", ErrNotFound)
	}
	out := AppPolicy{AppID: ap.AppID, Document: ap.Document, UpdatedAt: p.stamp(ap.UpdatedAt)}
	err := p.pool.QueryRow(ctx,
		`INSERT INTO app_policies (app_id, document, version, updated_at) VALUES ($1, $2, 1, $3)
		 ON CONFLICT (app_id) DO UPDATE SET
		   document = excluded.document, version = app_policies.version + 1, updated_at = excluded.updated_at
		 RETURNING version`,
		ap.AppID, ap.Document, out.UpdatedAt).Scan(&out.Version)
	if err != nil {
		return AppPolicy{}, fmt.Errorf("put app policy: %w", classifyPG(err))
	}
	return out, nil
}

func scanAppPolicyPG(row pgx.Row) (AppPolicy, error) {
	var ap AppPolicy
	if err := row.Scan(&ap.AppID, &ap.Document, &ap.Version, &ap.UpdatedAt); err != nil {
		return AppPolicy{}, classifyPG(err)
	}
	ap.UpdatedAt = ap.UpdatedAt.UTC()
	return ap, nil
}

// GetAppPolicy returns the app's policy document, or ErrNotFound.
func (p *Postgres) GetAppPolicy(ctx context.Context, appID string) (AppPolicy, error) {
	if !storable(appID) {
		return AppPolicy{}, fmt.Errorf("get app policy: %w", ErrNotFound)
	}
	ap, err := scanAppPolicyPG(p.pool.QueryRow(ctx,
		`SELECT `+policyColumns+` FROM app_policies WHERE app_id = $1`, appID))
	if err != nil {
		return AppPolicy{}, fmt.Errorf("get app policy: %w", err)
	}
	return ap, nil
}

// ListAppPolicies returns every app's policy document, ordered by app id.
func (p *Postgres) ListAppPolicies(ctx context.Context) ([]AppPolicy, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+policyColumns+` FROM app_policies ORDER BY app_id`)
	if err != nil {
		return nil, fmt.Errorf("list app policies: %w", err)
	}
	return collectPG(rows, scanAppPolicyPG, "list app policies")
}

// DeleteAppPolicy removes the app's policy document, or returns
// ErrNotFound. A later PutAppPolicy starts again at version 1.
func (p *Postgres) DeleteAppPolicy(ctx context.Context, appID string) error {
	if !storable(appID) {
		return fmt.Errorf("delete app policy: %w", ErrNotFound)
	}
	tag, err := p.pool.Exec(ctx, `DELETE FROM app_policies WHERE app_id = $1`, appID)
	if err == nil {
		err = requireRows(tag)
	}
	if err != nil {
		return fmt.Errorf("delete app policy: %w", classifyPG(err))
	}
	return nil
}

// TouchUser inserts u on first sight (FirstSeen, or now when zero; LastSeen
// defaults to FirstSeen) or else replaces its groups and moves LastSeen
// forward (never back: replicas may write out of order). A missing app is
// ErrNotFound.
func (p *Postgres) TouchUser(ctx context.Context, u User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	if !storable(u.AppID) {
		return fmt.Errorf("touch user: %w", ErrNotFound)
	}
	first := p.stamp(u.FirstSeen)
	last := first
	if !u.LastSeen.IsZero() {
		last = p.stamp(u.LastSeen)
	}
	_, err := p.pool.Exec(ctx,
		`INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5)
		 ON CONFLICT (app_id, id) DO UPDATE SET
		   groups = excluded.groups, last_seen = greatest(users.last_seen, excluded.last_seen)`,
		u.AppID, u.ID, nonNil(u.Groups), first, last)
	if err != nil {
		return fmt.Errorf("touch user: %w", classifyPG(err))
	}
	return nil
}

func scanUserPG(row pgx.Row) (User, error) {
	var u User
	if err := row.Scan(&u.AppID, &u.ID, &u.Groups, &u.FirstSeen, &u.LastSeen); err != nil {
		return User{}, classifyPG(err)
	}
	u.Groups = nilIfEmpty(u.Groups)
	u.FirstSeen, u.LastSeen = u.FirstSeen.UTC(), u.LastSeen.UTC()
	return u, nil
}

// ListUsers returns the app's users ordered by id.
func (p *Postgres) ListUsers(ctx context.Context, appID string) ([]User, error) {
	if !storable(appID) {
		return []User{}, nil
	}
	rows, err := p.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE app_id = $1 ORDER BY id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return collectPG(rows, scanUserPG, "list users")
}
