package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// createAppRequest is the body of POST /v1/apps.
type createAppRequest struct {
	Name string `json:"name"`
}

// egressRequest is the body of PUT /v1/apps/{app}/egress.
type egressRequest struct {
	Allow []string `json:"allow"`
}

// createApp handles POST /v1/apps → 201 App.
func (a *api) createApp(w http.ResponseWriter, r *http.Request) error {
	var req createAppRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if err := vault.ValidateName("app", req.Name); err != nil {
		return invalidInput(err)
	}
	app, err := a.store.CreateApp(r.Context(), vault.App{Name: req.Name})
	if err != nil {
		return aboutConflict(fmt.Sprintf("app %q", req.Name), fmt.Sprintf("app %q already exists", req.Name), err)
	}
	a.record(r, auditAdmin(app.ID, "app.create"))
	writeJSON(w, http.StatusCreated, app)
	return nil
}

// listApps handles GET /v1/apps → [App].
func (a *api) listApps(w http.ResponseWriter, r *http.Request) error {
	apps, err := a.store.ListApps(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(apps))
	return nil
}

// getApp handles GET /v1/apps/{app} → App.
func (a *api) getApp(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, app)
	return nil
}

// setEgress handles PUT /v1/apps/{app}/egress {"allow":[hosts]} → App.
// The list replaces the previous one.
func (a *api) setEgress(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	var req egressRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	hosts, err := vault.NormalizeEgress(req.Allow)
	if err != nil {
		return invalidInput(err)
	}
	if err := a.vault.SetAppEgress(r.Context(), app.ID, hosts); err != nil {
		return about(fmt.Sprintf("app %q", app.Name), err)
	}
	a.record(r, auditAdmin(app.ID, "egress.set"))
	app.EgressAllow = hosts
	writeJSON(w, http.StatusOK, app)
	return nil
}

// app resolves the {app} path segment, an app id or name. Both lookups miss
// alike, so an unknown app reveals nothing.
func (a *api) app(r *http.Request) (vault.App, error) {
	return a.appByRef(r.Context(), r.PathValue("app"))
}

// appByRef resolves an app id or name.
func (a *api) appByRef(ctx context.Context, ref string) (vault.App, error) {
	subject := fmt.Sprintf("app %q", ref)
	if vault.IsCanonicalUUID(ref) {
		app, err := a.store.GetApp(ctx, ref)
		if err == nil || !errors.Is(err, vault.ErrNotFound) {
			return app, about(subject, err)
		}
	}
	if vault.ValidateName("app", ref) != nil {
		return vault.App{}, about(subject, vault.ErrNotFound)
	}
	app, err := a.store.GetAppByName(ctx, ref)
	return app, about(subject, err)
}

// isNotFound reports a vault ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, vault.ErrNotFound) }

// nonNil returns s, or an empty slice so JSON shows [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
