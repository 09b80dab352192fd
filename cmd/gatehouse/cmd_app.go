package main

import (
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/vault"
)

func (c *cli) appCmd() *cobra.Command {
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an app (the tenant boundary)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.call(cmd, "POST", "/v1/apps", map[string]string{"name": args[0]}, func(w io.Writer, raw []byte) error {
				var a vault.App
				if err := decodeAnswer(raw, &a); err != nil {
					return err
				}
				return fields(w, "app", a.Name, "id", a.ID)
			})
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List apps",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.call(cmd, "GET", "/v1/apps", nil, func(w io.Writer, raw []byte) error {
				var apps []vault.App
				if err := decodeAnswer(raw, &apps); err != nil {
					return err
				}
				rows := make([][]string, 0, len(apps))
				for _, a := range apps {
					rows = append(rows, []string{a.Name, a.ID, strings.Join(a.EgressAllow, ","), timeText(a.CreatedAt)})
				}
				return table(w, []string{"NAME", "ID", "EGRESS", "CREATED"}, rows)
			})
		},
	}
	set := &cobra.Command{
		Use:   "set APP [HOST...]",
		Short: "Replace the app's egress allowlist (hosts reachable as blind tunnels); no HOST clears it",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string][]string{"allow": append([]string{}, args[1:]...)}
			return c.call(cmd, "PUT", appPath(args[0], "egress"), body, func(w io.Writer, raw []byte) error {
				var a vault.App
				if err := decodeAnswer(raw, &a); err != nil {
					return err
				}
				return fields(w, "app", a.Name, "egress", strings.Join(a.EgressAllow, " "))
			})
		},
	}
	return group("app", "Manage apps", create, list, group("egress", "Manage an app's egress allowlist", set))
}

// call runs one admin API request for cmd and prints the answer: JSON as
// is, or text through render.
func (c *cli) call(cmd *cobra.Command, method, path string, body any, render func(w io.Writer, raw []byte) error) error {
	cl, err := c.client(cmd)
	if err != nil {
		return err
	}
	raw, err := cl.do(cmd.Context(), method, path, body)
	if err != nil {
		return err
	}
	return c.printer().raw(raw, func(w io.Writer) error { return render(w, raw) })
}

// timeText renders a timestamp for tables.
func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// shownOnce is the reminder printed next to a plaintext key.
func (c *cli) shownOnce(what string) {
	c.printer().note("The %s is shown only once: store it now.", what)
}
