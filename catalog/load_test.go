package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/configs"
)

// TestEmbedded loads every built-in entry and checks it is complete: the
// file is named after its id, docs are set, every host looks up to its own
// provider, and every accepted credential kind renders.
func TestEmbedded(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	names, err := embeddedIDs()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range c.List() {
		ids = append(ids, p.ID)
	}
	if diff := cmp.Diff(names, ids); diff != "" {
		t.Errorf("embedded files vs loaded ids (-files +ids):\n%s", diff)
	}
	for _, p := range c.List() {
		t.Run(p.ID, func(t *testing.T) {
			if diff := cmp.Diff("embedded:providers/"+p.ID+".yaml", p.Source); diff != "" {
				t.Errorf("Source (-want +got):\n%s", diff)
			}
			if msg := checkHTTPSURL(p.Docs); msg != "" {
				t.Errorf("docs %q: %s", p.Docs, msg)
			}
			if got, ok := c.Get(p.ID); !ok || got != p {
				t.Errorf("Get(%q) = %v, %v", p.ID, got, ok)
			}
			for _, s := range p.Hosts {
				h, err := parseHostPattern(s)
				if err != nil {
					t.Fatalf("host %q: %v", s, err)
				}
				name := h.name
				if h.wildcard {
					name = "probe." + name
				}
				if got, ok := c.Lookup(name, h.port); !ok || got != p {
					t.Errorf("Lookup(%q, %d) = %v, %v; want %s", name, h.port, got, ok, p.ID)
				}
			}
			for _, kind := range p.Credentials {
				d, _, ok := samples(kind)
				if !ok {
					continue
				}
				v, err := p.Render(d)
				if err != nil {
					t.Errorf("Render(%s sample): %v", kind, err)
				}
				if !carries(v, kind, d) {
					t.Errorf("Render(%s sample) = %q, does not carry the credential", kind, v)
				}
			}
			if p.OAuth != nil && p.OAuth.DefaultLifetime != "" && p.OAuth.Lifetime() <= 0 {
				t.Errorf("OAuth.Lifetime() = %v for %q", p.OAuth.Lifetime(), p.OAuth.DefaultLifetime)
			}
		})
	}
}

// carries reports whether a rendered value holds the sample credential: the
// token for api_key and oauth2; for basic either the RFC 7617 encoding or, for
// providers with their own pair header (Trello), both halves verbatim.
func carries(v, kind string, d TemplateData) bool {
	if kind != KindBasic {
		return strings.Contains(v, d.Token)
	}
	return strings.Contains(v, basicAuth(d.Username, d.Password)) ||
		(strings.Contains(v, d.Username) && strings.Contains(v, d.Password))
}

// embeddedIDs lists the ids implied by the embedded file names.
func embeddedIDs() ([]string, error) {
	entries, err := configs.Providers().ReadDir("providers")
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(ids)
	return ids, nil
}

