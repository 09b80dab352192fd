package main

import (
	"io"
	"time"

	"github.com/spf13/cobra"
)

// delegationAnswer is a delegation as the admin API shows it.
type delegationAnswer struct {
	ID        string    `json:"id"`
	GrantID   string    `json:"grant_id"`
	AgentID   string    `json:"agent_id"`
	Agent     string    `json:"agent"`
	CreatedAt time.Time `json:"created_at"`
}

func (c *cli) grantCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --app APP --provider ID --client-credentials [--principal P] [--scopes a,b]",
		Short: "Create a client-credentials grant: a token minted with the app's OAuth client",
		Long: `Create a grant whose token Gatehouse mints from the app's OAuth client id and
secret (OAuth client_credentials) and mints again when it expires. The app must
have configured the provider (gatehouse provider configure). The principal
defaults to system. API keys are stored with "gatehouse secret put", users'
OAuth grants with "gatehouse connect".`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app", "provider"); err != nil {
				return err
			}
			if cc, _ := cmd.Flags().GetBool("client-credentials"); !cc {
				return usageErrorf("grant create makes client-credentials grants only: add --client-credentials (API keys: gatehouse secret put; users' OAuth grants: gatehouse connect)")
			}
			app, _ := cmd.Flags().GetString("app")
			provider, _ := cmd.Flags().GetString("provider")
			principal, _ := cmd.Flags().GetString("principal")
			scopes, _ := cmd.Flags().GetString("scopes")
			body := map[string]any{"provider": provider, "grant_type": "client_credentials", "scopes": splitList(scopes)}
			if principal != "" {
				body["principal"] = principal
			}
			return c.call(cmd, "POST", appPath(app, "grants"), body, func(w io.Writer, raw []byte) error {
				var g grantAnswer
				if err := decodeAnswer(raw, &g); err != nil {
					return err
				}
				return fields(w, "grant id", g.ID, "provider", g.ProviderID, "principal", g.Principal,
					"status", g.Status, "placeholder", g.Placeholder)
			})
		},
	}
	f := cmd.Flags()
	f.String("app", "", "app name or id (required)")
	f.String("provider", "", "provider id (required)")
	f.Bool("client-credentials", false, "mint the token with the app's OAuth client (required)")
	f.String("principal", "", "who may use it: system (default), agent:NAME or user:ID")
	f.String("scopes", "", "comma-separated scopes (default: the app's configured scopes, else the catalog's)")
	return cmd
}

func (c *cli) grantDelegateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delegate GRANT_ID --app APP --agent NAME",
		Short: "Let an agent use a user's grant",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app", "agent"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			agent, _ := cmd.Flags().GetString("agent")
			return c.call(cmd, "POST", appPath(app, "grants", args[0], "delegations"), map[string]string{"agent": agent}, renderDelegation)
		},
	}
	cmd.Flags().String("app", "", "app name or id (required)")
	cmd.Flags().String("agent", "", "agent name or id (required)")
	return cmd
}

func (c *cli) grantDelegationsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delegations --app APP [--grant GRANT_ID] [--agent NAME]",
		Short: "List an app's delegations",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			q := queryFromFlags(cmd, map[string]string{"grant": "grant", "agent": "agent"})
			return c.call(cmd, "GET", appPath(app, "delegations")+q, nil, func(w io.Writer, raw []byte) error {
				var ds []delegationAnswer
				if err := decodeAnswer(raw, &ds); err != nil {
					return err
				}
				rows := make([][]string, 0, len(ds))
				for _, d := range ds {
					rows = append(rows, []string{d.ID, d.GrantID, d.Agent, timeText(d.CreatedAt)})
				}
				return table(w, []string{"DELEGATION ID", "GRANT ID", "AGENT", "CREATED"}, rows)
			})
		},
	}
	cmd.Flags().String("app", "", "app name or id (required)")
	cmd.Flags().String("grant", "", "only this grant")
	cmd.Flags().String("agent", "", "only this agent (name or id)")
	return cmd
}

func (c *cli) grantUndelegateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "undelegate DELEGATION_ID --app APP",
		Short: "Remove a delegation (the grant stays)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "DELETE", appPath(app, "delegations", args[0]), nil, renderDelegation)
		},
	}
	cmd.Flags().String("app", "", "app name or id (required)")
	return cmd
}

// renderDelegation renders one delegation answer.
func renderDelegation(w io.Writer, raw []byte) error {
	var d delegationAnswer
	if err := decodeAnswer(raw, &d); err != nil {
		return err
	}
	return fields(w, "delegation id", d.ID, "grant id", d.GrantID, "agent", d.Agent)
}
