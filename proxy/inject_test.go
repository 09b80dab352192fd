package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/catalog"
)

const testGrant = "gatehouse_grant_0190b6a4-1c2d-7e3f-8a9b-0c1d2e3f4a5b"

func TestInjectHeader(t *testing.T) {
	h := http.Header{
		"Authorization":       {"Bearer " + testGrant, "Bearer client-own-key"},
		"Proxy-Authorization": {"Basic eDprZXk="},
		"Gatehouse-Grant":     {"0190b6a4-1c2d-7e3f-8a9b-0c1d2e3f4a5b"},
		"Gatehouse-Reason":    {"why"},
		"Connection":          {"keep-alive, X-Hop"},
		"X-Hop":               {"1"},
		"X-Other":             {"kept " + testGrant},
		"Accept-Encoding":     {"gzip"},
		"Te":                  {"trailers"},
	}
	r := &http.Request{Header: h, URL: &url.URL{Scheme: "https", Host: "api.openai.com", Path: "/v1/models"}}
	if err := inject(r, catalog.Inject{Header: "Authorization", Value: "Bearer {{.Token}}"}, "Bearer sk-real"); err != nil {
		t.Fatal(err)
	}
	want := http.Header{"Authorization": {"Bearer sk-real"}, "Accept-Encoding": {"gzip"}, "Te": {"trailers"}}
	if diff := cmp.Diff(want, r.Header); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestInjectKeepsUpgrade(t *testing.T) {
	r := &http.Request{Header: http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, URL: &url.URL{}}
	if err := inject(r, catalog.Inject{Header: "X-Api-Key"}, "k"); err != nil {
		t.Fatal(err)
	}
	want := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "X-Api-Key": {"k"}}
	if diff := cmp.Diff(want, r.Header); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

func TestRewriteQuery(t *testing.T) {
	tests := []struct {
		name, raw, param, value, want string
	}{
		{"append", "a=1&b=2", "key", "s3cr3t", "a=1&b=2&key=s3cr3t"},
		{"replace client copies", "key=mine&a=%20x&key=other", "key", "real", "a=%20x&key=real"},
		{"placeholder removed", "key=" + testGrant + "&q=1", "key", "real", "q=1&key=real"},
		{"placeholder in other param", "x=" + testGrant + "&q=1", "", "", "q=1"},
		{"escape value", "", "api_key", "a&b=c", "api_key=a%26b%3Dc"},
		{"no-op", "a=1", "", "", "a=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &url.URL{RawQuery: tt.raw}
			if err := rewriteQuery(u, tt.param, tt.value); err != nil {
				t.Fatal(err)
			}
			if u.RawQuery != tt.want {
				t.Errorf("got %q, want %q", u.RawQuery, tt.want)
			}
		})
	}
	if err := rewriteQuery(&url.URL{RawQuery: "a=%zz"}, "key", "v"); err == nil {
		t.Error("malformed query accepted")
	}
}

// FuzzRewriteQuery: whatever the client sends, the rewritten query carries
// exactly one credential parameter, with our value, and no placeholder.
func FuzzRewriteQuery(f *testing.F) {
	for _, s := range []string{"", "key=a&key=b", "a=" + testGrant, "k%65y=x", "key", "&&", "a=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u := &url.URL{RawQuery: raw}
		if err := rewriteQuery(u, "key", "SECRET"); err != nil {
			return // malformed queries are refused
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			t.Fatalf("rewrite produced an unparsable query %q from %q", u.RawQuery, raw)
		}
		if got := q["key"]; len(got) != 1 || got[0] != "SECRET" {
			t.Fatalf("key = %q from %q", got, raw)
		}
		if strings.Contains(u.RawQuery, "gatehouse_grant_") {
			t.Fatalf("placeholder survived in %q", u.RawQuery)
		}
	})
}

// FuzzStripForUpstream: no Gatehouse-* header, proxy credential or
// placeholder survives stripping, whatever the header set.
func FuzzStripForUpstream(f *testing.F) {
	f.Add("Gatehouse-Grant", "x", "Connection", "Gatehouse-Grant")
	f.Add("X-A", testGrant, "Proxy-Authorization", "Basic x")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		h := http.Header{}
		h.Add(k1, v1)
		h.Add(k2, v2)
		stripForUpstream(h)
		for name, vs := range h {
			if strings.HasPrefix(http.CanonicalHeaderKey(name), "Gatehouse-") || http.CanonicalHeaderKey(name) == "Proxy-Authorization" {
				t.Fatalf("%s survived", name)
			}
			for _, v := range vs {
				if strings.Contains(v, "gatehouse_grant_") {
					t.Fatalf("placeholder survived in %s", name)
				}
			}
		}
	})
}
