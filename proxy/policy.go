package proxy

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// Policy decides, after the base entitlement, whether a call may proceed
// (DESIGN.md request flow step 6). *policy.Engine implements it.
type Policy interface {
	Evaluate(ctx context.Context, in policy.Input) policy.Decision
	// Explain evaluates without side effects (no rate-limit token taken)
	// and lists the rules that matched.
	Explain(ctx context.Context, in policy.Input) (policy.Decision, []policy.Match)
}

// checkPolicy evaluates the policy for a call about to use g and records
// the decision in the audit event. Rules only restrict: a nil Policy means
// none is configured and the entitlement alone decides. A report rule that
// would deny lets the call through and marks its audit event.
func (s *Server) checkPolicy(ctx context.Context, r *http.Request, t *tunnel, g vault.Grant, c *call) *Denial {
	if s.policy == nil {
		return nil
	}
	d := s.policy.Evaluate(ctx, policyInput(t, r, g, s.now()))
	c.ev.Rule, c.ev.DecisionReason = d.Rule, truncate(d.Reason, 512)
	if !d.Allowed {
		return policyDenial(d)
	}
	if len(d.WouldDeny) > 0 {
		c.report = true
		c.ev.Rule = strings.Join(d.WouldDeny, ",")
		c.ev.DecisionReason = truncate("report rules would deny: "+c.ev.Rule, 512)
	}
	return nil
}

// policyInput is what the policy sees of a call about to use g.
func policyInput(t *tunnel, r *http.Request, g vault.Grant, now time.Time) policy.Input {
	return policy.Input{
		AppID: t.id.AppID, Agent: t.id.AgentName, Principal: g.Principal, ProviderID: t.provider.ID, GrantID: g.ID,
		Host: t.authority.Host, Method: r.Method, Path: r.URL.Path, Action: t.provider.ActionFor(r.Method, r.URL.Path),
		Source: clientIP(t.id.ClientAddr), GrantCreated: g.CreatedAt, Now: now,
	}
}

// policyDenial is the refusal of a policy decision that does not allow:
// rate_limited with Retry-After, or policy_denied naming the rule.
func policyDenial(d policy.Decision) *Denial {
	code := CodePolicyDenied
	details := map[string]any{"rule": d.Rule}
	if d.Code == CodeRateLimited {
		code = CodeRateLimited
		details["retry_after"] = max(1, int(d.RetryAfter.Seconds()+0.999))
	}
	msg := d.Reason
	if msg == "" {
		msg = "the call is not allowed by the policy"
	}
	return &Denial{Code: code, Message: msg, Details: details}
}

// decision is the audit decision of a forwarded call.
func (c *call) decision() string {
	if c.report {
		return audit.DecisionReport
	}
	return audit.DecisionAllow
}

// clientIP parses the address part of a RemoteAddr; the zero Addr when it
// is not ip:port.
func clientIP(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
