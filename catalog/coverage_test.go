package catalog

import (
	"net/url"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Catalog size the OAuth issue (#4) asks of the built-in catalog.
const (
	minProviders      = 100
	minOAuthProviders = 60
)

// TestCatalogCoverage checks the size and shape the OAuth issue asks of the
// built-in catalog: enough providers, enough of them OAuth-capable, every
// named provider present, and every OAuth block complete and explicit.
func TestCatalogCoverage(t *testing.T) {
	// The providers issue #4 names; each is one entry even when it takes
	// both a user's OAuth grant and an operator's token.
	mustInclude := []string{
		"google", "microsoft", "slack", "github", "gitlab", "bitbucket", "atlassian", "notion",
		"linear", "hubspot", "salesforce", "zoom", "dropbox", "box", "airtable", "asana", "discord",
		"figma", "calendly", "xero", "quickbooks", "shopify", "spotify", "twitter", "linkedin",
		"zendesk", "intercom", "pipedrive", "monday", "clickup", "sentry", "stripe", "square",
		"docusign", "mailchimp",
	}
	// Named providers whose OAuth URLs live on the tenant's own host
	// (https://<shop>.myshopify.com/admin/oauth/..., https://<subdomain>.zendesk.com/oauth/...):
	// the schema has no tenant placeholder, so they are in the catalog for
	// their tokens only.
	tenantOAuth := []string{"shopify", "zendesk"}

	c, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	all := c.List()
	var oauth []*Provider
	for _, p := range all {
		if p.Accepts(KindOAuth2) && p.OAuth != nil {
			oauth = append(oauth, p)
		}
	}

	t.Run("counts", func(t *testing.T) {
		if len(all) < minProviders {
			t.Errorf("catalog has %d providers; want at least %d", len(all), minProviders)
		}
		if len(oauth) < minOAuthProviders {
			t.Errorf("catalog has %d OAuth-capable providers; want at least %d", len(oauth), minOAuthProviders)
		}
	})

	t.Run("must include", func(t *testing.T) {
		var missing, notOAuth []string
		for _, id := range mustInclude {
			p, ok := c.Get(id)
			switch {
			case !ok:
				missing = append(missing, id)
			case !p.Accepts(KindOAuth2) && !slices.Contains(tenantOAuth, id):
				notOAuth = append(notOAuth, id)
			}
		}
		if diff := cmp.Diff([]string(nil), missing); diff != "" {
			t.Errorf("missing providers (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string(nil), notOAuth); diff != "" {
			t.Errorf("named providers without oauth2 (-want +got):\n%s", diff)
		}
	})

	t.Run("hosts unique", func(t *testing.T) {
		seen := make(map[string]string)
		for _, h := range c.Hosts() {
			if prev, dup := seen[h.Pattern]; dup {
				t.Errorf("host %q is listed by %s and %s", h.Pattern, prev, h.Provider)
			}
			seen[h.Pattern] = h.Provider
		}
	})

	for _, p := range oauth {
		t.Run("oauth/"+p.ID, func(t *testing.T) {
			o := p.OAuth
			for _, u := range []struct{ field, value string }{
				{"authorize_url", o.AuthorizeURL},
				{"token_url", o.TokenURL},
				{"revoke_url", o.RevokeURL},
			} {
				if u.value == "" && u.field == "revoke_url" {
					continue // optional: many providers have no RFC 7009 endpoint
				}
				parsed, err := url.Parse(u.value)
				if err != nil || parsed.Scheme != "https" || parsed.Host == "" {
					t.Errorf("%s = %q; want an absolute https URL", u.field, u.value)
				}
			}
			if o.AuthStyle != AuthStyleHeader && o.AuthStyle != AuthStyleParams {
				t.Errorf("auth_style = %q; want %q or %q set explicitly", o.AuthStyle, AuthStyleHeader, AuthStyleParams)
			}
			if p.Docs == "" {
				t.Error("docs is empty")
			}
		})
	}
}
