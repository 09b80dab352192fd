package proxy

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// hopHeaders are hop-by-hop headers (RFC 9110 §7.6.1) a proxy must not
// forward. goproxy's RemoveProxyHeaders strips only a few of them and not the
// tokens Connection lists (notes 1.9.8), and we bypass it anyway.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// stripForUpstream removes hop-by-hop headers (keeping a WebSocket or other
// upgrade intact), every Gatehouse-* identity header, and any header that
// still carries a grant placeholder (security invariant 3).
func stripForUpstream(h http.Header) {
	upgrade := ""
	if headerHasToken(h, "Connection", "upgrade") {
		upgrade = h.Get("Upgrade")
	}
	te := headerHasToken(h, "Te", "trailers")
	for _, v := range h.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				h.Del(tok)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
	for name, vs := range h {
		if strings.HasPrefix(name, "Gatehouse-") {
			delete(h, name)
			continue
		}
		for _, v := range vs {
			if strings.Contains(v, vault.GrantPlaceholderPrefix) {
				delete(h, name)
				break
			}
		}
	}
	if upgrade != "" {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", upgrade)
	}
	if te {
		h.Set("Te", "trailers") // gRPC needs it end to end
	}
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), token) {
				return true
			}
		}
	}
	return false
}

// inject strips the request for upstream and places the credential per the
// provider's rule. Every client-supplied copy of the credential header or
// query parameter is removed first: replaced, never merged.
func inject(r *http.Request, rule catalog.Inject, value string) error {
	stripForUpstream(r.Header)
	if rule.Header != "" {
		r.Header.Del(rule.Header)
		r.Header.Set(rule.Header, value)
	}
	return rewriteQuery(r.URL, rule.Query, value)
}

var errQuerySemicolon = errors.New("query contains ';'")

// rewriteQuery drops the credential parameter and every parameter carrying
// a placeholder, then appends the credential. Other parameters keep their
// order and their exact encoding.
func rewriteQuery(u *url.URL, param, value string) error {
	if param == "" && !strings.Contains(u.RawQuery, vault.GrantPlaceholderPrefix) {
		return nil
	}
	if param != "" && strings.Contains(u.RawQuery, ";") {
		// Some servers still split on ';' (Go's own refuses it): a client
		// could smuggle a second credential parameter past our rewrite.
		return errQuerySemicolon
	}
	var kept []string
	if u.RawQuery != "" {
		for _, pair := range strings.Split(u.RawQuery, "&") {
			k, v, _ := strings.Cut(pair, "=")
			key, err := url.QueryUnescape(k)
			if err != nil {
				return err
			}
			val, err := url.QueryUnescape(v)
			if err != nil {
				return err
			}
			if (param != "" && key == param) || strings.Contains(key+"="+val, vault.GrantPlaceholderPrefix) {
				continue
			}
			kept = append(kept, pair)
		}
	}
	if param != "" {
		kept = append(kept, url.QueryEscape(param)+"="+url.QueryEscape(value))
	}
	u.RawQuery = strings.Join(kept, "&")
	u.ForceQuery = false
	return nil
}
