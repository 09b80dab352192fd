package proxy

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// authority is a normalised destination: lowercase host without trailing
// dot, IPv6 without brackets, and an explicit port.
type authority struct {
	Host string
	Port int
}

// String renders host:port (IPv6 bracketed).
func (a authority) String() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

var errBadAuthority = errors.New("malformed authority")

// parseAuthority normalises "host[:port]". defaultPort applies when the port
// is absent (443 for https, 80 for http); 0 means the port is required, as in
// a CONNECT request target.
func parseAuthority(s string, defaultPort int) (authority, error) {
	if s == "" || len(s) > 300 {
		return authority{}, errBadAuthority
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		// No port (or a bare IPv6 literal in brackets).
		if defaultPort == 0 {
			return authority{}, errBadAuthority
		}
		host, portStr = s, strconv.Itoa(defaultPort)
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 || strings.HasPrefix(portStr, "+") {
		return authority{}, errBadAuthority
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if !validHost(host) {
		return authority{}, errBadAuthority
	}
	return authority{Host: host, Port: port}, nil
}

// validHost accepts an IP literal or an LDH DNS name (underscores allowed,
// as some real hosts use them).
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return !strings.Contains(h, "%") // no IPv6 zones
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// defaultPortFor is the default port of a URL scheme.
func defaultPortFor(scheme string) int {
	if scheme == "http" {
		return 80
	}
	return 443
}
