package proxy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAuthority(t *testing.T) {
	tests := []struct {
		in      string
		def     int
		want    authority
		wantErr bool
	}{
		{in: "api.openai.com:443", want: authority{"api.openai.com", 443}},
		{in: "API.OpenAI.com.:443", want: authority{"api.openai.com", 443}},
		{in: "api.openai.com", def: 443, want: authority{"api.openai.com", 443}},
		{in: "api.openai.com", def: 0, wantErr: true},
		{in: "[::1]:8443", want: authority{"::1", 8443}},
		{in: "[::1]", def: 443, want: authority{"::1", 443}},
		{in: "127.0.0.1:80", want: authority{"127.0.0.1", 80}},
		{in: "host:0", wantErr: true},
		{in: "host:65536", wantErr: true},
		{in: "host:+443", wantErr: true},
		{in: "host:abc", wantErr: true},
		{in: "", def: 443, wantErr: true},
		{in: "bad host:443", wantErr: true},
		{in: "-bad.com:443", wantErr: true},
		{in: "a..b:443", wantErr: true},
		{in: "evil.com/path:443", wantErr: true},
		{in: "user@evil.com:443", wantErr: true},
		{in: "[fe80::1%eth0]:443", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseAuthority(tt.in, tt.def)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(authority{})); !tt.wantErr && diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseAuthority(f *testing.F) {
	for _, s := range []string{"api.openai.com:443", "[::1]:1", "a:b:c", "x.", "\x00:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := parseAuthority(s, 443)
		if err != nil {
			return
		}
		// A normalised authority must parse back to itself.
		b, err := parseAuthority(a.String(), 0)
		if err != nil || a != b {
			t.Fatalf("%q → %v → %v (%v)", s, a, b, err)
		}
	})
}

func TestHostAllowed(t *testing.T) {
	list := []string{"example.com", "*.corp.example", "git.example.org:8443"}
	tests := []struct {
		a    authority
		want bool
	}{
		{authority{"example.com", 443}, true},
		{authority{"example.com", 80}, false},
		{authority{"sub.example.com", 443}, false},
		{authority{"a.corp.example", 443}, true},
		{authority{"a.b.corp.example", 443}, true},
		{authority{"corp.example", 443}, false},
		{authority{"evilcorp.example", 443}, false},
		{authority{"git.example.org", 8443}, true},
		{authority{"git.example.org", 443}, false},
	}
	for _, tt := range tests {
		t.Run(tt.a.String(), func(t *testing.T) {
			if got := hostAllowed(list, tt.a); got != tt.want {
				t.Errorf("hostAllowed(%v) = %v, want %v", tt.a, got, tt.want)
			}
		})
	}
}
