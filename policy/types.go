package policy

import (
	"net/netip"
	"time"
)

// Input is everything a rule can look at. The proxy builds one per request;
// nothing behind it does I/O.
type Input struct {
	AppID, Agent, Principal, ProviderID, GrantID string   // Agent = agent name, "" for app keys
	Groups                                       []string // the user's IdP groups (may be empty)
	Host, Method, Path                           string   // Path without query; Host without port
	Action                                       string   // catalog action name, "" when none matches
	Source                                       netip.Addr
	GrantCreated                                 time.Time // for grant_max_age
	Now                                          time.Time
}

// Effect is what a rule does when it applies.
type Effect string

// The rule effects.
const (
	// EffectAllow marks a call as explicitly allowed (needed in strict mode).
	EffectAllow Effect = "allow"
	// EffectDeny refuses the call; deny wins over allow.
	EffectDeny Effect = "deny"
	// EffectReport lets the call through and records it in Decision.WouldDeny.
	EffectReport Effect = "report"
)

// Error codes carried by Decision.Code (stable API, see DESIGN.md).
const (
	CodePolicyDenied = "policy_denied"
	CodeRateLimited  = "rate_limited"
)

// Decision is the outcome of one evaluation.
type Decision struct {
	Allowed    bool
	Effect     Effect        // the deciding rule's effect ("" when decided by the default)
	Rule       string        // deciding rule name ("" = default)
	Reason     string        // safe to show
	Code       string        // "" | "policy_denied" | "rate_limited"
	RetryAfter time.Duration // rate_limited only
	WouldDeny  []string      // report-mode rules that matched and would have denied (call still allowed)
}

// Config holds the settings that apply to a whole policy.
type Config struct {
	// DefaultEffect is "allow" (the default, also when empty) or "deny"
	// (strict mode: every call needs a matching allow rule).
	DefaultEffect Effect
}

// Match explains why one rule matched an input (see Policy.Explain).
type Match struct {
	Rule   string
	Effect Effect
	File   string   // "" for rules not loaded from a file
	Line   int      // 0 when unknown
	Why    []string // the criteria that held, e.g. `providers: "slack"`, `when.time`
	Error  string   // set when a condition could not be evaluated (the rule then denies)
}
