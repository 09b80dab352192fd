package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// flushTimeout bounds how long a listing waits for queued events.
const flushTimeout = 3 * time.Second

// listAudit handles GET /v1/apps/{app}/audit with the filters agent (name
// or id), principal, grant, provider, decision, kind, since and until
// (RFC 3339), after (an event id cursor) and limit (1-1000, default 100) →
// [Event] ordered by time.
func (a *api) listAudit(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	p, err := queryParams(r, "agent", "principal", "grant", "provider", "decision", "kind", "since", "until", "after", "limit")
	if err != nil {
		return err
	}
	q := audit.Query{
		AppID: app.ID, Principal: p["principal"], GrantID: p["grant"], ProviderID: p["provider"],
		Decision: p["decision"], Kind: p["kind"], AfterID: p["after"],
	}
	if q.AgentID, err = a.agentFilter(r.Context(), app.ID, p["agent"]); err != nil {
		return err
	}
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if s := p[name]; s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return invalid("query parameter %q must be an RFC 3339 time such as 2026-01-02T15:04:05Z", name)
			}
			*dst = t
		}
	}
	if s := p["limit"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > audit.MaxLimit {
			return invalid("query parameter \"limit\" must be a number between 1 and %d", audit.MaxLimit)
		}
		q.Limit = n
	}
	// Read your writes: events of calls answered before this listing may
	// still sit in the writer's batch. Bounded, and best effort: a slow
	// audit store must not make the listing fail.
	fctx, cancel := context.WithTimeout(r.Context(), flushTimeout)
	if err := a.audit.Flush(fctx); err != nil {
		a.log.Warn("audit listing without flush", "err", err)
	}
	cancel()
	events, err := a.events.ListEvents(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(events))
	return nil
}

// agentFilter resolves the audit agent filter: an existing agent's name or
// id maps to its id; anything else is used as an id as is, so the events of
// a deleted agent stay reachable.
func (a *api) agentFilter(ctx context.Context, appID, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	agent, err := a.agent(ctx, appID, ref)
	switch {
	case err == nil:
		return agent.ID, nil
	case errors.Is(err, vault.ErrNotFound):
		return ref, nil
	default:
		return "", err
	}
}
