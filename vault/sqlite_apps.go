package vault

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// CreateApp inserts a. An empty ID gets a fresh UUID, a zero CreatedAt the
// current time; the returned App holds what was stored. A taken name is
// ErrConflict.
func (s *SQLite) CreateApp(ctx context.Context, a App) (App, error) {
	if err := ValidateName("app", a.Name); err != nil {
		return App{}, err
	}
	egress, err := NormalizeEgress(a.EgressAllow)
	if err != nil {
		return App{}, err
	}
	id, err := idOrNew("app", a.ID)
	if err != nil {
		return App{}, err
	}
	out := App{ID: id, Name: a.Name, EgressAllow: egress, CreatedAt: s.stamp(a.CreatedAt)}
	eg, err := json.Marshal(out.EgressAllow)
	if err != nil {
		return App{}, fmt.Errorf("create app: %w", err)
	}
	_, err = s.w.ExecContext(ctx,
		`INSERT INTO apps (id, name, egress_allow, created_at) VALUES (?, ?, ?, ?)`,
		out.ID, out.Name, string(eg), fmtTime(out.CreatedAt))
	if err != nil {
		return App{}, fmt.Errorf("create app %q: %w", a.Name, classify(err))
	}
	return out, nil
}

const appColumns = `id, name, egress_allow, created_at`

func scanApp(row interface{ Scan(...any) error }) (App, error) {
	var a App
	var eg, created string
	if err := row.Scan(&a.ID, &a.Name, &eg, &created); err != nil {
		return App{}, classify(err)
	}
	if err := json.Unmarshal([]byte(eg), &a.EgressAllow); err != nil {
		return App{}, fmt.Errorf("app %s: stored egress list: %w", a.ID, err)
	}
	if a.EgressAllow == nil {
		a.EgressAllow = []string{}
	}
	var err error
	a.CreatedAt, err = parseTime(created)
	return a, err
}

// GetApp returns the app with id, or ErrNotFound.
func (s *SQLite) GetApp(ctx context.Context, id string) (App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appColumns+` FROM apps WHERE id = ?`, id))
	if err != nil {
		return App{}, fmt.Errorf("get app: %w", err)
	}
	return a, nil
}

// GetAppByName returns the app called name, or ErrNotFound.
func (s *SQLite) GetAppByName(ctx context.Context, name string) (App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, `SELECT `+appColumns+` FROM apps WHERE name = ?`, name))
	if err != nil {
		return App{}, fmt.Errorf("get app %q: %w", name, err)
	}
	return a, nil
}

// ListApps returns every app ordered by name.
func (s *SQLite) ListApps(ctx context.Context) ([]App, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+appColumns+` FROM apps ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return collect(rows, scanApp, "list apps")
}

// SetAppEgress replaces the app's egress allowlist (validated and
// normalised by NormalizeEgress).
func (s *SQLite) SetAppEgress(ctx context.Context, appID string, hosts []string) error {
	egress, err := NormalizeEgress(hosts)
	if err != nil {
		return err
	}
	eg, err := json.Marshal(egress)
	if err != nil {
		return fmt.Errorf("set egress: %w", err)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE apps SET egress_allow = ? WHERE id = ?`, string(eg), appID)
	if err == nil {
		err = requireAffected(res)
	}
	if err != nil {
		return fmt.Errorf("set egress: %w", classify(err))
	}
	return nil
}

// CreateAgent inserts a into its app. An empty ID gets a fresh UUID. A
// missing app is ErrNotFound, a name taken in the app ErrConflict.
func (s *SQLite) CreateAgent(ctx context.Context, a Agent) (Agent, error) {
	if err := ValidateName("agent", a.Name); err != nil {
		return Agent{}, err
	}
	id, err := idOrNew("agent", a.ID)
	if err != nil {
		return Agent{}, err
	}
	out := Agent{ID: id, AppID: a.AppID, Name: a.Name, CreatedAt: s.stamp(a.CreatedAt)}
	_, err = s.w.ExecContext(ctx,
		`INSERT INTO agents (id, app_id, name, created_at) VALUES (?, ?, ?, ?)`,
		out.ID, out.AppID, out.Name, fmtTime(out.CreatedAt))
	if err != nil {
		return Agent{}, fmt.Errorf("create agent %q: %w", a.Name, classify(err))
	}
	return out, nil
}

const agentColumns = `id, app_id, name, created_at`

func scanAgent(row interface{ Scan(...any) error }) (Agent, error) {
	var a Agent
	var created string
	if err := row.Scan(&a.ID, &a.AppID, &a.Name, &created); err != nil {
		return Agent{}, classify(err)
	}
	var err error
	a.CreatedAt, err = parseTime(created)
	return a, err
}

// GetAgent returns the agent id of app appID, or ErrNotFound.
func (s *SQLite) GetAgent(ctx context.Context, appID, id string) (Agent, error) {
	a, err := scanAgent(s.r.QueryRowContext(ctx,
		`SELECT `+agentColumns+` FROM agents WHERE id = ? AND app_id = ?`, id, appID))
	if err != nil {
		return Agent{}, fmt.Errorf("get agent: %w", err)
	}
	return a, nil
}

// GetAgentByName returns the agent called name in app appID, or ErrNotFound.
func (s *SQLite) GetAgentByName(ctx context.Context, appID, name string) (Agent, error) {
	a, err := scanAgent(s.r.QueryRowContext(ctx,
		`SELECT `+agentColumns+` FROM agents WHERE app_id = ? AND name = ?`, appID, name))
	if err != nil {
		return Agent{}, fmt.Errorf("get agent %q: %w", name, err)
	}
	return a, nil
}

// ListAgents returns the app's agents ordered by name.
func (s *SQLite) ListAgents(ctx context.Context, appID string) ([]Agent, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+agentColumns+` FROM agents WHERE app_id = ? ORDER BY name`, appID)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return collect(rows, scanAgent, "list agents")
}

// DeleteAgent removes the agent, the delegations to it and its access
// entries, revokes its active and deprecated keys and revokes the grants
// whose principal is "agent:<name>", in one transaction.
func (s *SQLite) DeleteAgent(ctx context.Context, appID, id string) error {
	now := fmtTime(s.stamp(s.now()))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var name string
		if err := tx.QueryRowContext(ctx,
			`SELECT name FROM agents WHERE id = ? AND app_id = ?`, id, appID).Scan(&name); err != nil {
			return classify(err)
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE keys SET status = 'revoked', revoked_at = ? WHERE app_id = ? AND agent_id = ? AND status <> 'revoked'`,
			now, appID, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE grants SET status = 'revoked', updated_at = ? WHERE app_id = ? AND principal = ? AND status <> 'revoked'`,
			now, appID, PrincipalAgentPrefix+name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM delegations WHERE app_id = ? AND agent_id = ?`, appID, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM agent_access WHERE app_id = ? AND agent_id = ?`, appID, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM agents WHERE id = ? AND app_id = ?`, id, appID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete agent: %w", classify(err))
	}
	return nil
}

// collect scans every row with scan and closes rows. An empty result is a
// non-nil empty slice.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error), op string) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}
