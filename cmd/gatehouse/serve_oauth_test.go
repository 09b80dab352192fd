package main

import (
	"net"
	"testing"
)

func TestRedirectURL(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40123}
	tests := []struct {
		public string
		bound  net.Addr
		want   string
	}{
		{"http://127.0.0.1:8081", bound, "http://127.0.0.1:8081/oauth/callback"},
		{"https://gatehouse.example.com/", bound, "https://gatehouse.example.com/oauth/callback"},
		{"https://example.com/gatehouse", bound, "https://example.com/gatehouse/oauth/callback"},
		{"http://127.0.0.1:0", bound, "http://127.0.0.1:40123/oauth/callback"},
		{"http://127.0.0.1:0", nil, "http://127.0.0.1:0/oauth/callback"},
	}
	for _, tt := range tests {
		t.Run(tt.public, func(t *testing.T) {
			got, err := redirectURL(tt.public, tt.bound)
			if err != nil || got != tt.want {
				t.Errorf("redirectURL(%q) = %q, %v; want %q", tt.public, got, err, tt.want)
			}
		})
	}
	if _, err := redirectURL("http://[::1", bound); err == nil {
		t.Error("a malformed public URL was accepted")
	}
}