// TestEmbeddedShapes pins the injection shape of the built-in providers the
// rest of Gatehouse (and its e2e tests) rely on.
func TestEmbeddedShapes(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := []struct {
		id    string
		creds []string
		in    Inject
		host  string
	}{
		{"openai", []string{"api_key"}, Inject{Header: "Authorization", Value: "Bearer {{.Token}}"}, "api.openai.com"},
		{"anthropic", []string{"api_key"}, Inject{Header: "x-api-key", Value: "{{.Token}}"}, "api.anthropic.com"},
		{"stripe", []string{"api_key", "oauth2"}, Inject{Header: "Authorization", Value: "Bearer {{.Token}}"}, "files.stripe.com"},
		{"github", []string{"api_key", "oauth2"}, Inject{Header: "Authorization", Value: "Bearer {{.Token}}"}, "api.github.com"},
		{"slack", []string{"api_key", "oauth2"}, Inject{Header: "Authorization", Value: "Bearer {{.Token}}"}, "slack.com"},
		{"datadog", []string{"api_key"}, Inject{Header: "DD-API-KEY", Value: "{{.Token}}"}, "api.ap1.datadoghq.com"},
		{"sendgrid", []string{"api_key"}, Inject{Header: "Authorization", Value: "Bearer {{.Token}}"}, "api.sendgrid.com"},
		{"twilio", []string{"basic"}, Inject{Header: "Authorization", Value: "Basic {{basic .Username .Password}}"}, "api.twilio.com"},
		{"mistral", []string{"api_key"}, Inject{Header: "Authorization", Value: "Bearer {{.Token}}"}, "api.mistral.ai"},
		{"cohere", []string{"api_key"}, Inject{Header: "Authorization", Value: "Bearer {{.Token}}"}, "api.cohere.com"},
		{"google-maps", []string{"api_key"}, Inject{Query: "key", Value: "{{.Token}}"}, "maps.googleapis.com"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			p, ok := c.Get(tt.id)
			if !ok {
				t.Fatalf("Get(%q): missing", tt.id)
			}
			if diff := cmp.Diff(tt.creds, p.Credentials); diff != "" {
				t.Errorf("credentials (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.in, p.Inject); diff != "" {
				t.Errorf("inject (-want +got):\n%s", diff)
			}
			if got, ok := c.Lookup(tt.host, 443); !ok || got != p {
				t.Errorf("Lookup(%q) = %v, %v", tt.host, got, ok)
			}
			if diff := cmp.Diff(p.Accepts(KindOAuth2), p.OAuth != nil); diff != "" {
				t.Errorf("oauth block present vs accepts oauth2:\n%s", diff)
			}
		})
	}
}

// wantErr is one expected *FieldError: File is the base name (or the full
// "embedded:..." source), Msg a substring of the full error text.
type wantErr struct {
	File, Field, Msg string
}

// fieldErrors flattens Load's joined error into comparable values.
func fieldErrors(t *testing.T, err error) []wantErr {
	t.Helper()
	var out []wantErr
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("error is not a *FieldError: %v", err)
			return
		}
		file := fe.File
		if !strings.HasPrefix(file, embeddedPrefix) {
			file = filepath.Base(file)
		}
		out = append(out, wantErr{File: file, Field: fe.Field, Msg: fe.Error()})
	}
	walk(err)
	return out
}

