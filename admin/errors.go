package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// Error codes of the admin API. They are stable: the CLI maps them to exit
// codes.
const (
	CodeInvalidRequest = "invalid_request" // 400 (413 for an oversized body, 405 for a wrong method)
	CodeUnauthorized   = "unauthorized"    // 401
	CodeNotFound       = "not_found"       // 404
	CodeConflict       = "conflict"        // 409
	CodeInternal       = "internal"        // 500
)

// Error is the body of every failed admin API call:
// {"error":{"code":"…","message":"…"}}. Messages are safe to show: they
// never contain a secret or internal error text.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
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
// passes through, vault and audit sentinels map to their codes, anything
// else is internal. Messages come from the subject, never from err's text.
func toError(err error) (e *Error, internal bool) {
	if errors.As(err, &e) {
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
