package oauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// Errors, tested with errors.Is. Their text is safe to show: none carries a
// token, a client secret, a code or a state.
var (
	// ErrReauthRequired: the grant is needs_reauth (the provider refused
	// its refresh token); the user must connect again (ReconnectURL).
	ErrReauthRequired = errors.New("the grant must be connected again")
	// ErrRefreshFailed: the token endpoint failed and no valid token is
	// left.
	ErrRefreshFailed = errors.New("token refresh failed")
	// ErrNotConfigured: the app has no OAuth client for the provider.
	ErrNotConfigured = errors.New("the app has not configured an OAuth client for this provider")
	// ErrNotOAuth: the provider or grant is not OAuth 2.0.
	ErrNotOAuth = errors.New("not an OAuth provider or grant")
	// ErrState: the callback's state is unknown or was already used.
	ErrState = errors.New("unknown or already used connect state")
	// ErrSessionExpired: the callback came after the connect session
	// expired.
	ErrSessionExpired = errors.New("the connect session expired; start again")
)

// ProviderError is an error the provider reported (the authorize redirect's
// error parameter, or a token endpoint's error code). Description is safe
// to show to the user.
type ProviderError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

// Error implements error.
func (e *ProviderError) Error() string {
	if e.Description == "" {
		return "provider error " + e.Code
	}
	return "provider error " + e.Code + ": " + e.Description
}

// failure classifies a token endpoint error.
type failure int

const (
	failTransient failure = iota // 5xx, 429, network, timeout: retry
	failReauth                   // invalid_grant: the grant is dead
	failClient                   // invalid_client, unauthorized_client: configuration
	failPermanent                // any other refusal: do not loop
)

// classify sorts a token endpoint error (golang/oauth2 returns
// *oauth2.RetrieveError for HTTP errors and RFC 6749 error codes, even on a
// 200 answer) and describes it without any secret: never RetrieveError's
// own text, which quotes the response body.
func classify(err error) (failure, string) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		desc := fmt.Sprintf("HTTP %d", status)
		if re.ErrorCode != "" {
			desc += " " + clean(re.ErrorCode, 64)
		}
		switch re.ErrorCode {
		case "invalid_grant":
			return failReauth, desc
		case "invalid_client", "unauthorized_client":
			return failClient, desc
		case "temporarily_unavailable", "server_error", "slow_down":
			return failTransient, desc
		}
		if status >= 500 || status == 429 {
			return failTransient, desc
		}
		return failPermanent, desc
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return failTransient, "timed out"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return failTransient, "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// The inner error names the network failure; the URL (which holds
		// no secret) is added by the caller.
		return failTransient, clean(ue.Err.Error(), 200)
	}
	return failTransient, clean(err.Error(), 200)
}

// providerError turns a token endpoint error into a *ProviderError when the
// provider sent an error code, with a description a user can act on.
func providerError(err error) *ProviderError {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode == "" {
		return nil
	}
	pe := &ProviderError{Code: clean(re.ErrorCode, 64), Description: clean(re.ErrorDescription, 300)}
	switch re.ErrorCode {
	case "invalid_client", "unauthorized_client":
		pe.Description = "the provider rejected the app's OAuth client id or secret (" + pe.Code + "); check the provider configuration of the app"
	case "invalid_grant":
		if pe.Description == "" {
			pe.Description = "the provider rejected the authorization code (expired or already used); start again"
		}
	}
	return pe
}

// clean makes provider-controlled text fit for messages and logs: valid
// UTF-8 without control characters, at most n bytes.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.TrimSpace(s)
}
