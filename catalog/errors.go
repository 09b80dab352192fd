package catalog

import (
	"errors"
	"strings"
)

// ErrRender is returned (wrapped) by Provider.Render when no safe value can
// be produced: the credential is empty, the result holds control characters,
// or the template failed. The message never contains credential material.
var ErrRender = errors.New("catalog: cannot render credential")

// FieldError is one problem with one catalog file. Load returns all of them
// at once, joined with errors.Join, so an operator fixes a file in one pass;
// use errors.As to inspect them.
type FieldError struct {
	File  string // Provider.Source of the entry: "embedded:providers/x.yaml" or a path
	Field string // YAML path such as "hosts[1]", "inject.header", "oauth.token_url"; empty for the whole file
	Msg   string // what is wrong, safe to show
	Err   error  // underlying cause (YAML or template parser), may be nil
}

// Error formats "catalog: FILE: FIELD: MSG: CAUSE", leaving out empty parts.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("catalog: ")
	b.WriteString(e.File)
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *FieldError) Unwrap() error { return e.Err }
