package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// maxClientSecretBytes bounds an OAuth client secret; real ones are far
// shorter.
const maxClientSecretBytes = 16 << 10

// listProviders handles GET /v1/providers → [Provider] sorted by id.
func (a *api) listProviders(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, nonNil(a.catalog.List()))
	return nil
}

// providerSettingsRequest is the body of PUT
// /v1/apps/{app}/providers/{provider}. ClientSecret is empty (or absent)
// for a public client, which authenticates with PKCE alone.
type providerSettingsRequest struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scopes       []string `json:"scopes"`
}

// settingsView is an app's OAuth client for one provider as the API shows
// it: never the secret, only whether there is one.
type settingsView struct {
	AppID           string    `json:"app_id"`
	ProviderID      string    `json:"provider_id"`
	ClientID        string    `json:"client_id"`
	HasClientSecret bool      `json:"has_client_secret"`
	Scopes          []string  `json:"scopes"` // empty: the catalog's default scopes apply
	DefaultScopes   []string  `json:"default_scopes"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func (a *api) newSettingsView(s vault.ProviderSettings, hasSecret bool) settingsView {
	v := settingsView{
		AppID: s.AppID, ProviderID: s.ProviderID, ClientID: s.ClientID, HasClientSecret: hasSecret,
		Scopes: nonNil(s.Scopes), DefaultScopes: []string{}, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	if p, ok := a.catalog.Get(s.ProviderID); ok && p.OAuth != nil {
		v.DefaultScopes = nonNil(p.OAuth.Scopes)
	}
	return v
}

// configureProvider handles PUT /v1/apps/{app}/providers/{provider} →
// settingsView. The body replaces the previous settings (an omitted
// client_secret makes a public client). The secret is accepted only in the
// body, never in the URL, which ends up in logs.
func (a *api) configureProvider(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Has("client_secret") {
		return invalid("client_secret must be sent in the JSON body, never in the URL")
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	p, err := a.oauthProvider(r.PathValue("provider"))
	if err != nil {
		return err
	}
	var req providerSettingsRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if err := checkClient(req); err != nil {
		return err
	}
	if err := vault.ValidateScopes(req.Scopes); err != nil {
		return invalidInput(err)
	}
	s, err := a.vault.ConfigureProvider(r.Context(), app.ID, p.ID, req.ClientID, req.ClientSecret, req.Scopes)
	if err != nil {
		return about(fmt.Sprintf("OAuth client for provider %q", p.ID), err)
	}
	ev := auditAdmin(app.ID, "provider.configure")
	ev.ProviderID = p.ID
	a.record(r, ev)
	writeJSON(w, http.StatusOK, a.newSettingsView(s, req.ClientSecret != ""))
	return nil
}

// checkClient validates the client id and secret of a settings request.
// Messages name the fields, never the values.
func checkClient(req providerSettingsRequest) error {
	switch {
	case req.ClientID == "":
		return invalid("field \"client_id\" is required")
	case len(req.ClientID) > 1024:
		return invalid("field \"client_id\" is longer than 1024 characters")
	case len(req.ClientSecret) > maxClientSecretBytes:
		return invalid("field \"client_secret\" is longer than %d bytes", maxClientSecretBytes)
	}
	for i := 0; i < len(req.ClientID); i++ {
		if c := req.ClientID[i]; c < 0x21 || c > 0x7e {
			return invalid("field \"client_id\" must be visible ASCII without spaces")
		}
	}
	for i := 0; i < len(req.ClientSecret); i++ {
		if c := req.ClientSecret[i]; c < 0x20 || c == 0x7f {
			return invalid("field \"client_secret\" contains control characters")
		}
	}
	return nil
}

// listProviderSettings handles GET /v1/apps/{app}/providers →
// [settingsView], the providers the app configured an OAuth client for.
func (a *api) listProviderSettings(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	all, err := a.store.ListProviderSettings(r.Context(), app.ID)
	if err != nil {
		return err
	}
	out := make([]settingsView, 0, len(all))
	for _, s := range all {
		v, err := a.settings(r.Context(), app.ID, s.ProviderID)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getProviderSettings handles GET /v1/apps/{app}/providers/{provider} →
// settingsView.
func (a *api) getProviderSettings(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	v, err := a.settings(r.Context(), app.ID, r.PathValue("provider"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// unconfigureProvider handles DELETE /v1/apps/{app}/providers/{provider} →
// the removed settingsView. Grants already made stay but cannot refresh.
func (a *api) unconfigureProvider(w http.ResponseWriter, r *http.Request) error {
	app, err := a.app(r)
	if err != nil {
		return err
	}
	if _, err := queryParams(r); err != nil {
		return err
	}
	v, err := a.settings(r.Context(), app.ID, r.PathValue("provider"))
	if err != nil {
		return err
	}
	if err := a.vault.RemoveProvider(r.Context(), app.ID, v.ProviderID); err != nil {
		return about(settingsSubject(v.ProviderID), err)
	}
	ev := auditAdmin(app.ID, "provider.unconfigure")
	ev.ProviderID = v.ProviderID
	a.record(r, ev)
	writeJSON(w, http.StatusOK, v)
	return nil
}

// settings reads the app's settings for providerID. The secret is
// decrypted only to tell whether there is one; it never leaves this
// function.
func (a *api) settings(ctx context.Context, appID, providerID string) (settingsView, error) {
	s, secret, err := a.vault.OAuthClient(ctx, appID, providerID)
	if err != nil {
		return settingsView{}, about(settingsSubject(providerID), err)
	}
	return a.newSettingsView(s, secret != ""), nil
}

// settingsSubject names an app's OAuth client for providerID in messages.
func settingsSubject(providerID string) string {
	return fmt.Sprintf("OAuth client for provider %q", providerID)
}

// oauthProvider returns the catalog entry id, which must accept OAuth2:
// 404 for an id not in the catalog, 400 for a provider without OAuth.
func (a *api) oauthProvider(id string) (*catalog.Provider, error) {
	p, ok := a.catalog.Get(id)
	if !ok {
		return nil, &Error{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: fmt.Sprintf("provider %q is not in the catalog (see GET /v1/providers)", id)}
	}
	if !p.Accepts(vault.KindOAuth2) || p.OAuth == nil {
		return nil, invalid("provider %q does not accept OAuth2 (it accepts: %s)", p.ID, strings.Join(p.Credentials, ", "))
	}
	return p, nil
}