func TestLoadInvalid(t *testing.T) {
	tests := map[string][]wantErr{
		"unknown_field":        {{"x.yaml", "", "field hostz not found"}},
		"unknown_nested_field": {{"x.yaml", "", "field prefix not found"}},
		"duplicate_key":        {{"x.yaml", "", `"hosts" already defined`}},
		"duplicate_host":       {{"b.yaml", "hosts[1]", `"api.dup.example" is already listed as "api.dup.example" of provider "a"`}},
		"duplicate_host_embedded": {{"mine.yaml", "hosts[0]",
			`"api.openai.com" is already listed as "api.openai.com" of provider "openai" (embedded:providers/openai.yaml)`}},
		"wildcard_covers_other": {{"wide.yaml", "hosts[0]",
			`"*.openai.com" covers "api.openai.com" of provider "openai"`}},
		"wildcard_covers_wildcard": {{"a.yaml", "hosts[0]", `"*.corp.example" covers "*.eu.corp.example" of provider "b"`}},
		"bad_hosts": {
			{"x.yaml", "hosts[0]", "not a URL"},
			{"x.yaml", "hosts[1]", "IP addresses are not allowed"},
			{"x.yaml", "hosts[2]", "IP addresses are not allowed"},
			{"x.yaml", "hosts[3]", "port must be a number from 1 to 65535"},
			{"x.yaml", "hosts[4]", "port must be a number from 1 to 65535"},
			{"x.yaml", "hosts[5]", "at least two labels"},
			{"x.yaml", "hosts[6]", "wildcard suffix: host name needs at least two labels"},
			{"x.yaml", "hosts[7]", `"*" is only allowed as the whole first label`},
			{"x.yaml", "hosts[8]", "trailing dot"},
			{"x.yaml", "hosts[9]", "only letters, digits"},
			{"x.yaml", "hosts[10]", "starts or ends with '-'"},
			{"x.yaml", "hosts[11]", "empty host"},
			{"x.yaml", "hosts[12]", "port must be a number"},
			{"x.yaml", "hosts[13]", "all digits"},
		},
		"http_url": {
			{"x.yaml", "oauth.token_url", `"http://x.example/oauth/token": must be an https:// URL`},
			{"x.yaml", "docs", "must be an https:// URL"},
		},
		"bad_template_parse":  {{"x.yaml", "inject.value", "template does not parse"}},
		"bad_template_field":  {{"x.yaml", "inject.value", "can't evaluate field Secret"}},
		"bad_template_branch": {{"x.yaml", "inject.value", "can't evaluate field Secret"}},
		"template_constant":   {{"x.yaml", "inject.value", "template ignores the api_key credential"}},
		"template_wrong_kind": {{"x.yaml", "inject.value", "template ignores the basic credential"}},
		"header_and_query":    {{"x.yaml", "inject", "header and query are exclusive"}},
		"bad_query":           {{"x.yaml", "inject.query", "plain parameter name"}},
		"forbidden_header": {
			{"connection.yaml", "inject.header", "hop-by-hop"},
			{"gatehouse-grant.yaml", "inject.header", "Gatehouse-* headers"},
			{"host.yaml", "inject.header", "framing header"},
			{"proxy-authorization.yaml", "inject.header", "hop-by-hop"},
			{"proxy-foo.yaml", "inject.header", "Proxy-* headers"},
			{"space.yaml", "inject.header", "not a valid header name"},
			{"transfer-encoding.yaml", "inject.header", "hop-by-hop"},
		},
		"bad_fields": {
			{"x.yaml", "id", `"Open AI" must match`},
			{"x.yaml", "name", "required"},
			{"x.yaml", "credentials[1]", `unknown kind "kerberos"`},
			{"x.yaml", "credentials[2]", `"api_key" listed twice`},
			{"x.yaml", "docs", "must be an https:// URL"},
		},
		"oauth_mismatch": {
			{"needs_block.yaml", "oauth", "required because credentials include oauth2"},
			{"stray_block.yaml", "oauth", "given but credentials do not include oauth2"},
		},
		"oauth_fields": {
			{"x.yaml", "oauth.authorize_url", "must not contain user information"},
			{"x.yaml", "oauth.token_url", "must not contain a fragment"},
			{"x.yaml", "oauth.revoke_url", "URL has no host"},
			{"x.yaml", "oauth.auth_style", "required: header or params"},
			{"x.yaml", "oauth.default_lifetime", `"soon": not a duration`},
			{"x.yaml", "oauth.scopes[0]", "without spaces"},
			{"x.yaml", "oauth.extra_params.state", "cannot be overridden"},
			{"x.yaml", "docs", "not a URL"},
		},
		"oauth_style": {
			{"x.yaml", "oauth.authorize_url", "required"},
			{"x.yaml", "oauth.auth_style", `"auto": must be header or params`},
			{"x.yaml", "oauth.default_lifetime", "must be positive"},
		},
		"duplicate_id": {{"b.yaml", "id", `"acme" is also defined in`}},
		"multi_doc":    {{"x.yaml", "", "more than one YAML document"}},
		"empty":        {{"x.yaml", "", "empty file"}},
		"missing": {
			{"x.yaml", "credentials", "at least one of api_key, basic, oauth2, aws_sigv4 required"},
			{"x.yaml", "hosts", "at least one host required"},
			{"x.yaml", "inject", "one of header or query is required"},
			{"x.yaml", "inject.value", "required"},
		},
	}
	dirs, err := os.ReadDir("testdata/invalid")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, ok := tests[d.Name()]; !ok {
			t.Errorf("testdata/invalid/%s has no expectation", d.Name())
		}
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Load(filepath.Join("testdata/invalid", name))
			if err == nil {
				t.Fatalf("Load succeeded with %d providers; want errors", len(c.List()))
			}
			got := fieldErrors(t, err)
			key := func(ws []wantErr) []string {
				var out []string
				for _, w := range ws {
					out = append(out, w.File+" "+w.Field)
				}
				return out
			}
			if diff := cmp.Diff(key(want), key(got)); diff != "" {
				t.Fatalf("errors (-want +got):\n%s\nfull error:\n%v", diff, err)
			}
			for i := range want {
				if !strings.Contains(got[i].Msg, want[i].Msg) {
					t.Errorf("error %d = %q; want it to contain %q", i, got[i].Msg, want[i].Msg)
				}
				if !strings.HasPrefix(got[i].Msg, "catalog: ") {
					t.Errorf("error %d = %q; want the catalog: prefix", i, got[i].Msg)
				}
			}
		})
	}
}

