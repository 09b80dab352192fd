package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// maxSecretBytes bounds a secret value read from stdin or a file.
const maxSecretBytes = 64 << 10

// secretAnswer is the answer to secret put and rotate.
type secretAnswer struct {
	GrantID      string `json:"grant_id"`
	CredentialID string `json:"credential_id"`
	Provider     string `json:"provider"`
	Principal    string `json:"principal"`
	Kind         string `json:"kind"`
	Version      int64  `json:"version"`
	Status       string `json:"status"`
	Placeholder  string `json:"placeholder"`
}

func (c *cli) secretCmd() *cobra.Command {
	put := &cobra.Command{
		Use:   "put --app APP --provider ID --principal system|agent:NAME|user:ID [--kind api_key|basic] [--file F]",
		Short: "Store a secret for a provider and grant it to a principal (value on stdin or --file)",
		Long: `Store a secret for a provider and grant it to a principal.

The value is read from stdin (or --file; "-" is stdin), never from a flag, so it
stays out of shell history and process listings. One trailing newline is
trimmed. For kind basic the value is username:password. The kind defaults to
basic for providers that accept only basic credentials, else api_key.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app", "provider", "principal"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			body := map[string]string{}
			for _, f := range []string{"provider", "principal", "kind"} {
				if v, _ := cmd.Flags().GetString(f); v != "" {
					body[f] = v
				}
			}
			value, err := c.readSecret(cmd)
			if err != nil {
				return err
			}
			body["value"] = value
			return c.call(cmd, "POST", appPath(app, "secrets"), body, c.renderSecret(true))
		},
	}
	put.Flags().String("provider", "", "provider id (see gatehouse provider list) (required)")
	put.Flags().String("principal", "", "who may use it: system, agent:NAME or user:ID (required)")
	put.Flags().String("kind", "", "api_key or basic (default from the provider)")

	rotate := &cobra.Command{
		Use:   "rotate GRANT_ID --app APP [--file F]",
		Short: "Replace the secret behind a grant (value on stdin or --file)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			value, err := c.readSecret(cmd)
			if err != nil {
				return err
			}
			return c.call(cmd, "PUT", appPath(app, "secrets", args[0]), map[string]string{"value": value}, c.renderSecret(false))
		},
	}
	del := &cobra.Command{
		Use:   "delete GRANT_ID --app APP",
		Short: "Delete the secret behind a grant and revoke the grant",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "DELETE", appPath(app, "secrets", args[0]), nil, renderGrant)
		},
	}
	for _, cmd := range []*cobra.Command{put, rotate} {
		cmd.Flags().String("file", "", `read the value from this file ("-" for stdin; default stdin)`)
	}
	for _, cmd := range []*cobra.Command{put, rotate, del} {
		cmd.Flags().String("app", "", "app name or id (required)")
	}
	return group("secret", "Manage secrets (API keys, basic credentials) and their grants", put, rotate, del)
}

// renderSecret renders a put or rotate answer; put also shows how to use
// the placeholder.
func (c *cli) renderSecret(hint bool) func(io.Writer, []byte) error {
	return func(w io.Writer, raw []byte) error {
		var s secretAnswer
		if err := decodeAnswer(raw, &s); err != nil {
			return err
		}
		err := fields(w, "grant id", s.GrantID, "credential id", s.CredentialID, "provider", s.Provider,
			"principal", s.Principal, "kind", s.Kind, "version", fmt.Sprint(s.Version), "placeholder", s.Placeholder)
		if err == nil && hint {
			c.printer().note("Clients use the placeholder wherever the real secret would go (for example %s_API_KEY=%s).",
				strings.ToUpper(strings.ReplaceAll(s.Provider, "-", "_")), s.Placeholder)
		}
		return err
	}
}

// readSecret reads the secret value from --file or stdin, trims one
// trailing newline and refuses an empty or oversized value.
func (c *cli) readSecret(cmd *cobra.Command) (string, error) {
	file, _ := cmd.Flags().GetString("file")
	var (
		r    io.Reader = c.stdin
		from           = "stdin"
	)
	if file != "" && file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--file: %w", err)
		}
		defer f.Close()
		r, from = f, file
	} else if f, ok := c.stdin.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			c.printer().note("Reading the secret from the terminal; end with Ctrl-D.")
		}
	}
	data, err := io.ReadAll(io.LimitReader(r, maxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("read secret from %s: %w", from, err)
	}
	if len(data) > maxSecretBytes {
		return "", usageErrorf("the secret from %s is larger than %d bytes", from, maxSecretBytes)
	}
	value := string(data)
	if v, ok := strings.CutSuffix(value, "\n"); ok {
		value = strings.TrimSuffix(v, "\r")
	}
	if value == "" {
		return "", usageErrorf("the secret from %s is empty", from)
	}
	return value, nil
}

// grantAnswer is a grant as the API shows it.
type grantAnswer struct {
	vault.Grant
	Placeholder string `json:"placeholder"`
}

// renderGrant renders one grant answer.
func renderGrant(w io.Writer, raw []byte) error {
	var g grantAnswer
	if err := decodeAnswer(raw, &g); err != nil {
		return err
	}
	return fields(w, "grant id", g.ID, "provider", g.ProviderID, "principal", g.Principal, "status", g.Status)
}
