package catalog

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseHostPattern covers accepted spellings; rejected ones are in
// testdata/invalid/bad_hosts (TestLoadInvalid).
func TestParseHostPattern(t *testing.T) {
	tests := []struct {
		in    string
		want  hostPattern
		canon string
	}{
		{"api.openai.com", hostPattern{name: "api.openai.com", port: 443}, "api.openai.com"},
		{"API.OpenAI.com", hostPattern{name: "api.openai.com", port: 443}, "api.openai.com"},
		{"api.openai.com:443", hostPattern{name: "api.openai.com", port: 443}, "api.openai.com"},
		{"api.x.example:8443", hostPattern{name: "api.x.example", port: 8443}, "api.x.example:8443"},
		{"x.example:1", hostPattern{name: "x.example", port: 1}, "x.example:1"},
		{"x.example:65535", hostPattern{name: "x.example", port: 65535}, "x.example:65535"},
		{"*.slack.com", hostPattern{name: "slack.com", port: 443, wildcard: true}, "*.slack.com"},
		{"*.Svc.example.net:9443", hostPattern{name: "svc.example.net", port: 9443, wildcard: true}, "*.svc.example.net:9443"},
		{"xn--bcher-kva.example", hostPattern{name: "xn--bcher-kva.example", port: 443}, "xn--bcher-kva.example"},
		{"api.ddog-gov.com", hostPattern{name: "api.ddog-gov.com", port: 443}, "api.ddog-gov.com"},
		{"1password.com", hostPattern{name: "1password.com", port: 443}, "1password.com"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseHostPattern(tt.in)
			if err != nil {
				t.Fatalf("parseHostPattern(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(hostPattern{})); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.canon, got.String()); diff != "" {
				t.Errorf("String (-want +got):\n%s", diff)
			}
		})
	}
}
