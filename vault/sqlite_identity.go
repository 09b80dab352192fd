package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// PutIdentityProvider inserts or replaces the app's identity provider
// (created_at stays the first insert's). A missing app is ErrNotFound.
func (s *SQLite) PutIdentityProvider(ctx context.Context, p IdentityProvider) error {
	if err := checkIdentityProvider(p); err != nil {
		return err
	}
	algs, err := json.Marshal(nonNil(p.Algorithms))
	if err != nil {
		return fmt.Errorf("put identity provider: %w", err)
	}
	created := s.stamp(p.CreatedAt)
	updated := created
	if !p.UpdatedAt.IsZero() {
		updated = s.stamp(p.UpdatedAt)
	}
	_, err = s.w.ExecContext(ctx,
		`INSERT INTO identity_providers (`+idpColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (app_id) DO UPDATE SET
		   issuer = excluded.issuer, jwks_url = excluded.jwks_url, audience = excluded.audience,
		   user_claim = excluded.user_claim, group_claim = excluded.group_claim,
		   algorithms = excluded.algorithms, leeway_ns = excluded.leeway_ns, updated_at = excluded.updated_at`,
		p.AppID, p.Issuer, p.JWKSURL, p.Audience, p.UserClaim, p.GroupClaim, string(algs), int64(p.Leeway),
		fmtTime(created), fmtTime(updated))
	if err != nil {
		return fmt.Errorf("put identity provider: %w", classify(err))
	}
	return nil
}

// GetIdentityProvider returns the app's identity provider, or ErrNotFound.
func (s *SQLite) GetIdentityProvider(ctx context.Context, appID string) (IdentityProvider, error) {
	var p IdentityProvider
	var algs, created, updated string
	var leeway int64
	err := s.r.QueryRowContext(ctx, `SELECT `+idpColumns+` FROM identity_providers WHERE app_id = ?`, appID).Scan(
		&p.AppID, &p.Issuer, &p.JWKSURL, &p.Audience, &p.UserClaim, &p.GroupClaim, &algs, &leeway, &created, &updated)
	if err != nil {
		return IdentityProvider{}, fmt.Errorf("get identity provider: %w", classify(err))
	}
	if err := json.Unmarshal([]byte(algs), &p.Algorithms); err != nil {
		return IdentityProvider{}, fmt.Errorf("get identity provider: stored algorithms: %w", err)
	}
	p.Algorithms, p.Leeway = nilIfEmpty(p.Algorithms), time.Duration(leeway)
	if p.CreatedAt, err = parseTime(created); err != nil {
		return IdentityProvider{}, err
	}
	if p.UpdatedAt, err = parseTime(updated); err != nil {
		return IdentityProvider{}, err
	}
	return p, nil
}

// DeleteIdentityProvider removes the app's identity provider, or returns
// ErrNotFound.
func (s *SQLite) DeleteIdentityProvider(ctx context.Context, appID string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM identity_providers WHERE app_id = ?`, appID)
	if err == nil {
		err = requireAffected(res)
	}
	if err != nil {
		return fmt.Errorf("delete identity provider: %w", classify(err))
	}
	return nil
}

// PutAppPolicy inserts or replaces the app's policy document, at version
// 1 or the stored version + 1, and returns what was stored. p.Version is
// ignored; an empty UpdatedAt means now. A missing app is ErrNotFound.
func (s *SQLite) PutAppPolicy(ctx context.Context, p AppPolicy) (AppPolicy, error) {
	if err := checkAppPolicy(p); err != nil {
		return AppPolicy{}, err
	}
	out := AppPolicy{AppID: p.AppID, Document: p.Document, UpdatedAt: s.stamp(p.UpdatedAt)}
	err := s.w.QueryRowContext(ctx,
		`INSERT INTO app_policies (app_id, document, version, updated_at) VALUES (?, ?, 1, ?)
		 ON CONFLICT (app_id) DO UPDATE SET
		   document = excluded.document, version = app_policies.version + 1, updated_at = excluded.updated_at
		 RETURNING version`,
		p.AppID, p.Document, fmtTime(out.UpdatedAt)).Scan(&out.Version)
	if err != nil {
		return AppPolicy{}, fmt.Errorf("put app policy: %w", classify(err))
	}
	return out, nil
}

func scanAppPolicy(row interface{ Scan(...any) error }) (AppPolicy, error) {
	var p AppPolicy
	var updated string
	if err := row.Scan(&p.AppID, &p.Document, &p.Version, &updated); err != nil {
		return AppPolicy{}, classify(err)
	}
	var err error
	p.UpdatedAt, err = parseTime(updated)
	return p, err
}

// GetAppPolicy returns the app's policy document, or ErrNotFound.
func (s *SQLite) GetAppPolicy(ctx context.Context, appID string) (AppPolicy, error) {
	p, err := scanAppPolicy(s.r.QueryRowContext(ctx,
		`SELECT `+policyColumns+` FROM app_policies WHERE app_id = ?`, appID))
	if err != nil {
		return AppPolicy{}, fmt.Errorf("get app policy: %w", err)
	}
	return p, nil
}

// ListAppPolicies returns every app's policy document, ordered by app id.
func (s *SQLite) ListAppPolicies(ctx context.Context) ([]AppPolicy, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+policyColumns+` FROM app_policies ORDER BY app_id`)
	if err != nil {
		return nil, fmt.Errorf("list app policies: %w", err)
	}
	return collect(rows, scanAppPolicy, "list app policies")
}

// DeleteAppPolicy removes the app's policy document, or returns
// ErrNotFound. A later PutAppPolicy starts again at version 1.
func (s *SQLite) DeleteAppPolicy(ctx context.Context, appID string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM app_policies WHERE app_id = ?`, appID)
	if err == nil {
		err = requireAffected(res)
	}
	if err != nil {
		return fmt.Errorf("delete app policy: %w", classify(err))
	}
	return nil
}

// TouchUser inserts u on first sight (FirstSeen, or now when zero; LastSeen
// defaults to FirstSeen) or else replaces its groups and moves LastSeen
// forward (never back: replicas may write out of order). A missing app is
// ErrNotFound.
func (s *SQLite) TouchUser(ctx context.Context, u User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	groups, err := json.Marshal(nonNil(u.Groups))
	if err != nil {
		return fmt.Errorf("touch user: %w", err)
	}
	first := s.stamp(u.FirstSeen)
	last := first
	if !u.LastSeen.IsZero() {
		last = s.stamp(u.LastSeen)
	}
	_, err = s.w.ExecContext(ctx,
		`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (app_id, id) DO UPDATE SET
		   groups = excluded.groups, last_seen = max(users.last_seen, excluded.last_seen)`,
		u.AppID, u.ID, string(groups), fmtTime(first), fmtTime(last))
	if err != nil {
		return fmt.Errorf("touch user: %w", classify(err))
	}
	return nil
}

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var groups, first, last string
	if err := row.Scan(&u.AppID, &u.ID, &groups, &first, &last); err != nil {
		return User{}, classify(err)
	}
	if err := json.Unmarshal([]byte(groups), &u.Groups); err != nil {
		return User{}, fmt.Errorf("user: stored groups: %w", err)
	}
	u.Groups = nilIfEmpty(u.Groups)
	var err error
	if u.FirstSeen, err = parseTime(first); err != nil {
		return User{}, err
	}
	u.LastSeen, err = parseTime(last)
	return u, err
}

// ListUsers returns the app's users ordered by id.
func (s *SQLite) ListUsers(ctx context.Context, appID string) ([]User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE app_id = ? ORDER BY id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return collect(rows, scanUser, "list users")
}
