package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/audit"
)

func (c *cli) auditCmd() *cobra.Command {
	filters := map[string]string{
		"agent": "agent", "principal": "principal", "grant": "grant", "provider": "provider",
		"decision": "decision", "kind": "kind", "since": "since", "until": "until", "after": "after",
	}
	list := &cobra.Command{
		Use:   "list --app APP [filters]",
		Short: "List an app's audit events, oldest first",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "app"); err != nil {
				return err
			}
			app, _ := cmd.Flags().GetString("app")
			q := queryFromFlags(cmd, filters)
			if limit, _ := cmd.Flags().GetInt("limit"); limit != 0 {
				if limit < 1 || limit > audit.MaxLimit {
					return usageErrorf("--limit must be between 1 and %d", audit.MaxLimit)
				}
				sep := "?"
				if q != "" {
					sep = "&"
				}
				q += sep + "limit=" + strconv.Itoa(limit)
			}
			return c.call(cmd, "GET", appPath(app, "audit")+q, nil, renderEvents)
		},
	}
	f := list.Flags()
	f.String("app", "", "app name or id (required)")
	f.String("agent", "", "only this agent (name or id)")
	f.String("principal", "", "only this principal")
	f.String("grant", "", "only this grant id")
	f.String("provider", "", "only this provider")
	f.String("decision", "", "only this decision: allow, deny, tunnel")
	f.String("kind", "", "only this kind: call or admin")
	f.String("since", "", "only events at or after this RFC 3339 time")
	f.String("until", "", "only events before this RFC 3339 time")
	f.String("after", "", "only events after this event id (paging cursor)")
	f.Int("limit", 0, fmt.Sprintf("at most this many events (1-%d; default %d)", audit.MaxLimit, audit.DefaultLimit))
	return group("audit", "Read the audit log", list)
}

// renderEvents renders audit events as a table.
func renderEvents(w io.Writer, raw []byte) error {
	var events []audit.Event
	if err := decodeAnswer(raw, &events); err != nil {
		return err
	}
	rows := make([][]string, 0, len(events))
	for _, e := range events {
		what := e.Action
		if e.Kind == audit.KindCall {
			what = e.Method + " " + e.Host + e.Path
		}
		status := ""
		if e.Status != 0 {
			status = strconv.Itoa(e.Status)
		}
		rows = append(rows, []string{timeText(e.Time), e.Kind, e.Decision, status, what, e.AgentID, e.GrantID, e.ErrorCode, e.ID})
	}
	return table(w, []string{"TIME", "KIND", "DECISION", "STATUS", "WHAT", "AGENT ID", "GRANT ID", "ERROR", "EVENT ID"}, rows)
}
