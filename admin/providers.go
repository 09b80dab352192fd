package admin

import "net/http"

// listProviders handles GET /v1/providers → [Provider] sorted by id.
func (a *api) listProviders(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, nonNil(a.catalog.List()))
	return nil
}
