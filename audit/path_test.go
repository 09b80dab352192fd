package audit

import (
	"net/url"
	"testing"
)

func TestPathForAudit(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no query", "https://api.example.com/v1/models", "/v1/models"},
		{"empty path", "https://api.example.com", ""},
		{"one value", "https://h/v1/x?api_key=sk-live-123", "/v1/x?api_key=REDACTED"},
		{"order and repeats kept", "/v1/x?b=2&a=1&b=3", "/v1/x?b=REDACTED&a=REDACTED&b=REDACTED"},
		{"empty value", "/x?a=&b=1", "/x?a=REDACTED&b=REDACTED"},
		{"bare value", "/x?sk-live-123&a=1", "/x?REDACTED&a=REDACTED"},
		{"empty components kept", "/x?a=1&&b=2", "/x?a=REDACTED&&b=REDACTED"},
		{"value containing =", "/x?sig=abc==&t=1", "/x?sig=REDACTED&t=REDACTED"},
		{"escaped key kept escaped", "/x?na%20me=v%26alue", "/x?na%20me=REDACTED"},
		{"semicolon stays inside the value", "/x?a=1;token=secret", "/x?a=REDACTED"},
		{"bad escape in value", "/x?a=%zz", "/x?a=REDACTED"},
		{"escaped path kept", "/files/a%2Fb?q=1", "/files/a%2Fb?q=REDACTED"},
		{"fragment dropped", "/x?a=1#frag", "/x?a=REDACTED"},
		{"placeholder value", "/x?key=gatehouse_grant_0192", "/x?key=REDACTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.in)
			if err != nil {
				t.Fatalf("url.Parse(%q): %v", tc.in, err)
			}
			if got := PathForAudit(u); got != tc.want {
				t.Errorf("PathForAudit(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		if got := PathForAudit(nil); got != "" {
			t.Errorf("PathForAudit(nil) = %q, want empty", got)
		}
	})
}
