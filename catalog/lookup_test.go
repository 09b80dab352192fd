package catalog

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// loadLookupCatalog is the embedded catalog plus testdata/lookup, which adds
// non-default ports and a wildcard with a port.
func loadLookupCatalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := Load("testdata/lookup")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestLookup(t *testing.T) {
	c := loadLookupCatalog(t)
	tests := []struct {
		host string
		port int
		want string // provider ID, "" for no match
	}{
		// exact names
		{"api.openai.com", 443, "openai"},
		{"API.OpenAI.COM", 443, "openai"},
		{"api.openai.com.", 443, "openai"},
		{"api.anthropic.com", 443, "anthropic"},
		{"uploads.github.com", 443, "github"},
		{"api.us5.datadoghq.com", 443, "datadog"},
		{"api.datadoghq.eu", 443, "datadog"},
		{"verify.twilio.com", 443, "twilio"},
		{"maps.googleapis.com", 443, "google-maps"},
		{"api.cohere.ai", 443, "cohere"},
		{"mixed.example.com", 443, "internal"}, // catalog entry was written in mixed case
		// a portless entry is 443 only
		{"api.openai.com", 80, ""},
		{"api.openai.com", 8443, ""},
		{"api.openai.com", 0, ""},
		{"api.openai.com", -443, ""},
		{"api.openai.com", 65536, ""},
		// explicit ports
		{"api.internal.example", 8443, "internal"},
		{"api.internal.example", 443, ""},
		// neighbours of exact names do not match
		{"openai.com", 443, ""},
		{"xapi.openai.com", 443, ""},
		{"a.api.openai.com", 443, ""},
		{"api.openai.com.evil.example", 443, ""},
		{"github.com", 443, ""},
		{"storage.googleapis.com", 443, ""}, // deliberately in no entry: signed URLs
		{"www.googleapis.com", 443, "google"},
		{"generativelanguage.googleapis.com", 443, "gemini"},
		{"console.twilio.com", 443, ""},
		// wildcards
		{"slack.com", 443, "slack"}, // exact entry, not the wildcard
		{"a.slack.com", 443, "slack"},
		{"a.b.slack.com", 443, "slack"},
		{"Files.Slack.COM.", 443, "slack"},
		{"a.slack.com", 80, ""},
		{"evilslack.com", 443, ""},
		{"slack.com.evil.example", 443, ""},
		{"x.svc.example.net", 9443, "internal"},
		{"x.y.svc.example.net", 9443, "internal"},
		{"svc.example.net", 9443, ""},
		{"x.svc.example.net", 443, ""},
		// malformed names match nothing, even under a wildcard
		{"", 443, ""},
		{".", 443, ""},
		{".slack.com", 443, ""},
		{"a..slack.com", 443, ""},
		{"api.openai.com..", 443, ""},
		{"x/y.slack.com", 443, ""},
		{"a_b.slack.com", 443, ""},
		{"a slack.com", 443, ""},
		{"api.openai.com:443", 443, ""},
		{"127.0.0.1", 443, ""},
		{"[::1]", 443, ""},
		{"slack.com\x00.evil", 443, ""},
		{"ѕlack.com", 443, ""}, // Cyrillic s
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s:%d", tt.host, tt.port), func(t *testing.T) {
			p, ok := c.Lookup(tt.host, tt.port)
			got := ""
			if ok {
				got = p.ID
			}
			if ok != (p != nil) {
				t.Errorf("Lookup returned ok=%v with provider %v", ok, p)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%q, %d) (-want +got):\n%s", tt.host, tt.port, diff)
			}
		})
	}
}

// TestLookupPrecedence checks the order Lookup consults its maps. Load
// rejects overlapping patterns across providers, so the catalog is built by
// hand here to make each rule observable.
func TestLookupPrecedence(t *testing.T) {
	exact := &Provider{ID: "exact"}
	narrow := &Provider{ID: "narrow"}
	wide := &Provider{ID: "wide"}
	c := &Catalog{
		exact: hostIndex{"a.b.example.com": {{443, exact}}},
		wild: hostIndex{
			"b.example.com": {{443, narrow}},
			"example.com":   {{443, wide}},
		},
	}
	tests := []struct {
		host string
		want string
	}{
		{"a.b.example.com", "exact"},  // exact beats any wildcard
		{"c.b.example.com", "narrow"}, // longest suffix wins
		{"x.c.b.example.com", "narrow"},
		{"c.example.com", "wide"},
		{"b.example.com", "wide"}, // "*.b.example.com" does not match its own suffix
		{"example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got := ""
			if p, ok := c.Lookup(tt.host, 443); ok {
				got = p.ID
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%q) (-want +got):\n%s", tt.host, diff)
			}
		})
	}
}

func TestHosts(t *testing.T) {
	c := loadLookupCatalog(t)
	hosts := c.Hosts()
	seen := make(map[string]bool)
	for i, h := range hosts {
		if i > 0 && hosts[i-1].Pattern >= h.Pattern {
			t.Errorf("Hosts not sorted at %d: %q then %q", i, hosts[i-1].Pattern, h.Pattern)
		}
		seen[h.Pattern+" "+h.Provider] = true
	}
	for _, want := range []string{
		"*.slack.com slack", "slack.com slack", "api.openai.com openai",
		"api.internal.example:8443 internal", "*.svc.example.net:9443 internal",
		"mixed.example.com internal",
	} {
		if !seen[want] {
			t.Errorf("Hosts() lacks %q", want)
		}
	}
	// Every provider host appears exactly once in Hosts.
	n := 0
	for _, p := range c.List() {
		n += len(p.Hosts)
	}
	if diff := cmp.Diff(n, len(hosts)); diff != "" {
		t.Errorf("len(Hosts()) vs sum of provider hosts (-want +got):\n%s", diff)
	}
	hosts[0].Pattern = "mutated"
	if c.Hosts()[0].Pattern == "mutated" {
		t.Error("Hosts returned the catalog's own slice")
	}
}

func TestLookupConcurrent(t *testing.T) {
	c := loadLookupCatalog(t)
	for i := range 8 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			for range 1000 {
				if p, ok := c.Lookup("a.slack.com", 443); !ok || p.ID != "slack" {
					t.Fatalf("Lookup(a.slack.com) = %v, %v", p, ok)
				}
			}
		})
	}
}

// BenchmarkLookup reports Lookup against "baseline", one plain
// map[string] probe of the same exact host: the floor any lookup pays, so
// results read as ratios on a noisy machine.
func BenchmarkLookup(b *testing.B) {
	c := loadLookupCatalog(b)
	plain := make(map[string]*Provider)
	for _, p := range c.List() {
		for _, h := range p.Hosts {
			plain[h] = p
		}
	}
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			if _, ok := plain["api.openai.com"]; !ok {
				b.Fatal("baseline miss")
			}
		}
	})
	for _, bc := range []struct {
		name, host string
		port       int
		hit        bool
	}{
		{"exact", "api.openai.com", 443, true},
		{"exact-upper", "API.OpenAI.com", 443, true},
		{"wildcard", "files.slack.com", 443, true},
		{"wildcard-deep", "a.b.c.d.slack.com", 443, true},
		{"miss", "www.example.org", 443, false},
		{"miss-deep", "a.b.c.d.e.f.example.org", 443, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := c.Lookup(bc.host, bc.port); ok != bc.hit {
					b.Fatalf("Lookup(%q) ok=%v", bc.host, ok)
				}
			}
		})
	}
}
