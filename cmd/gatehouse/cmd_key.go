package main

import (
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// keyAnswer is the answer to key creation.
type keyAnswer struct {
	vault.Key
	Plaintext string `json:"key"`
}

func (c *cli) keyCmd() *cobra.Command {
	create := &cobra.Command{
		Use:   "create --app APP [--agent NAME]",
		Short: "Create a caller key for the app, or for one of its agents (shown once)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			agent, _ := cmd.Flags().GetString("agent")
			body := map[string]string{}
			if agent != "" {
				body["agent"] = agent
			}
			err := c.call(cmd, "POST", appPath(app, "keys"), body, func(w io.Writer, raw []byte) error {
				var k keyAnswer
				if err := decodeAnswer(raw, &k); err != nil {
					return err
				}
				return fields(w, "key id", k.ID, "agent id", dash(k.AgentID), "key", k.Plaintext)
			})
			if err == nil {
				c.shownOnce("key")
			}
			return err
		},
	}
	create.Flags().String("agent", "", "agent name or id (default: an app key)")
	list := &cobra.Command{
		Use:   "list --app APP",
		Short: "List an app's keys (ids and status, never the secrets)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "GET", appPath(app, "keys"), nil, func(w io.Writer, raw []byte) error {
				var keys []vault.Key
				if err := decodeAnswer(raw, &keys); err != nil {
					return err
				}
				rows := make([][]string, 0, len(keys))
				for _, k := range keys {
					rows = append(rows, []string{k.ID, k.AgentID, k.Status, timeText(k.CreatedAt)})
				}
				return table(w, []string{"ID", "AGENT ID", "STATUS", "CREATED"}, rows)
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID --app APP",
		Short: "Revoke a key",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "DELETE", appPath(app, "keys", args[0]), nil, func(w io.Writer, raw []byte) error {
				var k vault.Key
				if err := decodeAnswer(raw, &k); err != nil {
					return err
				}
				return fields(w, "key id", k.ID, "status", k.Status)
			})
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate ID --app APP [--grace 24h]",
		Short: "Replace a key: a new key is shown once; the old one works until the grace period ends",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			grace, _ := cmd.Flags().GetDuration("grace")
			if grace < 0 {
				return usageErrorf("--grace must not be negative")
			}
			body := map[string]string{"grace": grace.String()}
			err := c.call(cmd, "POST", appPath(app, "keys", args[0], "rotate"), body, func(w io.Writer, raw []byte) error {
				var k struct {
					keyAnswer
					Replaced vault.Key `json:"replaced"`
				}
				if err := decodeAnswer(raw, &k); err != nil {
					return err
				}
				until := "now (revoked)"
				if k.Replaced.ExpiresAt != nil {
					until = timeText(*k.Replaced.ExpiresAt)
				}
				return fields(w, "key id", k.ID, "agent id", dash(k.AgentID), "key", k.Plaintext,
					"replaced key", k.Replaced.ID, "replaced key valid until", until)
			})
			if err == nil {
				c.shownOnce("new key")
			}
			return err
		},
	}
	rotate.Flags().Duration("grace", 24*time.Hour, "how long the old key keeps working (0s revokes it at once; at most 720h)")
	for _, cmd := range []*cobra.Command{create, list, revoke, rotate} {
		cmd.Flags().String("app", "", "app name or id (required)")
	}
	return group("key", "Manage caller keys", create, list, revoke, rotate)
}

// dash renders an empty value as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
