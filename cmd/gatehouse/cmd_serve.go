package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func (c *cli) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the egress proxy and the admin API",
		Long: `Run the egress proxy and the admin API until SIGINT or SIGTERM.

With no configuration it uses ./.gatehouse as data directory, creating the CA,
a development KEK, the pepper, the admin token and the SQLite database there.
A second signal during the graceful shutdown exits immediately.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd)
			if err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			log := newLogger(cfg.Log, c.stderr)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				stop() // restore default handling: a second signal kills
			}()
			return runServe(ctx, cfg, log, c.stderr, c.version)
		},
	}
	addListenFlags(cmd.Flags())
	return cmd
}

// newLogger builds the process logger (validated level and format).
func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == outputText {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
