package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/policy"
)

// maxPolicyBytes bounds a policy file the CLI reads (the admin API's body
// limit).
const maxPolicyBytes = 1 << 20

// appPolicy is an app's stored policy as the admin API shows it.
type appPolicy struct {
	AppID     string    `json:"app_id"`
	Version   int64     `json:"version"`
	Rules     []string  `json:"rules"`
	Document  string    `json:"document"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (c *cli) policyCmd() *cobra.Command {
	check := &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate policy files locally (no server): prints OK, or every problem as file:line: field: message",
		Long: `Validate policy files (or directories of *.yaml / *.yml files) the way the
server loads them: every file is parsed and all their rules are compiled
together (rule names must be unique across files). Nothing is sent anywhere.
Exit 0 when they are valid, 1 with every problem otherwise.`,
		Args: minArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return c.policyCheck(args) },
	}
	set := &cobra.Command{
		Use:   "set FILE --app APP",
		Short: `Set an app's policy from a YAML file ("-" for stdin); replaces the previous one`,
		Long: `Set an app's policy: rules that restrict the app's own calls (match.apps is
forced to the app). Loaded rule names get the app's name as prefix
("acme.read-only") so they never collide with other apps' or the files'
rules. Every replica applies the change at once.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			data, err := readPolicyFile(c.stdin, args[0])
			if err != nil {
				return err
			}
			// Checked here first so problems name the local file.
			if _, err := policy.Parse(fileLabel(args[0]), data); err != nil {
				return &cliError{Code: codeInvalidRequest, Message: "invalid policy:\n" + problemLines(err)}
			}
			app, _ := cmd.Flags().GetString("app")
			cl, err := c.client(cmd)
			if err != nil {
				return err
			}
			raw, err := cl.send(cmd.Context(), "PUT", appPath(app, "policy"), "application/yaml", data)
			if err != nil {
				return err
			}
			return c.printer().raw(raw, func(w io.Writer) error {
				var p appPolicy
				if err := decodeAnswer(raw, &p); err != nil {
					return err
				}
				return fields(w, "policy of app", app, "version", fmt.Sprint(p.Version), "rules", orNone(strings.Join(p.Rules, " ")))
			})
		},
	}
	get := &cobra.Command{
		Use:   "get --app APP",
		Short: "Print an app's policy document (as set; -o json adds version and loaded rule names)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "GET", appPath(app, "policy"), nil, func(w io.Writer, raw []byte) error {
				var p appPolicy
				if err := decodeAnswer(raw, &p); err != nil {
					return err
				}
				_, err := io.WriteString(w, p.Document)
				return err
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete --app APP",
		Short: "Remove an app's policy (its rules stop applying on every replica)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "DELETE", appPath(app, "policy"), nil, func(w io.Writer, raw []byte) error {
				var p appPolicy
				if err := decodeAnswer(raw, &p); err != nil {
					return err
				}
				return fields(w, "removed policy of app", app, "version", fmt.Sprint(p.Version))
			})
		},
	}
	for _, cmd := range []*cobra.Command{set, get, del} {
		cmd.Flags().String("app", "", "app name or id (required)")
	}
	return group("policy", "Check, set and explain policies", check, set, get, del, c.policyExplainCmd())
}

// checkedFile is one file of a successful policy check.
type checkedFile struct {
	File  string `json:"file"`
	Rules int    `json:"rules"`
}

// policyCheck validates paths (files or directories) without a server.
func (c *cli) policyCheck(paths []string) error {
	var (
		all   []policy.Rule
		files []checkedFile
		errs  []error
	)
	for _, p := range paths {
		var (
			rules []policy.Rule
			err   error
		)
		if st, serr := os.Stat(p); serr == nil && st.IsDir() {
			rules, err = policy.LoadDir(p)
		} else {
			var data []byte
			if data, err = readPolicyFile(c.stdin, p); err == nil {
				rules, err = policy.Parse(fileLabel(p), data)
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		files = append(files, checkedFile{File: fileLabel(p), Rules: len(rules)})
		all = append(all, rules...)
	}
	if len(errs) == 0 {
		if _, err := policy.Compile(policy.Config{}, all, policy.NewMemoryLimiter(time.Now)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &cliError{Code: codeError, Message: "invalid policy:\n" + problemLines(errors.Join(errs...))}
	}
	return c.printer().value(map[string]any{"ok": true, "files": files}, func(w io.Writer) error {
		for _, f := range files {
			if _, err := fmt.Fprintf(w, "%s: OK (%d rules)\n", f.File, f.Rules); err != nil {
				return err
			}
		}
		return nil
	})
}

// fileLabel names a policy file argument in messages ("-" is stdin).
func fileLabel(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

// problemLines flattens joined policy errors into one problem per line.
func problemLines(err error) string {
	var lines []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				walk(inner)
			}
			return
		}
		lines = append(lines, e.Error())
	}
	walk(err)
	return strings.Join(lines, "\n")
}

// readPolicyFile reads a policy file ("-": stdin), bounded.
func readPolicyFile(stdin io.Reader, path string) ([]byte, error) {
	r, from := stdin, "stdin"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, &cliError{Code: codeError, Message: fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))}
		}
		defer f.Close()
		r, from = f, path
	}
	data, err := io.ReadAll(io.LimitReader(r, maxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", from, err)
	}
	if len(data) > maxPolicyBytes {
		return nil, usageErrorf("%s is larger than %d bytes", from, maxPolicyBytes)
	}
	return data, nil
}
