package identity

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestProviderValidate(t *testing.T) {
	ok := Provider{Issuer: "https://idp.example", Audience: "gatehouse"}
	tests := []struct {
		name string
		edit func(p *Provider)
		want []string // one line per problem, in order
	}{
		{"minimal", func(*Provider) {}, nil},
		{"everything set", func(p *Provider) {
			p.JWKSURL = "https://idp.example/keys"
			p.UserClaim, p.GroupClaim = "oid", "groups"
			p.Algorithms = []string{"RS256", "PS256", "ES384", "EdDSA"}
			p.Leeway = MaxLeeway
		}, nil},
		{"empty", func(p *Provider) { *p = Provider{} }, []string{
			"identity provider configuration is invalid: issuer is required",
			`identity provider configuration is invalid: audience is required (the client id or API identifier the IdP puts in "aud")`,
		}},
		{"http issuer", func(p *Provider) { p.Issuer = "http://idp.example" }, []string{
			`identity provider configuration is invalid: issuer: "http://idp.example" must be an https URL`,
		}},
		{"issuer without host", func(p *Provider) { p.Issuer = "https:///path" }, []string{
			`identity provider configuration is invalid: issuer: "https:///path" has no host`,
		}},
		{"issuer with fragment", func(p *Provider) { p.Issuer = "https://idp.example/#x" }, []string{
			`identity provider configuration is invalid: issuer: "https://idp.example/#x" must not contain a fragment`,
		}},
		{"user info is not echoed", func(p *Provider) { p.JWKSURL = "https://u:hunter2@idp.example/keys" }, []string{
			"identity provider configuration is invalid: jwks_url: must not contain user info",
		}},
		{"http JWKS URL", func(p *Provider) { p.JWKSURL = "http://idp.example/keys" }, []string{
			`identity provider configuration is invalid: jwks_url: "http://idp.example/keys" must be an https URL`,
		}},
		{"blank audience", func(p *Provider) { p.Audience = "  " }, []string{
			`identity provider configuration is invalid: audience is required (the client id or API identifier the IdP puts in "aud")`,
		}},
		{"audience with spaces", func(p *Provider) { p.Audience = " gatehouse" }, []string{
			"identity provider configuration is invalid: audience has leading or trailing spaces",
		}},
		{"claim names", func(p *Provider) { p.UserClaim, p.GroupClaim = "user id", "\t" }, []string{
			`identity provider configuration is invalid: user_claim "user id" is not a claim name`,
			`identity provider configuration is invalid: group_claim "\t" is not a claim name`,
		}},
		{"algorithms", func(p *Provider) { p.Algorithms = []string{"none", "HS256", "hs512", "RS1", "RS256"} }, []string{
			`identity provider configuration is invalid: algorithm "none" is never accepted (unsigned tokens)`,
			`identity provider configuration is invalid: algorithm "HS256" is refused: shared-secret algorithms allow key confusion with a public JWKS`,
			`identity provider configuration is invalid: algorithm "hs512" is refused: shared-secret algorithms allow key confusion with a public JWKS`,
			`identity provider configuration is invalid: unknown algorithm "RS1" (known: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)`,
		}},
		{"negative leeway", func(p *Provider) { p.Leeway = -time.Second }, []string{
			"identity provider configuration is invalid: leeway -1s is negative",
		}},
		{"large leeway", func(p *Provider) { p.Leeway = time.Hour }, []string{
			"identity provider configuration is invalid: leeway 1h0m0s is more than 5m0s",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.edit(&p)
			err := p.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
				if !errors.Is(err, ErrConfig) {
					t.Errorf("err = %v, want errors.Is ErrConfig", err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("err = %v reveals a password", err)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate() problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProviderDefaults(t *testing.T) {
	got := Provider{Issuer: "https://idp.example", Audience: "a"}.withDefaults()
	want := Provider{
		Issuer: "https://idp.example", Audience: "a",
		UserClaim: "sub", Algorithms: []string{"RS256", "ES256"}, Leeway: 30 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("withDefaults() (-want +got):\n%s", diff)
	}
	// A Provider's allowlist must not alias the caller's slice.
	algs := []string{"RS256"}
	p := Provider{Issuer: "https://idp.example", Audience: "a", Algorithms: algs}.withDefaults()
	p.Algorithms[0] = "changed"
	if algs[0] != "RS256" {
		t.Errorf("caller's Algorithms modified through withDefaults: %v", algs)
	}
}
