package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"
)

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			out := map[string]string{"version": c.version, "go": runtime.Version()}
			return c.printer().value(out, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "gatehouse %s (%s)\n", c.version, runtime.Version())
				return err
			})
		},
	}
}
