package main

import (
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// identityProvider is an app's identity provider as the admin API shows it.
type identityProvider struct {
	AppID      string    `json:"app_id"`
	Issuer     string    `json:"issuer"`
	JWKSURL    string    `json:"jwks_url"`
	Audience   string    `json:"audience"`
	UserClaim  string    `json:"user_claim"`
	GroupClaim string    `json:"group_claim"`
	Algorithms []string  `json:"algorithms"`
	Leeway     string    `json:"leeway"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func (c *cli) idpCmd() *cobra.Command {
	set := &cobra.Command{
		Use:   "set --app APP --issuer URL --audience AUD [--jwks-url URL] [--user-claim C] [--group-claim C] [--algorithms RS256,ES256] [--leeway 30s]",
		Short: "Set the identity provider whose JWTs (Gatehouse-User) name an app's users",
		Long: `Set an app's identity provider. Calls carrying a JWT in Gatehouse-User are
verified against it (signature from the JWKS, algorithm allowlist, exp/nbf with
leeway, issuer, audience) and use the grant of the user the token names
(principal user:<claim>, or group:<group> for its groups). Without --jwks-url
the keys are found by OpenID discovery from the issuer. Setting it again
replaces it.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app", "issuer", "audience"); err != nil {
				return err
			}
			f := cmd.Flags()
			app, _ := f.GetString("app")
			body := map[string]any{}
			for flag, field := range map[string]string{"issuer": "issuer", "audience": "audience", "jwks-url": "jwks_url",
				"user-claim": "user_claim", "group-claim": "group_claim", "leeway": "leeway"} {
				if v, _ := f.GetString(flag); v != "" {
					body[field] = v
				}
			}
			if algs, _ := f.GetString("algorithms"); algs != "" {
				body["algorithms"] = splitList(algs)
			}
			return c.call(cmd, "PUT", appPath(app, "identity"), body, renderIdentity)
		},
	}
	f := set.Flags()
	f.String("issuer", "", "the IdP's issuer URL, exactly as in the tokens' iss (required)")
	f.String("audience", "", "the aud value tokens must carry (required)")
	f.String("jwks-url", "", "JWKS URL (default: OpenID discovery from the issuer)")
	f.String("user-claim", "", `claim holding the user id (default "sub")`)
	f.String("group-claim", "", "claim holding the user's groups (default: none)")
	f.String("algorithms", "", "comma-separated allowed algorithms (default RS256,ES256; none and HS* refused)")
	f.String("leeway", "", "clock skew allowed on exp/nbf (default 30s, at most 5m)")
	show := &cobra.Command{
		Use:   "show --app APP",
		Short: "Show an app's identity provider",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "GET", appPath(app, "identity"), nil, renderIdentity)
		},
	}
	remove := &cobra.Command{
		Use:   "remove --app APP",
		Short: "Remove an app's identity provider (Gatehouse-User is refused from then on)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "DELETE", appPath(app, "identity"), nil, func(w io.Writer, raw []byte) error {
				var p identityProvider
				if err := decodeAnswer(raw, &p); err != nil {
					return err
				}
				return fields(w, "removed identity provider", p.Issuer, "app", app)
			})
		},
	}
	for _, cmd := range []*cobra.Command{set, show, remove} {
		cmd.Flags().String("app", "", "app name or id (required)")
	}
	return group("idp", "Manage an app's identity provider (JWT users)", set, show, remove)
}

// renderIdentity prints an identity provider.
func renderIdentity(w io.Writer, raw []byte) error {
	var p identityProvider
	if err := decodeAnswer(raw, &p); err != nil {
		return err
	}
	jwks := p.JWKSURL
	if jwks == "" {
		jwks = "discovered from the issuer"
	}
	return fields(w, "issuer", p.Issuer, "audience", p.Audience, "jwks", jwks, "user claim", p.UserClaim,
		"group claim", orNone(p.GroupClaim), "algorithms", strings.Join(p.Algorithms, ","), "leeway", p.Leeway,
		"updated", timeText(p.UpdatedAt))
}
