package main

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/catalog"
)

func (c *cli) providerCmd() *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List the providers of the running server's catalog",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.call(cmd, "GET", "/v1/providers", nil, func(w io.Writer, raw []byte) error {
				var ps []catalog.Provider
				if err := decodeAnswer(raw, &ps); err != nil {
					return err
				}
				rows := make([][]string, 0, len(ps))
				for _, p := range ps {
					rows = append(rows, []string{p.ID, strings.Join(p.Credentials, ","), strings.Join(p.Hosts, " ")})
				}
				return table(w, []string{"ID", "CREDENTIALS", "HOSTS"}, rows)
			})
		},
	}
	return group("provider", "Inspect the provider catalog", list)
}
