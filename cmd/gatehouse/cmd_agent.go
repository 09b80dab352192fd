package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// agentAnswer is the answer to agent creation.
type agentAnswer struct {
	vault.Agent
	Key   string `json:"key"`
	KeyID string `json:"key_id"`
}

func (c *cli) agentCmd() *cobra.Command {
	create := &cobra.Command{
		Use:   "create NAME --app APP",
		Short: "Create an agent and its first key (shown once)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			err := c.call(cmd, "POST", appPath(app, "agents"), map[string]string{"name": args[0]}, func(w io.Writer, raw []byte) error {
				var a agentAnswer
				if err := decodeAnswer(raw, &a); err != nil {
					return err
				}
				return fields(w, "agent", a.Name, "id", a.ID, "key id", a.KeyID, "key", a.Key)
			})
			if err == nil {
				c.shownOnce("agent key")
			}
			return err
		},
	}
	list := &cobra.Command{
		Use:   "list --app APP",
		Short: "List an app's agents",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "GET", appPath(app, "agents"), nil, func(w io.Writer, raw []byte) error {
				var agents []vault.Agent
				if err := decodeAnswer(raw, &agents); err != nil {
					return err
				}
				rows := make([][]string, 0, len(agents))
				for _, a := range agents {
					rows = append(rows, []string{a.Name, a.ID, timeText(a.CreatedAt)})
				}
				return table(w, []string{"NAME", "ID", "CREATED"}, rows)
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME --app APP",
		Short: "Delete an agent (name or id), revoking its keys and its agent:NAME grants",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "DELETE", appPath(app, "agents", args[0]), nil, func(w io.Writer, raw []byte) error {
				var a vault.Agent
				if err := decodeAnswer(raw, &a); err != nil {
					return err
				}
				return fields(w, "deleted agent", a.Name, "id", a.ID)
			})
		},
	}
	for _, cmd := range []*cobra.Command{create, list, del} {
		cmd.Flags().String("app", "", "app name or id (required)")
	}
	return group("agent", "Manage agents (workload identities inside an app)", create, list, del, c.agentAccessCmd())
}
