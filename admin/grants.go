package admin

import (
	"context"
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

// revokeView answers a grant revocation. For an OAuth grant it says
// whether the provider revoked the token too (provider_revoked) and, when
// the provider failed, why (provider_error); the local revocation happened
// either way.
type revokeView struct {
	grantView
	ProviderRevoked *bool  `json:"provider_revoked,omitempty"`
	ProviderError   string `json:"provider_error,omitempty"`
}

// revokeGrant handles POST /v1/apps/{app}/grants/{grant}/revoke → the
// revoked revokeView. An OAuth grant is revoked at the provider where it
// has a revocation endpoint, and its token set is deleted. Revoking a
// revoked grant succeeds and changes nothing.
func (a *api) revokeGrant(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	g, subject, err := a.grant(r, app.ID)
	if err != nil {
		return err
	}
	if g.Status == vault.StatusRevoked {
		writeJSON(w, http.StatusOK, revokeView{grantView: newGrantView(g)})
		return nil
	}
	isOAuth, err := a.isOAuthGrant(r, g)
	if err != nil {
		return about(subject, err)
	}
	var out revokeView
	ev := grantEvent(app.ID, "grant.revoke", g)
	if isOAuth && a.oauth != nil {
		res, err := a.oauth.Revoke(r.Context(), app.ID, g.ID)
		if err != nil {
			return aboutConflict(subject, subject+" changed concurrently; retry", err)
		}
		out.ProviderRevoked, out.ProviderError = &res.ProviderRevoked, res.ProviderError
		if res.ProviderError != "" {
			ev.ErrorCode = "provider_revoke_failed"
		}
	} else if err := a.vault.RevokeGrant(r.Context(), app.ID, g.ID); err != nil {
		return aboutConflict(subject, subject+" changed concurrently; retry", err)
	}
	if g, err = a.store.GetGrant(r.Context(), app.ID, g.ID); err != nil {
		return about(subject, err)
	}
	out.grantView = newGrantView(g)
	a.record(r, ev)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// isOAuthGrant reports whether g's credential is an OAuth token set. A
// credential already deleted is not one any more.
func (a *api) isOAuthGrant(r *http.Request, g vault.Grant) (bool, error) {
	c, err := a.store.GetCredential(r.Context(), g.AppID, g.CredentialID)
	switch {
	case isNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	}
	return c.Kind == vault.KindOAuth2, nil
}

// createGrantRequest is the body of POST /v1/apps/{app}/grants. Only
// client_credentials grants are created here: managed secrets go through
// /secrets and users' OAuth grants through /v1/connect.
type createGrantRequest struct {
	Provider  string   `json:"provider"`
	Principal string   `json:"principal"` // default "system"
	GrantType string   `json:"grant_type"`
	Scopes    []string `json:"scopes"`
}

// createGrant handles POST /v1/apps/{app}/grants → 201 grantView: a token
// minted with the app's OAuth client (client_credentials).
func (a *api) createGrant(w http.ResponseWriter, r *http.Request) error {
	m, err := a.oauthManager()
	if err != nil {
		return err
	}
	app, err := a.app(r)
	if err != nil {
		return err
	}
	var req createGrantRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	switch req.GrantType {
	case vault.GrantClientCredentials:
	case "":
		return invalid("field \"grant_type\" is required (client_credentials)")
	default:
		return invalid("grant_type %q cannot be created here: use client_credentials (API keys: POST /v1/apps/{app}/secrets; user OAuth: GET /v1/connect/{provider})", req.GrantType)
	}
	if req.Provider == "" {
		return invalid("field \"provider\" is required (see GET /v1/providers)")
	}
	if _, ok := a.catalog.Get(req.Provider); !ok {
		return invalid("unknown provider %q (see GET /v1/providers)", req.Provider)
	}
	p, err := a.oauthProvider(req.Provider)
	if err != nil {
		return err
	}
	if req.Principal == "" {
		req.Principal = vault.PrincipalSystem
	}
	if err := a.checkPrincipal(r, app, req.Principal); err != nil {
		return err
	}
	if err := vault.ValidateScopes(req.Scopes); err != nil {
		return invalidInput(err)
	}
	g, err := m.CreateClientCredentialsGrant(r.Context(), app.ID, p.ID, req.Principal, req.Scopes)
	if err != nil {
		return about("client_credentials grant", err)
	}
	a.record(r, grantEvent(app.ID, "grant.client_credentials", g))
	writeJSON(w, http.StatusCreated, newGrantView(g))
	return nil
}

// grant resolves the {grant} path segment inside appID, reading the store
// (not the proxy's cache) so the answer is current. It also returns the
// subject used in messages.
func (a *api) grant(r *http.Request, appID string) (vault.Grant, string, error) {
	return a.grantByID(r.Context(), appID, r.PathValue("grant"))
}

// grantByID is grant for an id from anywhere in the request.
func (a *api) grantByID(ctx context.Context, appID, id string) (vault.Grant, string, error) {
	subject := fmt.Sprintf("grant %q", id)
	if !vault.IsCanonicalUUID(id) {
		return vault.Grant{}, subject, about(subject, vault.ErrNotFound)
	}
	g, err := a.store.GetGrant(ctx, appID, id)
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
