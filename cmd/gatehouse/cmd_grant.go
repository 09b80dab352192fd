package main

import (
	"io"
	"net/url"

	"github.com/spf13/cobra"
)

func (c *cli) grantCmd() *cobra.Command {
	list := &cobra.Command{
		Use:   "list --app APP [--provider ID] [--principal P] [--status S]",
		Short: "List an app's grants",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			q := queryFromFlags(cmd, map[string]string{"provider": "provider", "principal": "principal", "status": "status"})
			return c.call(cmd, "GET", appPath(app, "grants")+q, nil, func(w io.Writer, raw []byte) error {
				var grants []grantAnswer
				if err := decodeAnswer(raw, &grants); err != nil {
					return err
				}
				rows := make([][]string, 0, len(grants))
				for _, g := range grants {
					rows = append(rows, []string{g.ID, g.ProviderID, g.Principal, g.Status, timeText(g.CreatedAt)})
				}
				return table(w, []string{"GRANT ID", "PROVIDER", "PRINCIPAL", "STATUS", "CREATED"}, rows)
			})
		},
	}
	list.Flags().String("provider", "", "only this provider")
	list.Flags().String("principal", "", "only this principal")
	list.Flags().String("status", "", "only this status: active, expired, revoked, needs_reauth")
	revoke := &cobra.Command{
		Use:   "revoke GRANT_ID --app APP",
		Short: "Revoke a grant (the credential stays)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "POST", appPath(app, "grants", args[0], "revoke"), nil, renderRevoked)
		},
	}
	revoke.Long = `Revoke a grant. For an OAuth grant Gatehouse also revokes the token at the
provider where the provider has a revocation endpoint (provider_revoked), then
deletes the token set; a provider failure (provider_error) does not stop the
local revocation.`
	for _, cmd := range []*cobra.Command{list, revoke} {
		cmd.Flags().String("app", "", "app name or id (required)")
	}
	return group("grant", "Manage grants and their delegations", list, revoke,
		c.grantCreateCmd(), c.grantDelegateCmd(), c.grantDelegationsCmd(), c.grantUndelegateCmd())
}

// revokedAnswer is the answer of a grant revocation.
type revokedAnswer struct {
	grantAnswer
	ProviderRevoked *bool  `json:"provider_revoked"`
	ProviderError   string `json:"provider_error"`
}

// renderRevoked renders a revocation answer.
func renderRevoked(w io.Writer, raw []byte) error {
	var g revokedAnswer
	if err := decodeAnswer(raw, &g); err != nil {
		return err
	}
	pairs := []string{"grant id", g.ID, "provider", g.ProviderID, "principal", g.Principal, "status", g.Status}
	switch {
	case g.ProviderError != "":
		pairs = append(pairs, "at the provider", "not revoked: "+g.ProviderError)
	case g.ProviderRevoked != nil && *g.ProviderRevoked:
		pairs = append(pairs, "at the provider", "revoked")
	case g.ProviderRevoked != nil:
		pairs = append(pairs, "at the provider", "no revocation endpoint; token set deleted")
	}
	return fields(w, pairs...)
}

// queryFromFlags builds "?k=v&…" from the string flags that are set,
// mapping flag name to query parameter name.
func queryFromFlags(cmd *cobra.Command, params map[string]string) string {
	q := url.Values{}
	for flag, param := range params {
		if v, _ := cmd.Flags().GetString(flag); v != "" {
			q.Set(param, v)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
