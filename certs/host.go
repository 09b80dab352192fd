package certs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ErrInvalidHost is returned by Leaf for an empty or malformed host name.
var ErrInvalidHost = errors.New("certs: invalid host")

// maxHostLen is the longest DNS name (RFC 1035) a leaf is minted for.
const maxHostLen = 253

// canonicalHost turns a CONNECT authority or SNI value into the canonical
// name a leaf is minted and cached for: port stripped ("h:443", "[::1]:443"),
// IPv6 brackets and zone removed, trailing dot removed, lowercased. IP
// literals come back in their canonical text form with isIP set. It rejects
// only empty names; checkDNSName validates the rest before anything is
// minted, so the cache-hit path skips that scan.
func canonicalHost(raw string) (host string, isIP bool, err error) {
	h := raw
	if strings.IndexByte(h, ':') >= 0 {
		if hp, _, splitErr := net.SplitHostPort(h); splitErr == nil {
			h = hp
		}
	}
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	if maybeIP(h) {
		if addr, parseErr := netip.ParseAddr(h); parseErr == nil {
			return addr.WithZone("").String(), true, nil
		}
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "" {
		return "", false, fmt.Errorf("%w: empty", ErrInvalidHost)
	}
	return h, false, nil
}

// maybeIP reports whether s could be an IP literal, sparing the common DNS
// name the cost (and allocated error) of a failed netip.ParseAddr.
func maybeIP(s string) bool {
	if strings.IndexByte(s, ':') >= 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return s != ""
}

// checkDNSName accepts a canonical (lowercase, no trailing dot) DNS name made
// of labels of 1 to 63 letters, digits, '-' or '_', at most 253 bytes in all,
// so nothing that is not a plain host name (wildcards, spaces, slashes)
// ever ends up in a certificate or the cache.
func checkDNSName(name string) error {
	if len(name) > maxHostLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidHost, maxHostLen)
	}
	for label := range strings.SplitSeq(name, ".") {
		if !validLabel(label) {
			return fmt.Errorf("%w: %q", ErrInvalidHost, name)
		}
	}
	return nil
}

// validLabel reports whether label is a lowercase DNS label Gatehouse mints
// for. Underscores are allowed because some real service names use them.
func validLabel(label string) bool {
	if label == "" || len(label) > 63 {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
