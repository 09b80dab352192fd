package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

// accessEntry is an agent's access-set entry as the admin API shows it.
type accessEntry struct {
	ID         string    `json:"id"`
	AgentID    string    `json:"agent_id"`
	Agent      string    `json:"agent"`
	ProviderID string    `json:"provider_id"`
	GrantID    string    `json:"grant_id"`
	CreatedAt  time.Time `json:"created_at"`
}

func (c *cli) agentAccessCmd() *cobra.Command {
	add := &cobra.Command{
		Use:   "add NAME --app APP (--provider P | --grant G)",
		Short: "Let an agent use a grant, or the app's system grants of a provider",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			provider, _ := cmd.Flags().GetString("provider")
			grant, _ := cmd.Flags().GetString("grant")
			if (provider == "") == (grant == "") {
				return usageErrorf("give exactly one of --provider and --grant; usage: %s", cmd.UseLine())
			}
			body := map[string]string{"provider": provider, "grant": grant}
			return c.call(cmd, "POST", appPath(app, "agents", args[0], "access"), body, func(w io.Writer, raw []byte) error {
				var e accessEntry
				if err := decodeAnswer(raw, &e); err != nil {
					return err
				}
				return fields(w, "access id", e.ID, "agent", e.Agent, "provider", dash(e.ProviderID), "grant", dash(e.GrantID))
			})
		},
	}
	add.Flags().String("provider", "", "provider id: the app's system grants for it")
	add.Flags().String("grant", "", "grant id")
	list := &cobra.Command{
		Use:   "list NAME --app APP",
		Short: "List an agent's access set",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "GET", appPath(app, "agents", args[0], "access"), nil, renderAccess)
		},
	}
	remove := &cobra.Command{
		Use:   "remove ID --app APP",
		Short: "Remove an entry from an agent's access set (the grant itself stays)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			cl, err := c.client(cmd)
			if err != nil {
				return err
			}
			raw, err := cl.do(cmd.Context(), "GET", appPath(app, "access"), nil)
			if err != nil {
				return err
			}
			var all []accessEntry
			if err := decodeAnswer(raw, &all); err != nil {
				return err
			}
			agentID := ""
			for _, e := range all {
				if e.ID == args[0] {
					agentID = e.AgentID
				}
			}
			if agentID == "" {
				return &cliError{Code: codeNotFound, Message: fmt.Sprintf("access entry %q not found in app %s", args[0], app)}
			}
			return c.call(cmd, "DELETE", appPath(app, "agents", agentID, "access", args[0]), nil, func(w io.Writer, raw []byte) error {
				var e accessEntry
				if err := decodeAnswer(raw, &e); err != nil {
					return err
				}
				return fields(w, "removed access", e.ID, "agent", e.Agent, "provider", dash(e.ProviderID), "grant", dash(e.GrantID))
			})
		},
	}
	for _, cmd := range []*cobra.Command{add, list, remove} {
		cmd.Flags().String("app", "", "app name or id (required)")
	}
	return group("access", "Manage an agent's access set (which grants and providers it may use)", add, list, remove)
}

// renderAccess prints access-set entries.
func renderAccess(w io.Writer, raw []byte) error {
	var entries []accessEntry
	if err := decodeAnswer(raw, &entries); err != nil {
		return err
	}
	rows := make([][]string, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, []string{e.ID, e.Agent, e.ProviderID, e.GrantID, timeText(e.CreatedAt)})
	}
	return table(w, []string{"ID", "AGENT", "PROVIDER", "GRANT", "CREATED"}, rows)
}
