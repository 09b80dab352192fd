package catalog

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"text/template"

	"github.com/google/go-cmp/cmp"
)

func TestRender(t *testing.T) {
	c, err := Load("testdata/override/second")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := []struct {
		name     string
		provider string
		data     TemplateData
		want     string
		wantErr  bool
	}{
		{"bearer token", "openai", TemplateData{Token: "sk-abc"}, "Bearer sk-abc", false},
		{"access token only", "slack", TemplateData{AccessToken: "xoxb-1"}, "Bearer xoxb-1", false},
		{"raw header value", "anthropic", TemplateData{Token: "sk-ant-1"}, "sk-ant-1", false},
		{"datadog header", "datadog", TemplateData{Token: "dd1"}, "dd1", false},
		{"query value is not encoded here", "google-maps", TemplateData{Token: "AIza+/="}, "AIza+/=", false},
		{"query provider from a dir", "acme", TemplateData{Token: "k"}, "k", false},
		{"basic", "twilio", TemplateData{Username: "AC123", Password: "s3cret"},
			"Basic " + base64.StdEncoding.EncodeToString([]byte("AC123:s3cret")), false},
		{"basic with empty password", "twilio", TemplateData{Username: "AC123"},
			"Basic " + base64.StdEncoding.EncodeToString([]byte("AC123:")), false},
		{"empty token", "openai", TemplateData{}, "", true},
		{"empty basic pair", "twilio", TemplateData{}, "", true},
		{"basic data for a token provider", "openai", TemplateData{Username: "user-zq", Password: "pass-zq"}, "", true},
		{"CRLF injection", "openai", TemplateData{Token: "sk-abc\r\nX-Evil: 1"}, "", true},
		{"NUL", "anthropic", TemplateData{Token: "sk\x00"}, "", true},
		{"DEL", "anthropic", TemplateData{Token: "sk\x7f"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := c.Get(tt.provider)
			if !ok {
				t.Fatalf("Get(%q): missing", tt.provider)
			}
			got, err := p.Render(tt.data)
			if tt.wantErr {
				if !errors.Is(err, ErrRender) {
					t.Fatalf("Render = %q, %v; want ErrRender", got, err)
				}
				for _, secret := range []string{tt.data.Token, tt.data.Username, tt.data.Password} {
					if secret != "" && strings.Contains(err.Error(), secret) {
						t.Errorf("error %q leaks credential material", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Render (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenderNotLoaded(t *testing.T) {
	p := &Provider{ID: "hand-made", Inject: Inject{Header: "Authorization", Value: "Bearer {{.Token}}"}}
	if _, err := p.Render(TemplateData{Token: "x"}); !errors.Is(err, ErrRender) {
		t.Fatalf("Render on a provider not from Load: err = %v; want ErrRender", err)
	}
}

func TestAccepts(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := []struct {
		provider, kind string
		want           bool
	}{
		{"github", KindAPIKey, true},
		{"github", KindOAuth2, true},
		{"github", KindBasic, false},
		{"twilio", KindBasic, true},
		{"twilio", KindAPIKey, false},
		{"openai", KindOAuth2, false},
		{"openai", "API_KEY", false},
		{"openai", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.provider+"/"+tt.kind, func(t *testing.T) {
			p, _ := c.Get(tt.provider)
			if diff := cmp.Diff(tt.want, p.Accepts(tt.kind)); diff != "" {
				t.Errorf("Accepts(%q) (-want +got):\n%s", tt.kind, diff)
			}
		})
	}
}

func TestOAuthLifetime(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	slack, _ := c.Get("slack")
	if diff := cmp.Diff("12h0m0s", slack.OAuth.Lifetime().String()); diff != "" {
		t.Errorf("slack Lifetime (-want +got):\n%s", diff)
	}
	github, _ := c.Get("github")
	if diff := cmp.Diff("0s", github.OAuth.Lifetime().String()); diff != "" {
		t.Errorf("github Lifetime (-want +got):\n%s", diff)
	}
}

func BenchmarkRender(b *testing.B) {
	c, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	for _, id := range []string{"openai", "twilio"} {
		p, _ := c.Get(id)
		d := TemplateData{Token: "sk-0123456789abcdef0123456789abcdef", Username: "AC0123456789", Password: "0123456789abcdef"}
		b.Run(id, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Render(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSimpleTemplateMatchesTextTemplate: the concatenation fast path renders
// exactly what text/template renders, and only simple shapes take it.
func TestSimpleTemplateMatchesTextTemplate(t *testing.T) {
	tests := []struct {
		value  string
		simple bool
	}{
		{"Bearer {{.Token}}", true},
		{"{{.Token}}", true},
		{"Token token={{.AccessToken}}, x", true},
		{"{{ .Token }}", true},
		{"Basic {{basic .Username .Password}}", false},
		{"{{.Token}}{{.Token}}", false},
		{"{{if .Token}}{{.Token}}{{end}}", false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			f := simpleTemplate(tt.value)
			if f.ok != tt.simple {
				t.Fatalf("simple = %v, want %v", f.ok, tt.simple)
			}
			if !f.ok {
				return
			}
			tmpl := template.Must(template.New("x").Funcs(funcs()).Parse(tt.value))
			d := TemplateData{Token: `tok<&>\"`, AccessToken: `tok<&>\"`}
			want, err := execute(tmpl, d)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.prefix + d.Token + f.suffix; got != want {
				t.Errorf("fast path %q, text/template %q", got, want)
			}
		})
	}
}
