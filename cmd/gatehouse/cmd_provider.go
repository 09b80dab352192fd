package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/catalog"
)

// providerCmd is "gatehouse provider" (alias "providers"): the running
// server's catalog, which is the built-in one plus any catalog.dirs files.
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
	show := &cobra.Command{
		Use:   "show ID [--app APP]",
		Short: "Show one provider: hosts, injection and OAuth settings (and an app's OAuth client)",
		Long: `Show one provider of the running server's catalog.

With --output json the answer is that provider's entry alone, in the same shape
as one element of "gatehouse provider list --output json". With --app it also
carries "settings": the app's OAuth client for the provider (client id, scopes,
has_client_secret; never the secret), or null when the app configured none.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.showProvider(cmd, args[0])
		},
	}
	show.Flags().String("app", "", "also show this app's OAuth client for the provider")
	g := group("provider", "Inspect the provider catalog and configure apps' OAuth clients", list, show,
		c.providerConfigureCmd(), c.providerUnconfigureCmd())
	g.Aliases = []string{"providers"}
	return g
}

// showProvider prints one catalog entry. The admin API lists the whole
// catalog (GET /v1/providers), so the entry is picked out here; its JSON is
// passed through verbatim so fields added to catalog.Provider later appear
// without a CLI change.
func (c *cli) showProvider(cmd *cobra.Command, id string) error {
	cl, err := c.client(cmd)
	if err != nil {
		return err
	}
	raw, err := cl.do(cmd.Context(), "GET", "/v1/providers", nil)
	if err != nil {
		return err
	}
	var entries []json.RawMessage
	if err := decodeAnswer(raw, &entries); err != nil {
		return err
	}
	for _, e := range entries {
		var p catalog.Provider
		if err := decodeAnswer(e, &p); err != nil {
			return err
		}
		if p.ID != id {
			continue
		}
		app, _ := cmd.Flags().GetString("app")
		if app == "" {
			return c.printer().raw(e, func(w io.Writer) error { return providerText(w, &p) })
		}
		settings, err := appSettings(cmd.Context(), cl, app, id)
		if err != nil {
			return err
		}
		merged, err := withSettings(e, settings)
		if err != nil {
			return err
		}
		return c.printer().raw(merged, func(w io.Writer) error {
			if err := providerText(w, &p); err != nil {
				return err
			}
			return settingsText(w, app, settings)
		})
	}
	return &cliError{Code: codeNotFound, Message: fmt.Sprintf(
		"provider %q is not in the server's catalog; see gatehouse provider list", id)}
}

// providerText renders one provider as aligned "name  value" lines.
func providerText(w io.Writer, p *catalog.Provider) error {
	inject := p.Inject.Header + ": " + p.Inject.Value
	if p.Inject.Query != "" {
		inject = "?" + p.Inject.Query + "=" + p.Inject.Value
	}
	pairs := []string{
		"id", p.ID,
		"name", p.Name,
		"credentials", strings.Join(p.Credentials, ", "),
		"hosts", strings.Join(p.Hosts, " "),
		"inject", inject,
	}
	if o := p.OAuth; o != nil {
		pairs = append(pairs,
			"authorize url", o.AuthorizeURL,
			"token url", o.TokenURL,
			"revoke url", orNone(o.RevokeURL),
			"scopes", orNone(strings.Join(o.Scopes, " ")),
			"pkce", strconv.FormatBool(o.PKCE),
			"client auth", o.AuthStyle,
			"rotating refresh", strconv.FormatBool(o.RotatingRefresh),
			"default lifetime", orNone(o.DefaultLifetime),
		)
		if len(o.ExtraParams) > 0 {
			pairs = append(pairs, "extra params", extraParams(o.ExtraParams))
		}
	}
	pairs = append(pairs, "docs", orNone(p.Docs), "source", orNone(p.Source))
	return fields(w, pairs...)
}

// extraParams renders authorize parameters as a sorted k=v list.
func extraParams(m map[string]string) string {
	kv := make([]string, 0, len(m))
	for k, v := range m {
		kv = append(kv, k+"="+v)
	}
	slices.Sort(kv)
	return strings.Join(kv, " ")
}

// orNone shows an unset optional field as "-".
func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
