package admin

import (
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// grantView is a grant with the placeholder a client uses in its place.
type grantView struct {
	vault.Grant
	Placeholder string `json:"placeholder"`
}

func newGrantView(g vault.Grant) grantView {
	return grantView{Grant: g, Placeholder: vault.GrantPlaceholder(g.ID)}
}

// listGrants handles GET /v1/apps/{app}/grants?provider=&principal=&status=
// → [grantView].
func (a *api) listGrants(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	q, err := queryParams(r, "provider", "principal", "status")
	if err != nil {
		return err
	}
	f := vault.GrantFilter{ProviderID: q["provider"], Principal: q["principal"], Status: q["status"]}
	if f.Status != "" {
		if err := vault.ValidateGrantStatus(f.Status); err != nil {
			return invalidInput(err)
		}
	}
	grants, err := a.store.ListGrants(r.Context(), app.ID, f)
	if err != nil {
		return about("grant filter", err)
	}
	out := make([]grantView, 0, len(grants))
	for _, g := range grants {
		out = append(out, newGrantView(g))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// revokeGrant handles POST /v1/apps/{app}/grants/{grant}/revoke → the
// revoked grantView. Revoking a revoked grant succeeds.
func (a *api) revokeGrant(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	g, subject, err := a.grant(r, app.ID)
	if err != nil {
		return err
	}
	if g.Status != vault.StatusRevoked {
		if err := a.vault.RevokeGrant(r.Context(), app.ID, g.ID); err != nil {
			return aboutConflict(subject, subject+" changed concurrently; retry", err)
		}
		if g, err = a.store.GetGrant(r.Context(), app.ID, g.ID); err != nil {
			return about(subject, err)
		}
		a.record(r, grantEvent(app.ID, "grant.revoke", g))
	}
	writeJSON(w, http.StatusOK, newGrantView(g))
	return nil
}

// grant resolves the {grant} path segment inside appID, reading the store
// (not the proxy's cache) so the answer is current. It also returns the
// subject used in messages.
func (a *api) grant(r *http.Request, appID string) (vault.Grant, string, error) {
	id := r.PathValue("grant")
	subject := fmt.Sprintf("grant %q", id)
	if !vault.IsCanonicalUUID(id) {
		return vault.Grant{}, subject, about(subject, vault.ErrNotFound)
	}
	g, err := a.store.GetGrant(r.Context(), appID, id)
	return g, subject, about(subject, err)
}

// queryParams returns the request's query parameters, refusing names not in
// allowed (a typo must not silently widen a listing) and repeated values.
func queryParams(r *http.Request, allowed ...string) (map[string]string, error) {
	ok := make(map[string]bool, len(allowed))
	for _, n := range allowed {
		ok[n] = true
	}
	out := make(map[string]string)
	for name, vals := range r.URL.Query() {
		if !ok[name] {
			return nil, invalid("unknown query parameter %q", name)
		}
		if len(vals) > 1 {
			return nil, invalid("query parameter %q given more than once", name)
		}
		out[name] = vals[0]
	}
	return out, nil
}
