// Package catalog loads the provider catalog: which hosts each provider owns
// and how a credential is injected into a request to them. The catalog is
// data (configs/providers/*.yaml, embedded, plus files from catalog.dirs); the
// same host list drives MITM, injection and enforcement.
package catalog

import (
	"text/template"
	"time"
)

// Provider is one catalog entry (DESIGN.md "Providers catalog").
type Provider struct {
	ID          string   `yaml:"id" json:"id"`
	Name        string   `yaml:"name" json:"name"`
	Credentials []string `yaml:"credentials" json:"credentials"` // "api_key", "basic", "oauth2", …
	Hosts       []string `yaml:"hosts" json:"hosts"`             // "api.openai.com", "*.slack.com", optional ":port" (default 443); Load lower-cases them and drops ":443"
	Inject      Inject   `yaml:"inject" json:"inject"`
	OAuth       *OAuth   `yaml:"oauth,omitempty" json:"oauth,omitempty"`
	// Actions names provider operations for policy rules: the key is the
	// action ("chat.postMessage", matched in rules as
	// "<provider id>.<action>"), the value the request that performs it.
	Actions map[string]Action `yaml:"actions,omitempty" json:"actions,omitempty"`
	Docs    string            `yaml:"docs,omitempty" json:"docs,omitempty"`

	// Source says where the entry was loaded from: "embedded:providers/<id>.yaml"
	// or a file path from catalog.dirs. Set by Load, never read from YAML.
	Source string `yaml:"-" json:"source,omitempty"`

	// tmpl is Inject.Value compiled once at load; empty is what it renders
	// to with no credential at all, so Render can refuse to inject nothing.
	tmpl    *template.Template
	empty   string
	simple  simpleForm                   // fast path for prefix{{.Token}}suffix
	actions map[string]map[string]string // method → path → "slack.chat.postMessage"
}

// Action is one named provider operation: an HTTP method and an exact path.
type Action struct {
	Method string `yaml:"method" json:"method"`
	Path   string `yaml:"path" json:"path"`
}

// ActionFor returns the qualified name ("slack.chat.postMessage") of the
// action that method and path perform, "" when none is named.
func (p *Provider) ActionFor(method, path string) string {
	// Two lookups rather than one on method+" "+path: it runs for every
	// call under a policy and must not allocate.
	return p.actions[method][path]
}

// Inject says where the credential goes: exactly one of Header or Query, and
// a Go text/template Value over TemplateData (functions: basic).
type Inject struct {
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
	Query  string `yaml:"query,omitempty" json:"query,omitempty"`
	Value  string `yaml:"value" json:"value"`
}

// OAuth is a provider's OAuth 2.0 endpoints and behaviour, used by the
// connect flow and refresh (vault/oauth).
type OAuth struct {
	AuthorizeURL    string            `yaml:"authorize_url" json:"authorize_url"`
	TokenURL        string            `yaml:"token_url" json:"token_url"`
	RevokeURL       string            `yaml:"revoke_url,omitempty" json:"revoke_url,omitempty"`
	Scopes          []string          `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	PKCE            bool              `yaml:"pkce" json:"pkce"`
	AuthStyle       string            `yaml:"auth_style" json:"auth_style"` // header | params
	RotatingRefresh bool              `yaml:"rotating_refresh" json:"rotating_refresh"`
	DefaultLifetime string            `yaml:"default_lifetime,omitempty" json:"default_lifetime,omitempty"`
	ExtraParams     map[string]string `yaml:"extra_params,omitempty" json:"extra_params,omitempty"`
	// AccountField names the provider-side account in the token response:
	// a dotted path into its JSON ("authed_user.id"), or "id_token.<claim>"
	// for a claim of the OpenID Connect ID token that came with it (read
	// without signature check: it arrived straight from the token endpoint
	// over verified TLS, OpenID Connect Core 3.1.3.7). Empty: no account is
	// recorded on the grant.
	AccountField string `yaml:"account_field,omitempty" json:"account_field,omitempty"`

	lifetime time.Duration // DefaultLifetime parsed at load
}

// Lifetime is DefaultLifetime parsed: how long to trust an access token whose
// token response had no expires_in. Zero means the entry sets none.
func (o *OAuth) Lifetime() time.Duration { return o.lifetime }

// TemplateData is what an inject Value template sees. It is filled from
// vault.Material by the proxy.
type TemplateData struct {
	Token       string
	AccessToken string // same as Token; reads better in OAuth templates
	Username    string
	Password    string
}
