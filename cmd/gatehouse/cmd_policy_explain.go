package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// explanation is the admin API's answer to policy explain.
type explanation struct {
	Provider string         `json:"provider"`
	Grant    *vault.Grant   `json:"grant"`
	Refusal  map[string]any `json:"refusal"`
	Decision *struct {
		Allowed   bool     `json:"allowed"`
		Effect    string   `json:"effect"`
		Rule      string   `json:"rule"`
		Reason    string   `json:"reason"`
		Code      string   `json:"code"`
		WouldDeny []string `json:"would_deny"`
	} `json:"decision"`
	Matches []struct {
		Rule   string   `json:"rule"`
		Effect string   `json:"effect"`
		File   string   `json:"file"`
		Line   int      `json:"line"`
		Why    []string `json:"why"`
		Error  string   `json:"error"`
	} `json:"matches"`
}

func (c *cli) policyExplainCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain --app APP [--agent NAME] --method M --url URL [--grant G] [--user-jwt T] [--account A]",
		Short: "Show which grant a call would use, which rules match and the decision, without making the call",
		Long: `Run the proxy's grant resolution, entitlement and policy for a call, without
calling the provider, refreshing a token or using a rate-limit token.
--user-jwt "-" reads the token from stdin (keeps it out of process listings).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app", "url"); err != nil {
				return err
			}
			f := cmd.Flags()
			app, _ := f.GetString("app")
			body := map[string]string{}
			for flag, field := range map[string]string{"agent": "agent", "method": "method", "url": "url", "grant": "grant", "account": "account", "user-jwt": "user_jwt"} {
				if v, _ := f.GetString(flag); v != "" {
					body[field] = v
				}
			}
			if body["user_jwt"] == "-" {
				data, err := io.ReadAll(io.LimitReader(c.stdin, maxSecretBytes))
				if err != nil {
					return fmt.Errorf("read the user JWT from stdin: %w", err)
				}
				body["user_jwt"] = strings.TrimSpace(string(data))
			}
			return c.call(cmd, "POST", appPath(app, "policy", "explain"), body, renderExplanation)
		},
	}
	f := cmd.Flags()
	f.String("app", "", "app name or id (required)")
	f.String("agent", "", "agent name or id making the call (default: the app's own key)")
	f.String("method", "GET", "HTTP method")
	f.String("url", "", "https URL of the call (required)")
	f.String("grant", "", "grant id, as Gatehouse-Grant")
	f.String("account", "", "account, as Gatehouse-Account")
	f.String("user-jwt", "", `end-user JWT, as Gatehouse-User ("-": read from stdin)`)
	return cmd
}

// renderExplanation prints an explanation: the grant, the decision or the
// refusal, then the rules that matched.
func renderExplanation(w io.Writer, raw []byte) error {
	var e explanation
	if err := decodeAnswer(raw, &e); err != nil {
		return err
	}
	pairs := []string{"provider", dash(e.Provider)}
	if e.Grant != nil {
		pairs = append(pairs, "grant", fmt.Sprintf("%s (%s, %s)", e.Grant.ID, e.Grant.Principal, e.Grant.Status))
	} else {
		pairs = append(pairs, "grant", "-")
	}
	switch {
	case e.Refusal != nil:
		pairs = append(pairs, "decision", fmt.Sprintf("refused: %v: %v", e.Refusal["code"], e.Refusal["message"]))
	case e.Decision != nil && e.Decision.Allowed:
		pairs = append(pairs, "decision", "allowed"+byRule(e.Decision.Rule, e.Decision.Reason))
	case e.Decision != nil:
		pairs = append(pairs, "decision", "denied"+byRule(e.Decision.Rule, e.Decision.Reason))
	}
	if e.Decision != nil && len(e.Decision.WouldDeny) > 0 {
		pairs = append(pairs, "would deny (report)", strings.Join(e.Decision.WouldDeny, ", "))
	}
	if err := fields(w, pairs...); err != nil {
		return err
	}
	if len(e.Matches) == 0 {
		_, err := fmt.Fprintln(w, "\nno rule matched")
		return err
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(e.Matches))
	for _, m := range e.Matches {
		where := m.File
		if m.Line > 0 {
			where = fmt.Sprintf("%s:%d", m.File, m.Line)
		}
		why := strings.Join(m.Why, ", ")
		if m.Error != "" {
			why = "error: " + m.Error
		}
		rows = append(rows, []string{m.Rule, m.Effect, where, why})
	}
	return table(w, []string{"RULE", "EFFECT", "WHERE", "WHY"}, rows)
}

// byRule says which rule decided, or that the default did.
func byRule(rule, reason string) string {
	s := " by default"
	if rule != "" {
		s = " by rule " + rule
	}
	if reason != "" {
		s += ": " + reason
	}
	return s
}
