package admin

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// OAuth is what the admin API needs from the OAuth grant manager: the
// connect flow, client-credentials grants and provider-side revocation.
// *oauth.Manager implements it; the admin package depends on this
// interface so its routes can be tested without an authorization server.
type OAuth interface {
	// StartConnect creates a connect session and returns the provider's
	// authorization URL.
	StartConnect(ctx context.Context, req oauth.ConnectRequest) (oauth.ConnectStart, error)
	// Callback completes a connect session from the redirect's query.
	Callback(ctx context.Context, q url.Values) (vault.ConnectSession, error)
	// Session returns a connect session of appID, for polling.
	Session(ctx context.Context, appID, id string) (vault.ConnectSession, error)
	// Revoke revokes the grant at the provider (when it can) and deletes
	// its token set.
	Revoke(ctx context.Context, appID, grantID string) (oauth.RevokeResult, error)
	// CreateClientCredentialsGrant mints a token with the app's OAuth
	// client and stores it as a grant.
	CreateClientCredentialsGrant(ctx context.Context, appID, providerID, principal string, scopes []string) (vault.Grant, error)
}

// oauthManager returns the OAuth manager, or a 501 on a handler built
// without Deps.OAuth.
func (a *api) oauthManager() (OAuth, error) {
	if a.oauth == nil {
		return nil, &Error{Status: http.StatusNotImplemented, Code: CodeInternal,
			Message: "OAuth is not enabled on this server"}
	}
	return a.oauth, nil
}

// providerErrorText turns a provider-reported OAuth error (RFC 6749 section
// 4.1.2.1 and 5.2 codes) into words an operator or user understands. The
// provider's description, when it sent one, is kept: it is safe to show.
func providerErrorText(code, description string) string {
	var what string
	switch code {
	case "access_denied":
		what = "the authorization was declined (the user refused consent, or the provider denied it)"
	case "invalid_client", "unauthorized_client":
		what = "the provider rejected the app's OAuth client; check the client id and secret with `gatehouse provider configure`"
	case "invalid_scope":
		what = "the provider rejected the requested scopes"
	case "invalid_grant":
		what = "the provider rejected the authorization code or refresh token (expired, already used or revoked)"
	case "invalid_request", "unsupported_response_type", "unsupported_grant_type":
		what = "the provider rejected the request as malformed"
	case "server_error", "temporarily_unavailable":
		what = "the provider had a temporary failure; try again"
	default:
		what = "the provider reported an error"
	}
	switch {
	case code != "" && description != "":
		return what + ": " + description + " (" + code + ")"
	case code != "":
		return what + " (" + code + ")"
	case description != "":
		return what + ": " + description
	}
	return what
}

// sessionFailureText says why a connect session failed. The manager's own
// failure codes (expired, not_configured…) carry a message meant for
// people as is; anything else came from the provider.
func sessionFailureText(code, message string) string {
	switch code {
	case "expired", "not_configured", "provider_unknown", "exchange_failed", "store_failed", "delegation_failed":
		if message != "" {
			return message
		}
		if code == "expired" {
			return "the connect session expired before the user finished at the provider; start again"
		}
	}
	return providerErrorText(code, message)
}

// asProviderError returns err's *oauth.ProviderError, if any.
func asProviderError(err error) (*oauth.ProviderError, bool) {
	var pe *oauth.ProviderError
	ok := errors.As(err, &pe)
	return pe, ok
}
