package catalog

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Credential kinds a provider may accept.
const (
	KindAPIKey   = "api_key"   // Material.Token
	KindBasic    = "basic"     // Material.Username, Material.Password
	KindOAuth2   = "oauth2"    // an OAuth access token, rendered as Token/AccessToken
	KindAWSSigV4 = "aws_sigv4" // AWS keys; the proxy signs, the template sees no AWS fields
)

// OAuth token endpoint client authentication styles (OAuth.AuthStyle).
const (
	AuthStyleHeader = "header" // HTTP Basic client_id:client_secret
	AuthStyleParams = "params" // client_id and client_secret in the form body
)

// knownKinds is the message text listing the credential kinds.
const knownKinds = "api_key, basic, oauth2, aws_sigv4"

// maxIDLen keeps ids usable as path segments, metric labels and file names.
const maxIDLen = 63

// The tables below are switch functions rather than package variables so
// nothing at package level can be mutated.

func isKnownKind(k string) bool {
	switch k {
	case KindAPIKey, KindBasic, KindOAuth2, KindAWSSigV4:
		return true
	}
	return false
}

// isHopByHop reports the RFC 9110 §7.6.1 connection-specific headers (plus
// the de-facto Proxy-Connection and Keep-Alive), lower case: a proxy consumes
// or rewrites them, so a credential put there would be dropped or reach the
// wrong hop.
func isHopByHop(lower string) bool {
	switch lower {
	case "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
		"proxy-connection", "te", "trailer", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// isFraming reports headers that decide how a request is routed and
// delimited; a template must never set them.
func isFraming(lower string) bool {
	return lower == "host" || lower == "content-length"
}

// isReservedOAuthParam reports parameters the OAuth flow sets itself;
// extra_params may not override them.
func isReservedOAuthParam(k string) bool {
	switch k {
	case "client_id", "client_secret", "code", "code_challenge", "code_challenge_method",
		"code_verifier", "grant_type", "redirect_uri", "refresh_token", "response_type",
		"scope", "state":
		return true
	}
	return false
}

// validID reports whether id matches [a-z0-9][a-z0-9_-]*.
func validID(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return id != ""
}

// validQueryName reports whether s is a non-empty run of URL-unreserved
// characters, so it needs no escaping and cannot smuggle "&" or "=".
func validQueryName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == '~' || c == '-':
		default:
			return false
		}
	}
	return s != ""
}

// validate checks one decoded entry, compiles its template and parses its
// hosts. It reports every problem, not just the first.
func validate(p *Provider) ([]hostPattern, []error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{File: p.Source, Field: field, Msg: fmt.Sprintf(format, args...)})
	}

	switch {
	case p.ID == "":
		bad("id", "required")
	case len(p.ID) > maxIDLen || !validID(p.ID):
		bad("id", "%q must match [a-z0-9][a-z0-9_-]* and be at most %d characters", p.ID, maxIDLen)
	}
	if strings.TrimSpace(p.Name) == "" {
		bad("name", "required")
	} else if hasControl(p.Name) {
		bad("name", "must not contain control characters")
	}

	if len(p.Credentials) == 0 {
		bad("credentials", "at least one of %s required", knownKinds)
	}
	for i, k := range p.Credentials {
		field := fmt.Sprintf("credentials[%d]", i)
		switch {
		case !isKnownKind(k):
			bad(field, "unknown kind %q (known: %s)", k, knownKinds)
		case slices.Index(p.Credentials, k) != i:
			bad(field, "%q listed twice", k)
		}
	}

	var hosts []hostPattern
	if len(p.Hosts) == 0 {
		bad("hosts", "at least one host required")
	}
	for i, s := range p.Hosts {
		h, err := parseHostPattern(s)
		if err != nil {
			bad(fmt.Sprintf("hosts[%d]", i), "%q: %s", s, err)
			continue
		}
		p.Hosts[i] = h.String() // one spelling everywhere: lower case, no ":443"
		hosts = append(hosts, h)
	}

	errs = append(errs, validateInject(p)...)

	errs = append(errs, validateActions(p)...)

	switch {
	case p.OAuth == nil && p.Accepts(KindOAuth2):
		bad("oauth", "required because credentials include oauth2")
	case p.OAuth != nil && !p.Accepts(KindOAuth2):
		bad("oauth", "given but credentials do not include oauth2")
	case p.OAuth != nil:
		errs = append(errs, validateOAuth(p)...)
	}

	if p.Docs != "" {
		if msg := checkHTTPSURL(p.Docs); msg != "" {
			bad("docs", "%q: %s", p.Docs, msg)
		}
	}
	return hosts, errs
}

