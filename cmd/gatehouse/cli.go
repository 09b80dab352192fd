package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
)

// cli is one invocation of the gatehouse command: its streams and the
// values of the persistent flags.
type cli struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	version string

	output     string
	configFile string
	server     string
	token      string
}

// run executes args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, version string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, version: version}
	root := c.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		c.printer().failure(err)
	}
	return exitCode(err)
}

// printer returns the output printer for the --output mode.
func (c *cli) printer() printer {
	return printer{json: c.output == outputJSON, stdout: c.stdout, stderr: c.stderr}
}

// rootCmd builds the command tree.
func (c *cli) rootCmd() *cobra.Command {
	root := group("gatehouse", "Credential egress proxy: vault, authorization and audit for outbound API calls")
	root.Long = `Gatehouse is a forward HTTPS egress proxy that injects stored credentials into
calls to third-party APIs, checks who may use them, and audits every call.

Admin commands talk to the admin API of a running "gatehouse serve": the server
comes from --server or GATEHOUSE_SERVER (default http://<admin.listen>), the
token from --token or GATEHOUSE_ADMIN_TOKEN (default: <data_dir>/admin-token).

Exit codes: 0 ok, 1 error, 2 usage, 3 auth, 4 not found, 5 conflict.`
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	pf := root.PersistentFlags()
	addConfigFlags(pf)
	pf.StringVarP(&c.output, "output", "o", outputText, "output format: text or json (json prints exactly one JSON value on stdout)")
	pf.StringVar(&c.server, "server", "", "admin API base URL (env GATEHOUSE_SERVER; default: <data_dir>/admin-url written by serve, else http://<admin.listen>)")
	pf.StringVar(&c.token, "token", "", "admin token; visible in process listings, so prefer env GATEHOUSE_ADMIN_TOKEN (default read from <data_dir>/admin-token)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if c.output != outputText && c.output != outputJSON {
			return usageErrorf("--output must be text or json, not %q", c.output)
		}
		c.configFile, _ = cmd.Flags().GetString("config")
		return nil
	}
	root.AddCommand(
		c.serveCmd(),
		c.caCmd(),
		c.appCmd(),
		c.agentCmd(),
		c.keyCmd(),
		c.secretCmd(),
		c.grantCmd(),
		c.auditCmd(),
		c.providerCmd(),
		c.connectCmd(),
		c.policyCmd(),
		c.idpCmd(),
		c.vaultCmd(),
		c.migrateCmd(),
		c.versionCmd(),
	)
	return root
}

// group is a command that only holds subcommands. Run without one (or with
// an unknown one) it is a usage error, so scripts get exit code 2.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())
			}
			return usageErrorf("%s needs a subcommand; see %s --help", cmd.CommandPath(), cmd.CommandPath())
		},
	}
	g.AddCommand(subs...)
	return g
}

// exactArgs requires n positional arguments (a usage error otherwise).
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %d argument(s), got %d; usage: %s", cmd.CommandPath(), n, len(args), cmd.UseLine())
		}
		return nil
	}
}

// minArgs requires at least n positional arguments.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf("%s takes at least %d argument(s); usage: %s", cmd.CommandPath(), n, cmd.UseLine())
		}
		return nil
	}
}

// required fails with a usage error when a string flag is empty.
func required(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if v, _ := cmd.Flags().GetString(n); v == "" {
			return usageErrorf("--%s is required; usage: %s", n, cmd.UseLine())
		}
	}
	return nil
}

// config loads the configuration for cmd (file, env, flags); it does not
// validate, which only serve needs.
func (c *cli) config(cmd *cobra.Command) (Config, error) {
	return loadConfig(c.configFile, cmd.Flags())
}

// client returns an admin API client for cmd, resolving the server and
// token from flags, environment and the data directory.
func (c *cli) client(cmd *cobra.Command) (*client, error) {
	server := firstNonEmpty(c.server, os.Getenv("GATEHOUSE_SERVER"))
	token := firstNonEmpty(c.token, os.Getenv("GATEHOUSE_ADMIN_TOKEN"))
	if server == "" || token == "" {
		cfg, err := c.config(cmd)
		if err != nil {
			return nil, err
		}
		if server == "" {
			server = firstNonEmpty(publishedAdminURL(cfg.DataDir), "http://"+browsableAddr(cfg.Admin.Listen))
		}
		if token == "" {
			path := adminTokenPath(cfg.DataDir)
			if token, err = readAdminToken(path); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil, &cliError{Code: codeUnauthorized, Message: fmt.Sprintf(
						"no admin token: %s does not exist; pass --token, set GATEHOUSE_ADMIN_TOKEN, or point --data-dir at the directory `gatehouse serve` uses", path)}
				}
				return nil, err
			}
		}
	}
	return newClient(server, token), nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
