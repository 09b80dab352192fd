package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// providerSettings is an app's OAuth client for one provider as the admin
// API shows it (never the secret).
type providerSettings struct {
	AppID           string    `json:"app_id"`
	ProviderID      string    `json:"provider_id"`
	ClientID        string    `json:"client_id"`
	HasClientSecret bool      `json:"has_client_secret"`
	Scopes          []string  `json:"scopes"`
	DefaultScopes   []string  `json:"default_scopes"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func (c *cli) providerConfigureCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "configure ID --app APP --client-id CID (--client-secret-file F | --client-secret-stdin | --public-client) [--scopes a,b]",
		Short: "Set an app's OAuth client (id, secret, scopes) for a provider",
		Long: `Set the OAuth client an app uses with a provider: the client id and secret
registered at the provider, and optionally the scopes to request (default: the
catalog's). The redirect URI to register at the provider is
<admin.public_url>/oauth/callback.

The secret is read from a file or stdin, never from a flag, so it stays out of
shell history and process listings; one trailing newline is trimmed. A public
client (PKCE only, no secret) needs --public-client. Configuring again replaces
the previous client; grants already made keep working with the new one.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app", "client-id"); err != nil {
				return err
			}
			secret, err := c.readClientSecret(cmd)
			if err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			clientID, _ := cmd.Flags().GetString("client-id")
			scopes, _ := cmd.Flags().GetString("scopes")
			body := map[string]any{"client_id": clientID, "scopes": splitList(scopes)}
			if secret != "" {
				body["client_secret"] = secret
			}
			return c.call(cmd, "PUT", appPath(app, "providers", args[0]), body, func(w io.Writer, raw []byte) error {
				return renderSettings(w, raw)
			})
		},
	}
	f := cmd.Flags()
	f.String("app", "", "app name or id (required)")
	f.String("client-id", "", "the OAuth client id registered at the provider (required)")
	f.String("client-secret-file", "", `read the client secret from this file ("-" for stdin)`)
	f.Bool("client-secret-stdin", false, "read the client secret from stdin")
	f.Bool("public-client", false, "the client has no secret (PKCE only)")
	f.String("scopes", "", "comma-separated scopes to request (default: the catalog's)")
	return cmd
}

func (c *cli) providerUnconfigureCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unconfigure ID --app APP",
		Short: "Remove an app's OAuth client for a provider (its grants stay but cannot refresh)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			return c.call(cmd, "DELETE", appPath(app, "providers", args[0]), nil, func(w io.Writer, raw []byte) error {
				var s providerSettings
				if err := decodeAnswer(raw, &s); err != nil {
					return err
				}
				return fields(w, "removed OAuth client", s.ClientID, "provider", s.ProviderID)
			})
		},
	}
	cmd.Flags().String("app", "", "app name or id (required)")
	return cmd
}

// readClientSecret reads the secret named by exactly one of
// --client-secret-file, --client-secret-stdin and --public-client ("" for
// a public client).
func (c *cli) readClientSecret(cmd *cobra.Command) (string, error) {
	file, _ := cmd.Flags().GetString("client-secret-file")
	stdin, _ := cmd.Flags().GetBool("client-secret-stdin")
	public, _ := cmd.Flags().GetBool("public-client")
	n := 0
	for _, set := range []bool{file != "", stdin, public} {
		if set {
			n++
		}
	}
	if n != 1 {
		return "", usageErrorf("give exactly one of --client-secret-file, --client-secret-stdin and --public-client")
	}
	if public {
		return "", nil
	}
	var (
		r    io.Reader = c.stdin
		from           = "stdin"
	)
	if file != "" && file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--client-secret-file: %w", err)
		}
		defer f.Close()
		r, from = f, file
	}
	data, err := io.ReadAll(io.LimitReader(r, maxSecretBytes+1))
	if err != nil {
		return "", fmt.Errorf("read the client secret from %s: %w", from, err)
	}
	if len(data) > maxSecretBytes {
		return "", usageErrorf("the client secret from %s is larger than %d bytes", from, maxSecretBytes)
	}
	secret := string(data)
	if v, ok := strings.CutSuffix(secret, "\n"); ok {
		secret = strings.TrimSuffix(v, "\r")
	}
	if secret == "" {
		return "", usageErrorf("the client secret from %s is empty (for a client without a secret use --public-client)", from)
	}
	return secret, nil
}

// appSettings returns app's settings for provider, or nil when the app
// configured none (an unknown app is an error).
func appSettings(ctx context.Context, cl *client, app, provider string) (*providerSettings, error) {
	raw, err := cl.do(ctx, "GET", appPath(app, "providers"), nil)
	if err != nil {
		return nil, err
	}
	var all []providerSettings
	if err := decodeAnswer(raw, &all); err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].ProviderID == provider {
			return &all[i], nil
		}
	}
	return nil, nil
}

// withSettings adds "settings" (null when s is nil) to a provider entry's
// JSON object, keeping its other fields verbatim.
func withSettings(entry json.RawMessage, s *providerSettings) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := decodeAnswer(entry, &obj); err != nil {
		return nil, err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	obj["settings"] = data
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode provider: %w", err)
	}
	return out, nil
}

// settingsText renders an app's OAuth client below a provider.
func settingsText(w io.Writer, app string, s *providerSettings) error {
	if s == nil {
		return fields(w, "oauth client", fmt.Sprintf("none for app %s (gatehouse provider configure)", app))
	}
	return fields(w, settingsPairs(s)...)
}

// renderSettings renders a configure answer.
func renderSettings(w io.Writer, raw []byte) error {
	var s providerSettings
	if err := decodeAnswer(raw, &s); err != nil {
		return err
	}
	return fields(w, append([]string{"provider", s.ProviderID}, settingsPairs(&s)...)...)
}

// settingsPairs are the name, value pairs of an app's OAuth client.
func settingsPairs(s *providerSettings) []string {
	secret := "set"
	if !s.HasClientSecret {
		secret = "none (public client)"
	}
	scopes := strings.Join(s.Scopes, " ")
	if scopes == "" {
		scopes = "catalog default: " + orNone(strings.Join(s.DefaultScopes, " "))
	}
	return []string{"oauth client id", s.ClientID, "client secret", secret, "requested scopes", scopes,
		"configured", timeText(s.UpdatedAt)}
}

// splitList splits a comma-separated flag value, dropping empty items
// (nil for none).
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
