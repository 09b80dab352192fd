package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// Connect defaults.
const (
	defaultConnectTimeout = 10 * time.Minute // the server's default connect_ttl
	defaultPollInterval   = time.Second
	browserTimeout        = 10 * time.Second // xdg-open / open return once the browser is asked
)

// Error codes of connect failures (exit 1).
const (
	codeProviderError = "provider_error" // the provider refused, or the exchange failed
	codeExpired       = "expired"        // the session expired before the user finished
	codeTimeout       = "timeout"        // --timeout passed first
)

// connectStart is the answer of GET /v1/connect/{provider}.
type connectStart struct {
	SessionID    string    `json:"session_id"`
	AuthorizeURL string    `json:"authorize_url"`
	RedirectURI  string    `json:"redirect_uri"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// connectSession is the answer of GET /v1/connect/sessions/{id}.
type connectSession struct {
	vault.ConnectSession
	Account   string `json:"account"`
	ErrorText string `json:"error_text"`
}

// connectResult is what connect prints once the grant exists.
type connectResult struct {
	GrantID    string `json:"grant_id"`
	Account    string `json:"account"`
	ProviderID string `json:"provider_id"`
	Principal  string `json:"principal"`
	SessionID  string `json:"session_id"`
	Agent      string `json:"agent,omitempty"`
}

func (c *cli) connectCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connect PROVIDER --app APP (--user USER | --principal P | --grant G) [--agent NAME] [--scopes a,b] [--no-browser] [--timeout 10m]",
		Short: "Connect a user's account at an OAuth provider and wait for the grant",
		Long: `Start the OAuth authorization-code flow for a provider and wait until the user
has consented. The authorization URL is printed on stderr (and opened in a
browser when a display is available, unless --no-browser); whoever opens it
signs in at the provider, which sends the browser back to Gatehouse's
/oauth/callback. The new grant is then printed:
{"grant_id","account","provider_id","principal","session_id"}.

The app must have an OAuth client for the provider (gatehouse provider
configure). --user U stands for principal user:U. --agent delegates the new
grant to that agent. --grant re-consents an existing grant (for example one in
needs_reauth) instead of creating a new one. A refusal at the provider, an
expired session or --timeout exit with code 1 and the reason.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.connect(cmd, args[0])
		},
	}
	f := cmd.Flags()
	f.String("app", "", "app name or id (required)")
	f.String("user", "", "the user whose account is connected (principal user:USER)")
	f.String("principal", "", "the grant's principal, instead of --user")
	f.String("agent", "", "delegate the new grant to this agent (name or id)")
	f.String("grant", "", "re-consent this existing grant instead of creating one")
	f.String("scopes", "", "comma-separated scopes (default: the app's configured scopes, else the catalog's)")
	f.Bool("no-browser", false, "only print the URL; do not try to open a browser")
	f.Duration("timeout", defaultConnectTimeout, "give up waiting after this long")
	f.Duration("poll-interval", defaultPollInterval, "how often to ask the server whether the user finished")
	_ = f.MarkHidden("poll-interval")
	return cmd
}

