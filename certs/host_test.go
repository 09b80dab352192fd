package certs

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// normalizeHost is the full check Leaf applies on a cache miss.
func normalizeHost(raw string) (string, bool, error) {
	host, isIP, err := canonicalHost(raw)
	if err == nil && !isIP {
		err = checkDNSName(host)
	}
	return host, isIP, err
}

func TestNormalizeHost(t *testing.T) {
	type result struct {
		Host string
		IsIP bool
	}
	tests := []struct {
		in   string
		want result
	}{
		{"example.com", result{"example.com", false}},
		{"Example.COM", result{"example.com", false}},
		{"example.com.", result{"example.com", false}},
		{"example.com:443", result{"example.com", false}},
		{"EXAMPLE.com.:443", result{"example.com", false}},
		{"my_service.internal", result{"my_service.internal", false}},
		{"10.0.0.1", result{"10.0.0.1", true}},
		{"10.0.0.1:8443", result{"10.0.0.1", true}},
		{"::1", result{"::1", true}},
		{"[::1]", result{"::1", true}},
		{"[0:0::1]:443", result{"::1", true}},
		{"[fe80::1%eth0]:443", result{"fe80::1", true}},
		{"2001:DB8::1", result{"2001:db8::1", true}},
		{"1.2.3", result{"1.2.3", false}},
		{"h1.example:80", result{"h1.example", false}},
		{strings.Repeat("a", 63) + ".com", result{strings.Repeat("a", 63) + ".com", false}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			host, isIP, err := normalizeHost(tt.in)
			if err != nil {
				t.Fatalf("normalizeHost(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, result{host, isIP}); diff != "" {
				t.Errorf("normalizeHost(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestNormalizeHost_Invalid(t *testing.T) {
	for _, in := range []string{"", ":443", "[]:443", ".", "..", "*.example.com", "a b", "a/b", "a..b", "é.example", strings.Repeat("a", 64), strings.Repeat("a.", 127) + "aa"} {
		t.Run(in, func(t *testing.T) {
			if host, _, err := normalizeHost(in); !errors.Is(err, ErrInvalidHost) {
				t.Errorf("normalizeHost(%q) = %q, %v; want ErrInvalidHost", in, host, err)
			}
		})
	}
}