// validateInject checks where the credential goes and compiles the value.
func validateInject(p *Provider) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{File: p.Source, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	in := p.Inject
	switch {
	case in.Header == "" && in.Query == "":
		bad("inject", "one of header or query is required")
	case in.Header != "" && in.Query != "":
		bad("inject", "header and query are exclusive: give exactly one")
	case in.Header != "":
		if msg := checkHeaderName(in.Header); msg != "" {
			bad("inject.header", "%q: %s", in.Header, msg)
		}
	default:
		if !validQueryName(in.Query) {
			bad("inject.query", "%q: must be a plain parameter name of letters, digits and . _ ~ -", in.Query)
		}
	}
	if in.Value == "" {
		bad("inject.value", "required")
		return errs
	}
	if err := compile(p); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// checkHeaderName returns why name cannot carry a credential, or "".
func checkHeaderName(name string) string {
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return "not a valid header name (RFC 9110 token)"
		}
	}
	lower := strings.ToLower(name)
	switch {
	case isHopByHop(lower):
		return "hop-by-hop header: a proxy never forwards it"
	case isFraming(lower):
		return "request framing header: cannot carry a credential"
	case strings.HasPrefix(lower, "proxy-"):
		return "Proxy-* headers belong to the client-proxy hop"
	case strings.HasPrefix(lower, "gatehouse-"):
		return "Gatehouse-* headers are stripped before forwarding"
	}
	return ""
}

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func validateOAuth(p *Provider) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{File: p.Source, Field: "oauth." + field, Msg: fmt.Sprintf(format, args...)})
	}
	o := p.OAuth
	for _, u := range []struct {
		field, value string
		required     bool
	}{
		{"authorize_url", o.AuthorizeURL, true},
		{"token_url", o.TokenURL, true},
		{"revoke_url", o.RevokeURL, false},
	} {
		switch {
		case u.value == "" && u.required:
			bad(u.field, "required")
		case u.value != "":
			if msg := checkHTTPSURL(u.value); msg != "" {
				bad(u.field, "%q: %s", u.value, msg)
			}
		}
	}
	switch o.AuthStyle {
	case AuthStyleHeader, AuthStyleParams:
	case "":
		bad("auth_style", "required: header or params (never auto-detected)")
	default:
		bad("auth_style", "%q: must be header or params", o.AuthStyle)
	}
	if o.DefaultLifetime != "" {
		d, err := time.ParseDuration(o.DefaultLifetime)
		switch {
		case err != nil:
			bad("default_lifetime", "%q: not a duration such as 1h or 90m", o.DefaultLifetime)
		case d <= 0:
			bad("default_lifetime", "%q: must be positive", o.DefaultLifetime)
		default:
			o.lifetime = d
		}
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			bad(fmt.Sprintf("scopes[%d]", i), "%q: must be non-empty without spaces or control characters", s)
		}
	}
	if o.AccountField != "" && !validAccountField(o.AccountField) {
		bad("account_field", "%q: must be a dotted path of [A-Za-z0-9_-] segments, such as authed_user.id or id_token.email", o.AccountField)
	}
	for _, k := range slices.Sorted(maps.Keys(o.ExtraParams)) {
		switch {
		case k == "":
			bad("extra_params", "empty parameter name")
		case isReservedOAuthParam(k):
			bad("extra_params."+k, "set by the OAuth flow itself; cannot be overridden")
		}
	}
	return errs
}

// validateActions checks the named actions and indexes them by request.
func validateActions(p *Provider) []error {
	var errs []error
	p.actions = nil
	for _, name := range slices.Sorted(maps.Keys(p.Actions)) {
		a := p.Actions[name]
		field := "actions." + name
		bad := func(format string, args ...any) {
			errs = append(errs, &FieldError{File: p.Source, Field: field, Msg: fmt.Sprintf(format, args...)})
		}
		switch {
		case name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '*' }):
			bad("action names must be non-empty without spaces, control characters or '*'")
			continue
		case !validMethod(a.Method):
			bad("method %q: must be an upper-case HTTP method such as GET or POST", a.Method)
			continue
		case !strings.HasPrefix(a.Path, "/") || strings.ContainsAny(a.Path, "?# "):
			bad("path %q: must be an absolute path without query, fragment or spaces", a.Path)
			continue
		}
		if other, taken := p.actions[a.Method][a.Path]; taken {
			bad("%s %s is already the action %s", a.Method, a.Path, other)
			continue
		}
		if p.actions == nil {
			p.actions = make(map[string]map[string]string)
		}
		if p.actions[a.Method] == nil {
			p.actions[a.Method] = make(map[string]string)
		}
		p.actions[a.Method][a.Path] = p.ID + "." + name
	}
	return errs
}

// validMethod reports an RFC 9110 token in upper case.
func validMethod(m string) bool {
	return m != "" && !strings.ContainsFunc(m, func(r rune) bool { return r < 'A' || r > 'Z' })
}

// validAccountField reports whether f is a dotted path of non-empty
// [A-Za-z0-9_-] segments.
func validAccountField(f string) bool {
	for seg := range strings.SplitSeq(f, ".") {
		if seg == "" || strings.ContainsFunc(seg, func(r rune) bool {
			return !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) {
			return false
		}
	}
	return true
}

// checkHTTPSURL returns why s is not an absolute https URL with a host, or "".
func checkHTTPSURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "https":
		return "must be an https:// URL"
	case u.Host == "" || u.Hostname() == "":
		return "URL has no host"
	case u.User != nil:
		return "URL must not contain user information"
	case u.Fragment != "":
		return "URL must not contain a fragment"
	}
	return ""
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
}
