package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// maxReplayBody is the largest request body buffered so that a call can be
// retried once after an upstream 401 on an OAuth grant (DESIGN.md request
// flow step 10). Larger bodies, and bodies of unknown length, stream
// through unbuffered and their 401 reaches the client as is.
const maxReplayBody = 64 << 10

// material returns what to inject for g: through Tokens, which refreshes
// OAuth access tokens, or straight from the vault when no Tokens is wired.
// An expired access token is never returned (DESIGN.md request flow step 7),
// whatever the source says.
func (s *Server) material(ctx context.Context, g vault.Grant) (vault.Material, *Denial) {
	var (
		m   vault.Material
		err error
	)
	if s.tokens != nil {
		m, err = s.tokens.Token(ctx, g)
	} else {
		m, err = s.vault.Material(ctx, g)
	}
	if err != nil {
		return vault.Material{}, s.tokenDenial(g, err)
	}
	if m.AccessToken != "" && !m.Expiry.IsZero() && !s.now().Before(m.Expiry) {
		return vault.Material{}, &Denial{Code: CodeUpstreamUnreachable,
			Message: "the OAuth access token of grant " + g.ID + " has expired and could not be refreshed; retry later",
			Details: map[string]any{"grant_id": g.ID}}
	}
	return m, nil
}

// tokenDenial maps an error of Tokens to a denial. A grant whose refresh
// token was refused needs its user to connect again: 403 reauth_required,
// never 401, which clients would read as the provider's answer. A token
// endpoint that cannot refresh is an upstream failure. Everything else is
// the vault's (denialFor: fail closed).
func (s *Server) tokenDenial(g vault.Grant, err error) *Denial {
	switch {
	case errors.Is(err, oauth.ErrReauthRequired):
		return s.reauthDenial(g)
	case errors.Is(err, oauth.ErrRefreshFailed), errors.Is(err, oauth.ErrNotConfigured):
		return &Denial{Code: CodeUpstreamUnreachable,
			Message: "the provider's token endpoint could not refresh the OAuth access token of grant " + g.ID + "; retry later",
			Details: map[string]any{"grant_id": g.ID}, Internal: err}
	}
	return denialFor(err)
}

// reauthDenial is the reauth_required refusal of g, with where to connect
// again when Tokens knows it.
func (s *Server) reauthDenial(g vault.Grant) *Denial {
	details := map[string]any{"grant_id": g.ID}
	if s.tokens != nil {
		if u := s.tokens.ReconnectURL(g); u != "" {
			details["connect_url"] = u
		}
	}
	return &Denial{Code: CodeReauthRequired,
		Message: "grant " + g.ID + " needs its user to connect " + g.ProviderID + " again", Details: details}
}

// injectMaterial renders the provider's injection rule with m and places it.
func injectMaterial(r *http.Request, p *catalog.Provider, m vault.Material) *Denial {
	token := m.Token
	if m.AccessToken != "" {
		token = m.AccessToken
	}
	value, err := p.Render(catalog.TemplateData{Token: token, AccessToken: token, Username: m.Username, Password: m.Password})
	if err != nil {
		return &Denial{Code: CodeVaultUnavailable, Message: "the credential does not fit the provider's injection rule", Internal: err}
	}
	if err := inject(r, p.Inject, value); err != nil {
		return deny(CodeBadRequest, "the request URL query is malformed")
	}
	return nil
}

// replay is what retrying a call after an upstream 401 needs: the grant,
// the token version that was injected and the buffered body.
type replay struct {
	grant   vault.Grant
	version int64
	body    []byte // nil: no body
}

// replayFor prepares the one retry of an OAuth call (request flow step 10).
// It returns nil when the call cannot be retried: not an OAuth token, no
// Tokens to refresh with, or a body too large or of unknown length. A
// small body is buffered here, before anything is sent.
func (s *Server) replayFor(r *http.Request, g vault.Grant, m vault.Material) (*replay, error) {
	if s.tokens == nil || m.AccessToken == "" {
		return nil, nil
	}
	rp := &replay{grant: g, version: m.Version}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return rp, nil
	}
	if r.ContentLength < 0 || r.ContentLength > maxReplayBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, r.ContentLength))
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	rp.body = body
	r.Body = io.NopCloser(bytes.NewReader(body))
	return rp, nil
}

// retry handles an upstream 401 on an OAuth call: it refreshes the token
// unless someone already did since it was injected, and returns the request
// to send again with the new token and the same body. It returns nil, nil
// when there is nothing better to send (the refresh produced no new token,
// or failed transiently): the caller relays the 401. A grant that needs
// re-consent returns its denial.
func (s *Server) retry(r *http.Request, p *catalog.Provider, rp *replay) (*http.Request, *Denial) {
	m, err := s.tokens.Refresh(r.Context(), rp.grant, rp.version)
	switch {
	case errors.Is(err, oauth.ErrReauthRequired):
		return nil, s.reauthDenial(rp.grant)
	case err != nil, m.Version == rp.version, m.AccessToken == "":
		return nil, nil
	}
	r2 := r.Clone(r.Context())
	r2.Body, r2.ContentLength = http.NoBody, 0
	if rp.body != nil {
		r2.Body, r2.ContentLength = io.NopCloser(bytes.NewReader(rp.body)), int64(len(rp.body))
	}
	if d := injectMaterial(r2, p, m); d != nil {
		return nil, d
	}
	return r2, nil
}
