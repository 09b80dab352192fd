package admin

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// IdentityConfig converts an app's stored identity provider into the
// verifier's configuration (the zero fields keep identity's defaults).
func IdentityConfig(p vault.IdentityProvider) identity.Provider {
	return identity.Provider{
		Issuer: p.Issuer, JWKSURL: p.JWKSURL, Audience: p.Audience,
		UserClaim: p.UserClaim, GroupClaim: p.GroupClaim,
		Algorithms: append([]string(nil), p.Algorithms...), Leeway: p.Leeway,
	}
}

// identityRequest is the body of PUT /v1/apps/{app}/identity. Leeway is a
// Go duration ("30s").
type identityRequest struct {
	Issuer     string   `json:"issuer"`
	JWKSURL    string   `json:"jwks_url"`
	Audience   string   `json:"audience"`
	UserClaim  string   `json:"user_claim"`
	GroupClaim string   `json:"group_claim"`
	Algorithms []string `json:"algorithms"`
	Leeway     string   `json:"leeway"`
}

// identityView is an app's identity provider as the API shows it, with
// the defaults that apply to empty fields spelled out.
type identityView struct {
	AppID      string    `json:"app_id"`
	Issuer     string    `json:"issuer"`
	JWKSURL    string    `json:"jwks_url"` // empty: OpenID discovery from the issuer
	Audience   string    `json:"audience"`
	UserClaim  string    `json:"user_claim"`
	GroupClaim string    `json:"group_claim"` // empty: no groups
	Algorithms []string  `json:"algorithms"`
	Leeway     string    `json:"leeway"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// newIdentityView shows p with its effective defaults.
func newIdentityView(p vault.IdentityProvider) identityView {
	v := identityView{
		AppID: p.AppID, Issuer: p.Issuer, JWKSURL: p.JWKSURL, Audience: p.Audience,
		UserClaim: p.UserClaim, GroupClaim: p.GroupClaim, Algorithms: p.Algorithms,
		Leeway: p.Leeway.String(), CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	if v.UserClaim == "" {
		v.UserClaim = identity.DefaultUserClaim
	}
	if len(v.Algorithms) == 0 {
		v.Algorithms = []string{"RS256", "ES256"}
	}
	if p.Leeway == 0 {
		v.Leeway = identity.DefaultLeeway.String()
	}
	return v
}

// setIdentity handles PUT /v1/apps/{app}/identity → identityView. The
// body replaces the app's identity provider; JWTs in Gatehouse-User are
// verified against it from then on (the verifier is rebuilt on next use).
func (a *api) setIdentity(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	var req identityRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	p := vault.IdentityProvider{
		AppID: app.ID, Issuer: req.Issuer, JWKSURL: req.JWKSURL, Audience: req.Audience,
		UserClaim: req.UserClaim, GroupClaim: req.GroupClaim, Algorithms: req.Algorithms,
	}
	if req.Leeway != "" {
		if p.Leeway, err = time.ParseDuration(req.Leeway); err != nil {
			return invalid("field \"leeway\" is not a duration such as 30s")
		}
	}
	if err := IdentityConfig(p).Validate(); err != nil {
		return identityInvalid(err)
	}
	stored, err := a.vault.SetIdentityProvider(r.Context(), p)
	if err != nil {
		return about(fmt.Sprintf("identity provider of app %q", app.Name), err)
	}
	a.record(r, auditAdmin(app.ID, "identity.set"))
	writeJSON(w, http.StatusOK, newIdentityView(stored))
	return nil
}

// identityInvalid is the 400 of a provider that does not validate: every
// problem, whose messages identity documents as safe to show.
func identityInvalid(err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		lines = append(lines, strings.TrimPrefix(e.Error(), identity.ErrConfig.Error()+": "))
	}
	return invalid("invalid identity provider: %s", strings.Join(lines, "; "))
}

// getIdentity handles GET /v1/apps/{app}/identity → identityView (404
// when the app has none).
func (a *api) getIdentity(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	p, err := a.store.GetIdentityProvider(r.Context(), app.ID)
	if err != nil {
		return about(fmt.Sprintf("identity provider of app %q", app.Name), err)
	}
	writeJSON(w, http.StatusOK, newIdentityView(p))
	return nil
}

// removeIdentity handles DELETE /v1/apps/{app}/identity → the removed
// identityView. Gatehouse-User is refused for the app from then on.
func (a *api) removeIdentity(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	subject := fmt.Sprintf("identity provider of app %q", app.Name)
	p, err := a.store.GetIdentityProvider(r.Context(), app.ID)
	if err != nil {
		return about(subject, err)
	}
	if err := a.vault.RemoveIdentityProvider(r.Context(), app.ID); err != nil {
		return about(subject, err)
	}
	a.record(r, auditAdmin(app.ID, "identity.remove"))
	writeJSON(w, http.StatusOK, newIdentityView(p))
	return nil
}