// TestFieldErrorCause checks the parser's own error stays reachable.
func TestFieldErrorCause(t *testing.T) {
	_, err := Load("testdata/invalid/unknown_field")
	var typeErr *yaml.TypeError
	if !errors.As(err, &typeErr) {
		t.Fatalf("Load error %v does not wrap a *yaml.TypeError", err)
	}
	_, err = Load("testdata/invalid/bad_template_parse")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Unwrap() == nil {
		t.Fatalf("template parse error %v carries no cause", err)
	}
}

func TestLoadOverride(t *testing.T) {
	c, err := Load("testdata/override/first", "testdata/does-not-exist", "testdata/override/second")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	openai, ok := c.Get("openai")
	if !ok {
		t.Fatal("openai missing")
	}
	if diff := cmp.Diff("OpenAI via override", openai.Name); diff != "" {
		t.Errorf("override name (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(filepath.Join("testdata/override/first", "openai.yaml"), openai.Source); diff != "" {
		t.Errorf("override source (-want +got):\n%s", diff)
	}
	if v, err := openai.Render(TemplateData{Token: "sk-1"}); err != nil || v != "sk-1" {
		t.Errorf("override Render = %q, %v; want the override's template", v, err)
	}
	acme, ok := c.Get("acme")
	if !ok {
		t.Fatal("acme missing")
	}
	if diff := cmp.Diff("Acme (second dir)", acme.Name); diff != "" {
		t.Errorf("later dir must win (-want +got):\n%s", diff)
	}
	lookups := []struct {
		host string
		port int
		want string
	}{
		{"api.openai.com", 443, "openai"},
		{"api.openai.com", 8443, "openai"}, // only the override lists this port
		{"api.acme.example", 443, "acme"},
		{"upload.acme.example", 443, "acme"},
		{"api.anthropic.com", 443, "anthropic"}, // untouched embedded entries stay
	}
	for _, l := range lookups {
		got := ""
		if p, ok := c.Lookup(l.host, l.port); ok {
			got = p.ID
		}
		if got != l.want {
			t.Errorf("Lookup(%q, %d) = %q; want %q", l.host, l.port, got, l.want)
		}
	}
	embedded, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(len(embedded.List())+1, len(c.List())); diff != "" {
		t.Errorf("provider count: overrides replace, new ids add (-want +got):\n%s", diff)
	}
}

func TestLoadDirErrors(t *testing.T) {
	tmp := t.TempDir()
	notDir := filepath.Join(tmp, "file.yaml")
	if err := os.WriteFile(notDir, []byte("id: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(tmp, "dangling")
	if err := os.Mkdir(dangling, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(tmp, "nowhere"), filepath.Join(dangling, "broken.yaml")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
	}{
		{"dir is a file", notDir, "catalog: read directory"},
		{"unreadable file", dangling, "catalog: read " + filepath.Join(dangling, "broken.yaml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(%q) error = %v; want it to contain %q", tt.dir, err, tt.want)
			}
		})
	}
}
