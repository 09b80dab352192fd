package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/certs"
)

func (c *cli) caCmd() *cobra.Command {
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create the CA in the data directory (or load the existing one) and print its path",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd)
			if err != nil {
				return err
			}
			if err := ensureDataDir(cfg.DataDir); err != nil {
				return err
			}
			ca, err := certs.LoadOrCreateCA(cfg.DataDir, nil)
			if err != nil {
				return fmt.Errorf("CA: %w", err)
			}
			path := caCertPath(cfg.DataDir)
			out := map[string]string{"path": path, "fingerprint_sha256": ca.Fingerprint()}
			return c.printer().value(out, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, path)
				return err
			})
		},
	}
	exportCmd := &cobra.Command{
		Use:   "export",
		Short: "Print the CA certificate (PEM) from the data directory; no server needed",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.config(cmd)
			if err != nil {
				return err
			}
			path := caCertPath(cfg.DataDir)
			pem, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				return &cliError{Code: codeNotFound, Message: fmt.Sprintf(
					"no CA at %s; run `gatehouse ca init` or `gatehouse serve` with this --data-dir", path)}
			}
			if err != nil {
				return fmt.Errorf("read CA: %w", err)
			}
			return c.printer().value(map[string]string{"path": path, "pem": string(pem)}, func(w io.Writer) error {
				_, err := w.Write(pem)
				return err
			})
		},
	}
	return group("ca", "Manage the certificate authority clients must trust", initCmd, exportCmd)
}
