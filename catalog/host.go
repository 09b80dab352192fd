package catalog

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// defaultPort is the port a catalog host without ":port" stands for. It is
// 443 only: a portless entry never matches plaintext port 80 or any other
// port, so a credential cannot be steered to a different service on the same
// name (security invariant 1).
const defaultPort = 443

// maxHostLen is the longest DNS name (RFC 1035, without the trailing dot).
const maxHostLen = 253

// hostPattern is one parsed entry of Provider.Hosts.
type hostPattern struct {
	name     string // lower case; for a wildcard the suffix after "*."
	port     int
	wildcard bool
}

// hostKey identifies a pattern while the catalog is checked for clashes.
type hostKey struct {
	name string
	port int
}

func (h hostPattern) key() hostKey { return hostKey{h.name, h.port} }

// String renders the pattern the way the catalog writes it: no port when it
// is the default.
func (h hostPattern) String() string {
	s := h.name
	if h.wildcard {
		s = "*." + s
	}
	if h.port != defaultPort {
		s += ":" + strconv.Itoa(h.port)
	}
	return s
}

// parseHostPattern parses "name", "name:port", "*.suffix" or "*.suffix:port".
// The name is lower-cased; everything else that is not a plain DNS name is an
// error, because these same strings decide where credentials are sent.
func parseHostPattern(s string) (hostPattern, error) {
	if s == "" {
		return hostPattern{}, errors.New("empty host")
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/?#@") {
		return hostPattern{}, errors.New("must be a bare host name, not a URL (no scheme, path or user)")
	}
	if strings.HasPrefix(s, "[") {
		return hostPattern{}, errors.New("IP addresses are not allowed: name the host")
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return hostPattern{}, errors.New("IP addresses are not allowed: name the host")
	}
	name, port := s, defaultPort
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		name = s[:i]
		if strings.Contains(name, ":") {
			return hostPattern{}, errors.New("IP addresses are not allowed: name the host")
		}
		p, err := parsePort(s[i+1:])
		if err != nil {
			return hostPattern{}, err
		}
		port = p
	}
	name = strings.ToLower(name)
	if strings.HasSuffix(name, ".") {
		return hostPattern{}, errors.New("trailing dot not allowed")
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return hostPattern{}, errors.New("IP addresses are not allowed: name the host")
	}
	h := hostPattern{name: name, port: port}
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		h.name, h.wildcard = rest, true
	}
	if strings.Contains(h.name, "*") {
		return hostPattern{}, errors.New(`"*" is only allowed as the whole first label, as in "*.example.com"`)
	}
	if err := checkDNSName(h.name); err != nil {
		if h.wildcard {
			return hostPattern{}, errors.New("wildcard suffix: " + err.Error())
		}
		return hostPattern{}, err
	}
	return h, nil
}

// parsePort accepts 1-65535 in plain decimal without sign or leading zero,
// so each port has exactly one spelling in the catalog.
func parsePort(s string) (int, error) {
	bad := errors.New("port must be a number from 1 to 65535")
	if s == "" || s[0] == '0' || len(s) > 5 {
		return 0, bad
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
	}
	p, err := strconv.Atoi(s)
	if err != nil || p > 65535 {
		return 0, bad
	}
	return p, nil
}

// checkDNSName requires a lower-case LDH name with at least two labels and a
// top-level label that is not all digits (which also rules out dotted IPv4
// spellings such as "127.1").
func checkDNSName(name string) error {
	if len(name) > maxHostLen {
		return errors.New("host name longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return errors.New("host name needs at least two labels, as in example.com")
	}
	for _, l := range labels {
		if l == "" {
			return errors.New("empty label in host name")
		}
		if len(l) > 63 {
			return errors.New("label longer than 63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("label starts or ends with '-'")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return errors.New("host name may contain only letters, digits, '-' and '.' (use punycode for IDNs)")
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return errors.New("top-level label is all digits: IP addresses are not allowed")
	}
	return nil
}

// normalizeLookupHost lower-cases host, drops one trailing dot and checks it
// is a plausible DNS name, without allocating for the common lower-case
// input. A malformed name matches nothing, so odd spellings
// (".slack.com", "a..slack.com", "x/y.slack.com") can never reach a
// wildcard entry.
func normalizeLookupHost(host string) (string, bool) {
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > maxHostLen {
		return "", false
	}
	upper := false
	prevDot := true // a leading dot is an empty label
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			prevDot = false
		case c >= 'A' && c <= 'Z':
			upper, prevDot = true, false
		case c == '.':
			if prevDot {
				return "", false
			}
			prevDot = true
		default:
			return "", false
		}
	}
	if prevDot {
		return "", false
	}
	if upper {
		host = strings.ToLower(host)
	}
	return host, true
}
