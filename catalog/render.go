package catalog

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"text/template"
)

// funcs are the only functions an inject template gets beyond text/template's
// built-ins.
func funcs() template.FuncMap {
	return template.FuncMap{"basic": basicAuth}
}

// basicAuth is the "basic" template function: the RFC 7617 credentials
// base64(user ":" pass), to be written as "Basic {{basic .Username .Password}}".
func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// samples returns two different credentials of one kind, or false for a kind
// the template does not render (aws_sigv4 is signed by the proxy). A template
// that renders both to the same string ignores that kind's fields, which would
// inject the same constant for every grant.
func samples(kind string) (a, b TemplateData, ok bool) {
	switch kind {
	case KindAPIKey, KindOAuth2:
		return TemplateData{Token: "sample-token-a", AccessToken: "sample-token-a"},
			TemplateData{Token: "sample-token-b", AccessToken: "sample-token-b"}, true
	case KindBasic:
		return TemplateData{Username: "sample-user-a", Password: "sample-pass-a"},
			TemplateData{Username: "sample-user-b", Password: "sample-pass-b"}, true
	}
	return TemplateData{}, TemplateData{}, false
}

// compile parses Inject.Value once and proves it renders: with no credential
// (which must not fail, and gives the "nothing injected" value Render refuses)
// and with two sample credentials of every accepted kind, which must differ.
// Unknown fields such as {{.Secret}} fail here, at load, not on a request.
func compile(p *Provider) error {
	fail := func(msg string, err error) error {
		return &FieldError{File: p.Source, Field: "inject.value", Msg: msg, Err: err}
	}
	t, err := template.New(p.ID).Funcs(funcs()).Option("missingkey=error").Parse(p.Inject.Value)
	if err != nil {
		return fail("template does not parse", err)
	}
	const fields = "fields are .Token, .AccessToken, .Username, .Password; function basic"
	empty, err := execute(t, TemplateData{})
	if err != nil {
		return fail("template does not render ("+fields+")", err)
	}
	for _, kind := range p.Credentials {
		a, b, ok := samples(kind)
		if !ok {
			continue
		}
		ra, errA := execute(t, a)
		rb, errB := execute(t, b)
		switch {
		case errA != nil || errB != nil:
			return fail("template does not render ("+fields+")", firstErr(errA, errB))
		case ra == rb:
			return fail(fmt.Sprintf("template ignores the %s credential (%s)", kind, usesHint(kind)), nil)
		case hasControl(ra):
			return fail("template renders control characters", nil)
		}
	}
	p.tmpl, p.empty = t, empty
	p.simple = simpleTemplate(p.Inject.Value)
	return nil
}

// simpleForm is a template of the form prefix{{.Token}}suffix (or
// .AccessToken): by far the most common shape, rendered by concatenation
// instead of text/template, which costs microseconds per request.
type simpleForm struct {
	ok             bool
	prefix, suffix string
}

// simpleTemplate recognises prefix{{.Token}}suffix with no other action.
func simpleTemplate(v string) simpleForm {
	for _, action := range []string{"{{.Token}}", "{{.AccessToken}}", "{{ .Token }}", "{{ .AccessToken }}"} {
		i := strings.Index(v, action)
		if i < 0 {
			continue
		}
		prefix, suffix := v[:i], v[i+len(action):]
		if strings.Contains(prefix, "{{") || strings.Contains(suffix, "{{") {
			return simpleForm{}
		}
		return simpleForm{ok: true, prefix: prefix, suffix: suffix}
	}
	return simpleForm{}
}

func usesHint(kind string) string {
	if kind == KindBasic {
		return "use .Username and .Password, e.g. Basic {{basic .Username .Password}}"
	}
	return "use .Token or .AccessToken"
}

func execute(t *template.Template, d TemplateData) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Render produces the value to inject (a header value or a query parameter
// value, not yet URL-encoded) from one credential. Token and AccessToken are
// interchangeable: whichever is empty is filled from the other. Render
// refuses (ErrRender) a value that would carry no credential, one with
// control characters (header splitting), and a Provider not obtained from
// Load. Errors never include credential material.
func (p *Provider) Render(d TemplateData) (string, error) {
	if p.tmpl == nil {
		return "", fmt.Errorf("provider %q was not loaded by catalog.Load: %w", p.ID, ErrRender)
	}
	if d.AccessToken == "" {
		d.AccessToken = d.Token
	} else if d.Token == "" {
		d.Token = d.AccessToken
	}
	var s string
	var err error
	if p.simple.ok {
		s = p.simple.prefix + d.Token + p.simple.suffix
	} else {
		s, err = execute(p.tmpl, d)
	}
	if err != nil {
		// The template error is dropped on purpose: text/template may quote
		// the data it was rendering, which here is a secret.
		return "", fmt.Errorf("provider %q: template failed: %w", p.ID, ErrRender)
	}
	if s == p.empty {
		return "", fmt.Errorf("provider %q: credential is empty: %w", p.ID, ErrRender)
	}
	if hasControl(s) {
		return "", fmt.Errorf("provider %q: credential contains control characters: %w", p.ID, ErrRender)
	}
	return s, nil
}

// Accepts reports whether the provider takes credentials of this kind
// ("api_key", "basic", "oauth2", "aws_sigv4").
func (p *Provider) Accepts(kind string) bool {
	return slices.Contains(p.Credentials, kind)
}
