package main

import (
	"errors"
	"fmt"
)

// Exit codes. They are stable API for scripts.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitAuth     = 3
	exitNotFound = 4
	exitConflict = 5
)

// Error codes of CLI failures: the admin API's codes plus "usage" for a
// command line the CLI itself rejects and "error" for other local failures.
const (
	codeUsage          = "usage"
	codeError          = "error"
	codeInvalidRequest = "invalid_request"
	codeUnauthorized   = "unauthorized"
	codeNotFound       = "not_found"
	codeConflict       = "conflict"
	codeInternal       = "internal"
)

// cliError is a failure with a code and a message safe to print. Errors
// from the admin API arrive as cliError with the API's code.
type cliError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *cliError) Error() string { return e.Message }

// usageErrorf reports a bad command line (exit 2).
func usageErrorf(format string, args ...any) error {
	return &cliError{Code: codeUsage, Message: fmt.Sprintf(format, args...)}
}

// exitCode is the one place that maps an error to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *cliError
	if !errors.As(err, &ce) {
		return exitError
	}
	switch ce.Code {
	case codeUsage, codeInvalidRequest:
		return exitUsage
	case codeUnauthorized:
		return exitAuth
	case codeNotFound:
		return exitNotFound
	case codeConflict:
		return exitConflict
	}
	return exitError
}

// asCLIError returns err as a cliError for printing; other errors get the
// generic code and their own message (local errors only: API errors are
// cliErrors already and never carry server-internal text).
func asCLIError(err error) *cliError {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce
	}
	return &cliError{Code: codeError, Message: err.Error()}
}
