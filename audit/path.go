package audit

import (
	"net/url"
	"strings"
)

// Redacted replaces every query value in an audited path.
const Redacted = "REDACTED"

// PathForAudit returns the value for Event.Path: u's escaped path plus its
// query with every value replaced by Redacted. Parameter names and their
// order are kept (they say what was asked without saying with what), so
// "/v1/x?api_key=sk-1&b=2&b=3" becomes
// "/v1/x?api_key=REDACTED&b=REDACTED&b=REDACTED". A parameter without "=" is
// treated as a bare value ("?sk-1" becomes "?REDACTED"), because a secret
// can sit there as easily as in a value. The raw query is rewritten
// textually, never parsed and re-encoded, so malformed escapes cannot make a
// value leak through or reorder the parameters. The fragment is dropped.
func PathForAudit(u *url.URL) string {
	if u == nil {
		return ""
	}
	path := u.EscapedPath()
	if u.RawQuery == "" {
		return path
	}
	return path + "?" + redactQuery(u.RawQuery)
}

// redactQuery rewrites a raw query string: "k=v" → "k=REDACTED", a bare
// "v" → "REDACTED", empty components (as in "a=1&&b=2") stay empty.
func redactQuery(raw string) string {
	var b strings.Builder
	b.Grow(len(raw) + 16)
	for i, part := range strings.Split(raw, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		if part == "" {
			continue
		}
		if key, _, ok := strings.Cut(part, "="); ok {
			b.WriteString(key)
			b.WriteByte('=')
		}
		b.WriteString(Redacted)
	}
	return b.String()
}