// connect starts a connect session, shows the URL and polls the session
// until it completes, fails, expires or the timeout passes.
func (c *cli) connect(cmd *cobra.Command, provider string) error {
	if err := required(cmd, "app"); err != nil {
		return err
	}
	flag := func(n string) string { v, _ := cmd.Flags().GetString(n); return v }
	app, user, principal, grant := flag("app"), flag("user"), flag("principal"), flag("grant")
	switch {
	case user != "" && principal != "":
		return usageErrorf("give either --user or --principal, not both")
	case user == "" && principal == "" && grant == "":
		return usageErrorf("--user (or --principal, or --grant to re-consent) is required; usage: %s", cmd.UseLine())
	}
	timeout, _ := cmd.Flags().GetDuration("timeout")
	interval, _ := cmd.Flags().GetDuration("poll-interval")
	if timeout <= 0 || interval <= 0 {
		return usageErrorf("--timeout and --poll-interval must be positive durations such as 10m")
	}
	cl, err := c.client(cmd)
	if err != nil {
		return err
	}
	q := url.Values{"app": {app}}
	for _, n := range []string{"user", "principal", "agent", "grant", "scopes"} {
		if v := flag(n); v != "" {
			q.Set(n, v)
		}
	}
	raw, err := cl.do(cmd.Context(), "GET", "/v1/connect/"+url.PathEscape(provider)+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	var start connectStart
	if err := decodeAnswer(raw, &start); err != nil {
		return err
	}
	c.printer().note("Open this URL to connect %s: %s", provider, start.AuthorizeURL)
	if noBrowser, _ := cmd.Flags().GetBool("no-browser"); !noBrowser && canOpenBrowser() {
		if err := openBrowser(cmd.Context(), start.AuthorizeURL); err != nil {
			c.printer().note("Could not open a browser (%v); open the URL yourself.", err)
		}
	}
	c.printer().note("Waiting for the authorization (up to %s; Ctrl-C to stop)…", timeout)

	s, err := pollSession(cmd.Context(), cl, app, start.SessionID, timeout, interval)
	if err != nil {
		return connectFailure(provider, start, timeout, err)
	}
	res := connectResult{GrantID: s.GrantID, Account: s.Account, ProviderID: s.ProviderID,
		Principal: s.Principal, SessionID: s.ID, Agent: s.Agent}
	return c.printer().value(res, func(w io.Writer) error {
		pairs := []string{"grant id", res.GrantID, "provider", res.ProviderID, "account", orNone(res.Account), "principal", res.Principal}
		if res.Agent != "" {
			pairs = append(pairs, "delegated to", res.Agent)
		}
		return fields(w, append(pairs, "placeholder", vault.GrantPlaceholder(res.GrantID))...)
	})
}

// errSessionFailed carries a failed session out of pollSession.
type errSessionFailed struct{ s connectSession }

func (e *errSessionFailed) Error() string { return "connect session failed" }

// pollSession asks for the session every interval until it is complete
// (returned), failed (*errSessionFailed) or the timeout passes
// (context.DeadlineExceeded).
func pollSession(ctx context.Context, cl *client, app, id string, timeout, interval time.Duration) (connectSession, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	path := "/v1/connect/sessions/" + url.PathEscape(id) + "?" + url.Values{"app": {app}}.Encode()
	for {
		select {
		case <-ctx.Done():
			return connectSession{}, ctx.Err()
		case <-ticker.C:
		}
		raw, err := cl.do(ctx, "GET", path, nil)
		if err != nil {
			if ctx.Err() != nil {
				return connectSession{}, ctx.Err()
			}
			return connectSession{}, err
		}
		var s connectSession
		if err := decodeAnswer(raw, &s); err != nil {
			return connectSession{}, err
		}
		switch s.Status {
		case vault.SessionComplete:
			return s, nil
		case vault.SessionFailed:
			return connectSession{}, &errSessionFailed{s: s}
		}
	}
}

// connectFailure turns a polling error into the CLI error to report.
func connectFailure(provider string, start connectStart, timeout time.Duration, err error) error {
	var failed *errSessionFailed
	var ce *cliError
	switch {
	case errors.As(err, &failed):
		s := failed.s
		why := firstNonEmpty(s.ErrorText, s.ErrorMessage, s.ErrorCode, "unknown reason")
		if s.ErrorCode == codeExpired {
			return &cliError{Code: codeExpired, Message: fmt.Sprintf(
				"connecting %s failed: %s (session %s)", provider, why, s.ID)}
		}
		return &cliError{Code: codeProviderError, Message: fmt.Sprintf("connecting %s failed: %s", provider, why)}
	case errors.As(err, &ce) && ce.Code == codeExpired:
		return &cliError{Code: codeExpired, Message: fmt.Sprintf("connecting %s failed: %s", provider, ce.Message)}
	case errors.Is(err, context.DeadlineExceeded):
		return &cliError{Code: codeTimeout, Message: fmt.Sprintf(
			"gave up after %s waiting for the authorization at %s; the URL stays valid until %s (session %s)",
			timeout, provider, start.ExpiresAt.UTC().Format(time.RFC3339), start.SessionID)}
	case errors.Is(err, context.Canceled):
		return &cliError{Code: codeError, Message: "interrupted while waiting for the authorization"}
	}
	return err
}

// canOpenBrowser reports whether a browser can plausibly be opened: on
// Linux and the BSDs only with a graphical display.
func canOpenBrowser() bool {
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}

// openBrowser asks the desktop to open u.
func openBrowser(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, browserTimeout)
	defer cancel()
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.CommandContext(ctx, "open", u)
	case "windows":
		cmd = exec.CommandContext(ctx, "rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.CommandContext(ctx, "xdg-open", u)
	}
	return cmd.Run()
}
