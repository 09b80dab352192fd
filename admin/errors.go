package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// Error codes of the admin API. They are stable: the CLI maps them to exit
// codes.
const (
	CodeInvalidRequest = "invalid_request" // 400 (413 for an oversized body, 405 for a wrong method)
	CodeUnauthorized   = "unauthorized"    // 401
	CodeNotFound       = "not_found"       // 404
	CodeConflict       = "conflict"        // 409
	CodeExpired        = "expired"         // 410 (400 on /oauth/callback): a connect session that ran out
	CodeInternal       = "internal"        // 500 (501 when OAuth is not enabled)
	CodeProviderError  = "provider_error"  // 502: the OAuth provider refused or failed
)

// Error is the body of every failed admin API call:
// {"error":{"code":"…","message":"…"}}. Messages are safe to show: they
// never contain a secret or internal error text.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// ProviderError is the OAuth error code the provider reported
	// (access_denied, invalid_client…), with CodeProviderError only.
	ProviderError string `json:"provider_error,omitempty"`
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorBody is the JSON envelope of an Error.
type errorBody struct {
	Error *Error `json:"error"`
}

// unauthorized is the error of a request without the right admin token.
func unauthorized() error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
		Message: "missing or invalid admin token (Authorization: Bearer <token>)"}
}

// invalid returns a 400 invalid_request error with a message built by the
// caller from request input (never from an internal error).
func invalid(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: fmt.Sprintf(format, args...)}
}

// invalidInput turns a vault validator's error, whose message is documented
// as safe to show, into a 400.
func invalidInput(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest,
		Message: strings.TrimSuffix(err.Error(), ": "+vault.ErrInvalid.Error())}
}

// subjectError says what a failed vault or store call was about, so the
// response can name it ("grant \"…\" not found") without echoing the
// underlying error text.
type subjectError struct {
	subject  string // `app "demo"`, `grant "…"`
	conflict string // message for ErrConflict; default "<subject> already exists"
	err      error
}

func (e *subjectError) Error() string { return e.subject + ": " + e.err.Error() }
func (e *subjectError) Unwrap() error { return e.err }

// about attaches a subject to err (nil stays nil).
func about(subject string, err error) error {
	if err == nil {
		return nil
	}
	return &subjectError{subject: subject, err: err}
}

// aboutConflict is about with a specific message for ErrConflict.
func aboutConflict(subject, conflict string, err error) error {
	if err == nil {
		return nil
	}
	return &subjectError{subject: subject, conflict: conflict, err: err}
}

// toError is the one place that maps an error to an API error: an *Error
// passes through, OAuth, vault and audit sentinels map to their codes,
// anything else is internal. Messages come from the subject (or a
// provider's description, documented as safe), never from err's text.
func toError(err error) (e *Error, internal bool) {
	if errors.As(err, &e) {
		return e, false
	}
	if e := oauthError(err); e != nil {
		return e, false
	}
	subject := "resource"
	conflict := ""
	var se *subjectError
	if errors.As(err, &se) {
		subject, conflict = se.subject, se.conflict
	}
	if conflict == "" {
		conflict = subject + " already exists"
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, vault.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: subject + " not found"}, false
	case errors.Is(err, vault.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: conflict}, false
	case errors.Is(err, vault.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "invalid " + subject}, false
	case errors.Is(err, audit.ErrCursorNotFound):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: "unknown cursor in parameter after"}, false
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeInvalidRequest,
			Message: fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)}, false
	case errors.Is(err, context.Canceled):
		return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "request cancelled"}, false
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error"}, true
}

// oauthError maps the OAuth manager's errors, or returns nil. They are
// tested before the vault sentinels: an OAuth error may wrap one.
func oauthError(err error) *Error {
	if pe, ok := asProviderError(err); ok {
		return &Error{Status: http.StatusBadGateway, Code: CodeProviderError,
			Message: providerErrorText(pe.Code, pe.Description), ProviderError: pe.Code}
	}
	switch {
	case errors.Is(err, oauth.ErrNotConfigured):
		return &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: "the app has no OAuth client for this provider; run `gatehouse provider configure PROVIDER --app APP --client-id ID --client-secret-file FILE` first"}
	case errors.Is(err, oauth.ErrNotOAuth):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest,
			Message: "the provider or grant does not use OAuth2"}
	case errors.Is(err, oauth.ErrState):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidRequest,
			Message: "unknown, already used or expired connect state; start the connection again"}
	case errors.Is(err, oauth.ErrSessionExpired):
		return &Error{Status: http.StatusGone, Code: CodeExpired,
			Message: "the connect session expired before it was completed; start the connection again"}
	case errors.Is(err, oauth.ErrReauthRequired):
		return &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: "the grant needs re-consent; connect it again with `gatehouse connect --grant`"}
	case errors.Is(err, oauth.ErrRefreshFailed):
		return &Error{Status: http.StatusBadGateway, Code: CodeProviderError,
			Message: "the provider's token endpoint failed; try again"}
	}
	return nil
}

// callbackError is toError for /oauth/callback, where every state failure
// (unknown, used or expired) is a 400: the browser followed a dead link.
func callbackError(err error) (e *Error, internal bool) {
	if errors.Is(err, oauth.ErrSessionExpired) {
		return &Error{Status: http.StatusBadRequest, Code: CodeExpired,
			Message: "the connect session expired before the provider sent the user back; start the connection again"}, false
	}
	return toError(err)
}

// writeError writes err as a JSON error response; internal errors are
// logged (their text stays in the server log).
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e, internal := toError(err)
	if internal {
		a.log.Error("admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, e.Status, errorBody{Error: e})
}

// unmatchedAsJSON serves mux, answering requests no route matches with a
// JSON 404 (unknown path) or 405 (known path, wrong method) instead of the
// mux's plain-text replies.
func unmatchedAsJSON(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &headerProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: &Error{Code: CodeInvalidRequest,
				Message: fmt.Sprintf("method %s is not allowed here (allowed: %s)", r.Method, probe.header.Get("Allow"))}})
			return
		}
		writeJSON(w, http.StatusNotFound, errorBody{Error: &Error{Code: CodeNotFound, Message: "no such endpoint"}})
	})
}

// headerProbe captures the status and headers a handler would send.
type headerProbe struct {
	header http.Header
	status int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.status = code }
