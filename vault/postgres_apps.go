package vault

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CreateApp inserts a. An empty ID gets a fresh UUID, a zero CreatedAt the
// current time; the returned App holds what was stored. A taken name is
// ErrConflict.
func (p *Postgres) CreateApp(ctx context.Context, a App) (App, error) {
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
	out := App{ID: id, Name: a.Name, EgressAllow: egress, CreatedAt: p.stamp(a.CreatedAt)}
	_, err = p.pool.Exec(ctx,
		`INSERT INTO apps (id, name, egress_allow, created_at) VALUES ($1, $2, $3, $4)`,
		out.ID, out.Name, out.EgressAllow, out.CreatedAt)
	if err != nil {
		return App{}, fmt.Errorf("create app %q: %w", a.Name, classifyPG(err))
	}
	return out, nil
}

func scanAppPG(row pgx.Row) (App, error) {
	var a App
	if err := row.Scan(&a.ID, &a.Name, &a.EgressAllow, &a.CreatedAt); err != nil {
		return App{}, classifyPG(err)
	}
	if a.EgressAllow == nil {
		a.EgressAllow = []string{}
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// GetApp returns the app with id, or ErrNotFound.
func (p *Postgres) GetApp(ctx context.Context, id string) (App, error) {
	if !storable(id) {
		return App{}, fmt.Errorf("get app: %w", ErrNotFound)
	}
	a, err := scanAppPG(p.pool.QueryRow(ctx, `SELECT `+appColumns+` FROM apps WHERE id = $1`, id))
	if err != nil {
		return App{}, fmt.Errorf("get app: %w", err)
	}
	return a, nil
}

// GetAppByName returns the app called name, or ErrNotFound.
func (p *Postgres) GetAppByName(ctx context.Context, name string) (App, error) {
	if !storable(name) {
		return App{}, fmt.Errorf("get app: %w", ErrNotFound)
	}
	a, err := scanAppPG(p.pool.QueryRow(ctx, `SELECT `+appColumns+` FROM apps WHERE name = $1`, name))
	if err != nil {
		return App{}, fmt.Errorf("get app %q: %w", name, err)
	}
	return a, nil
}

// ListApps returns every app ordered by name.
func (p *Postgres) ListApps(ctx context.Context) ([]App, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+appColumns+` FROM apps ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return collectPG(rows, scanAppPG, "list apps")
}

// SetAppEgress replaces the app's egress allowlist (validated and
// normalised by NormalizeEgress).
func (p *Postgres) SetAppEgress(ctx context.Context, appID string, hosts []string) error {
	egress, err := NormalizeEgress(hosts)
	if err != nil {
		return err
	}
	if !storable(appID) {
		return fmt.Errorf("set egress: %w", ErrNotFound)
	}
	tag, err := p.pool.Exec(ctx, `UPDATE apps SET egress_allow = $1 WHERE id = $2`, egress, appID)
	if err == nil {
		err = requireRows(tag)
	}
	if err != nil {
		return fmt.Errorf("set egress: %w", classifyPG(err))
	}
	return nil
}

// CreateAgent inserts a into its app. An empty ID gets a fresh UUID. A
// missing app is ErrNotFound, a name taken in the app ErrConflict.
func (p *Postgres) CreateAgent(ctx context.Context, a Agent) (Agent, error) {
	if err := ValidateName("agent", a.Name); err != nil {
		return Agent{}, err
	}
	id, err := idOrNew("agent", a.ID)
	if err != nil {
		return Agent{}, err
	}
	if !storable(a.AppID) {
		return Agent{}, fmt.Errorf("create agent %q: %w", a.Name, ErrNotFound)
	}
	out := Agent{ID: id, AppID: a.AppID, Name: a.Name, CreatedAt: p.stamp(a.CreatedAt)}
	_, err = p.pool.Exec(ctx,
		`INSERT INTO agents (id, app_id, name, created_at) VALUES ($1, $2, $3, $4)`,
		out.ID, out.AppID, out.Name, out.CreatedAt)
	if err != nil {
		return Agent{}, fmt.Errorf("create agent %q: %w", a.Name, classifyPG(err))
	}
	return out, nil
}

func scanAgentPG(row pgx.Row) (Agent, error) {
	var a Agent
	if err := row.Scan(&a.ID, &a.AppID, &a.Name, &a.CreatedAt); err != nil {
		return Agent{}, classifyPG(err)
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// GetAgent returns the agent id of app appID, or ErrNotFound.
func (p *Postgres) GetAgent(ctx context.Context, appID, id string) (Agent, error) {
	if !storable(appID, id) {
		return Agent{}, fmt.Errorf("get agent: %w", ErrNotFound)
	}
	a, err := scanAgentPG(p.pool.QueryRow(ctx,
		`SELECT `+agentColumns+` FROM agents WHERE id = $1 AND app_id = $2`, id, appID))
	if err != nil {
		return Agent{}, fmt.Errorf("get agent: %w", err)
	}
	return a, nil
}

// GetAgentByName returns the agent called name in app appID, or ErrNotFound.
func (p *Postgres) GetAgentByName(ctx context.Context, appID, name string) (Agent, error) {
	if !storable(appID, name) {
		return Agent{}, fmt.Errorf("get agent: %w", ErrNotFound)
	}
	a, err := scanAgentPG(p.pool.QueryRow(ctx,
		`SELECT `+agentColumns+` FROM agents WHERE app_id = $1 AND name = $2`, appID, name))
	if err != nil {
		return Agent{}, fmt.Errorf("get agent %q: %w", name, err)
	}
	return a, nil
}

// ListAgents returns the app's agents ordered by name.
func (p *Postgres) ListAgents(ctx context.Context, appID string) ([]Agent, error) {
	if !storable(appID) {
		return []Agent{}, nil
	}
	rows, err := p.pool.Query(ctx,
		`SELECT `+agentColumns+` FROM agents WHERE app_id = $1 ORDER BY name`, appID)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return collectPG(rows, scanAgentPG, "list agents")
}

// DeleteAgent removes the agent, the delegations to it and its access
// entries, revokes its active and deprecated keys and revokes the grants
// whose principal is "agent:<name>", in one transaction. The agent row is
// locked first, so a CreateKey racing with the delete either commits
// before (and its key is revoked here) or finds no agent.
func (p *Postgres) DeleteAgent(ctx context.Context, appID, id string) error {
	if !storable(appID, id) {
		return fmt.Errorf("delete agent: %w", ErrNotFound)
	}
	now := p.stamp(p.now())
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		var name string
		if err := tx.QueryRow(ctx,
			`SELECT name FROM agents WHERE id = $1 AND app_id = $2 FOR UPDATE`, id, appID).Scan(&name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`UPDATE keys SET status = 'revoked', revoked_at = $1 WHERE app_id = $2 AND agent_id = $3 AND status <> 'revoked'`,
			now, appID, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`UPDATE grants SET status = 'revoked', updated_at = $1 WHERE app_id = $2 AND principal = $3 AND status <> 'revoked'`,
			now, appID, PrincipalAgentPrefix+name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`DELETE FROM delegations WHERE app_id = $1 AND agent_id = $2`, appID, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`DELETE FROM agent_access WHERE app_id = $1 AND agent_id = $2`, appID, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM agents WHERE id = $1 AND app_id = $2`, id, appID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete agent: %w", classifyPG(err))
	}
	return nil
}
