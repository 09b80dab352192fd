package proxy

import (
	"encoding/base64"
	"testing"
)

func TestKeyFromProxyAuth(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, header, wantKey, wantCode string
	}{
		{"missing", "", "", CodeProxyAuthRequired},
		{"basic", "Basic " + b64("x:gatehouse_agent_k"), "gatehouse_agent_k", ""},
		{"basic empty user", "Basic " + b64(":gatehouse_agent_k"), "gatehouse_agent_k", ""},
		{"basic lowercase scheme", "basic " + b64("x:k"), "k", ""},
		{"bearer", "Bearer gatehouse_app_k", "gatehouse_app_k", ""},
		{"bad base64", "Basic !!!notbase64", "", CodeKeyInvalid},
		{"basic no colon", "Basic " + b64("justakey"), "", CodeKeyInvalid},
		{"basic empty key", "Basic " + b64("user:"), "", CodeKeyInvalid},
		{"unknown scheme", "Digest abc", "", CodeKeyInvalid},
		{"scheme only", "Bearer", "", CodeKeyInvalid},
		{"oversized", "Bearer " + string(make([]byte, 4096)), "", CodeKeyInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, d := keyFromProxyAuth(tt.header)
			code := ""
			if d != nil {
				code = d.Code
			}
			if key != tt.wantKey || code != tt.wantCode {
				t.Errorf("got (%q, %q), want (%q, %q)", key, code, tt.wantKey, tt.wantCode)
			}
		})
	}
}
