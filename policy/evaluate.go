package policy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// Evaluate decides one call. It fails closed: a condition that cannot be
// evaluated (CEL error or cost overrun, cancelled context, missing Now for a
// time window) or a rate limiter error denies with Code policy_denied.
// Rate-limit tokens are taken only when no other rule denies the call.
func (p *Policy) Evaluate(ctx context.Context, in Input) Decision {
	return p.decide(ctx, in, nil)
}

// Explain evaluates like Evaluate and also returns every rule that matched
// and why. It never takes rate-limit tokens: rate-limit rules that match are
// listed, but do not change the decision.
func (p *Policy) Explain(ctx context.Context, in Input) (Decision, []Match) {
	var matches []Match
	d := p.decide(ctx, in, &matches)
	return d, matches
}

// decide is Evaluate when matches is nil, and Explain otherwise (then it
// looks at every rule and consumes no tokens).
func (p *Policy) decide(ctx context.Context, input Input, matches *[]Match) Decision {
	explain := matches != nil
	ev := evalState{in: input}
	in := &ev.in
	var allow *crule
	var deny *Decision
	var wouldDeny []string
	var limited []*crule
	for _, r := range p.rules(in.ProviderID) {
		ok, err := r.applies(ctx, &ev)
		if explain && (ok || err != nil) {
			m := Match{Rule: r.name, Effect: r.effect, File: r.file, Line: r.line, Why: r.why(in)}
			if err != nil {
				m.Error = err.Error()
			}
			*matches = append(*matches, m)
		}
		switch {
		case err != nil && r.effect == EffectReport:
			// A shadow rule never blocks, not even when it cannot be
			// evaluated: rolling one out must not break traffic. It is
			// reported as would-deny, so the failure shows in the audit.
			wouldDeny = append(wouldDeny, r.name)
		case err != nil:
			if deny == nil {
				d := denied(r, fmt.Sprintf("rule %q could not be evaluated; denied (fail closed)", r.name))
				d.Effect = EffectDeny
				deny = &d
			}
		case !ok:
			continue
		case r.rate != nil:
			limited = append(limited, r)
		case r.effect == EffectDeny:
			if deny == nil {
				d := denied(r, fmt.Sprintf("denied by policy rule %q", r.name))
				deny = &d
			}
		case r.effect == EffectAllow:
			if allow == nil {
				allow = r
			}
		case r.effect == EffectReport:
			wouldDeny = append(wouldDeny, r.name)
		}
		if deny != nil && !explain {
			return *deny // deny wins; nothing later can change that
		}
	}
	if deny != nil {
		return *deny
	}
	if p.strict && allow == nil {
		return Decision{Code: CodePolicyDenied, Reason: "no policy rule allows this call (strict mode)"}
	}
	if !explain {
		for _, r := range limited {
			d, ok := p.limit(ctx, r, in)
			if ok {
				continue
			}
			if d.Code == CodeRateLimited && r.effect == EffectReport {
				wouldDeny = append(wouldDeny, r.name)
				continue
			}
			return d
		}
	}
	d := Decision{Allowed: true, Reason: "allowed by default", WouldDeny: wouldDeny}
	if allow != nil {
		d.Effect, d.Rule, d.Reason = EffectAllow, allow.name, fmt.Sprintf("allowed by policy rule %q", allow.name)
	}
	return d
}

func denied(r *crule, reason string) Decision {
	return Decision{Effect: r.effect, Rule: r.name, Code: CodePolicyDenied, Reason: reason}
}

// limit takes one token for a rate-limit rule; ok means the call may go on.
func (p *Policy) limit(ctx context.Context, r *crule, in *Input) (Decision, bool) {
	allowed, retry, err := p.lim.Allow(ctx, r.rateKey(in), r.rate.rate, r.rate.burst)
	if err != nil {
		d := denied(r, fmt.Sprintf("rate limit of rule %q could not be checked; denied (fail closed)", r.name))
		d.Effect = EffectDeny
		return d, false
	}
	if allowed {
		return Decision{}, true
	}
	return Decision{
		Effect: r.effect, Rule: r.name, Code: CodeRateLimited, RetryAfter: retry,
		Reason: fmt.Sprintf("rate limit of policy rule %q exceeded", r.name),
	}, false
}

// rateKey names the bucket: rule name, dimension and its value. Agent names
// are unique per app, so the app is part of an agent key ("" agent = the
// app key itself).
func (r *crule) rateKey(in *Input) string {
	switch r.rate.per {
	case "agent":
		return "rl:" + r.name + ":agent:" + in.AppID + "/" + in.Agent
	case "grant":
		return "rl:" + r.name + ":grant:" + in.GrantID
	default:
		return "rl:" + r.name + ":provider:" + in.ProviderID
	}
}

// evalState carries per-evaluation lazies: the CEL activation and the
// normalised host.
type evalState struct {
	in      Input
	celVars map[string]any
	host    string
	hostSet bool
}

func (ev *evalState) normHost() string {
	if !ev.hostSet {
		ev.host, ev.hostSet = normaliseHost(ev.in.Host), true
	}
	return ev.host
}

// normaliseHost lower-cases and drops a port, tolerating callers that pass
// host:port.
func normaliseHost(h string) string {
	if strings.LastIndexByte(h, ':') > strings.LastIndexByte(h, ']') {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	for i := 0; i < len(h); i++ {
		if 'A' <= h[i] && h[i] <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

var errNoTime = errors.New("request time unknown")

// applies reports whether the rule matches and all its conditions hold.
// Cheap checks run first; CEL last.
func (r *crule) applies(ctx context.Context, ev *evalState) (bool, error) {
	in := &ev.in
	if !anyGlob(r.providers, in.ProviderID) || !anyGlob(r.apps, in.AppID) ||
		!anyGlob(r.agents, in.Agent) || !anyGlob(r.principals, in.Principal) ||
		!anyGlob(r.actions, in.Action) || !anyGlob(r.paths, in.Path) {
		return false, nil
	}
	if len(r.methods) > 0 && !slices.Contains(r.methods, in.Method) {
		return false, nil
	}
	if len(r.hosts) > 0 && !anyGlob(r.hosts, ev.normHost()) {
		return false, nil
	}
	if len(r.groups) > 0 && !r.anyGroup(in.Groups) {
		return false, nil
	}
	if len(r.cidrs) > 0 && !r.sourceIn(in) {
		return false, nil
	}
	if r.time != nil || r.notTime != nil {
		if in.Now.IsZero() {
			return false, errNoTime
		}
		if r.time != nil && !r.time.contains(in.Now) {
			return false, nil
		}
		if r.notTime != nil && r.notTime.contains(in.Now) {
			return false, nil
		}
	}
	if r.maxAge > 0 && !r.grantTooOld(in) {
		return false, nil
	}
	if r.cel != nil {
		if ev.celVars == nil {
			ev.celVars = celVars(in)
		}
		return evalCEL(ctx, r.cel, ev.celVars)
	}
	return true, nil
}

// anyGlob is true for an empty list (no constraint) or any match.
func anyGlob(gs []glob, s string) bool {
	if len(gs) == 0 {
		return true
	}
	for _, g := range gs {
		if g.match(s) {
			return true
		}
	}
	return false
}

func (r *crule) anyGroup(groups []string) bool {
	for _, g := range groups {
		if anyGlob(r.groups, g) {
			return true
		}
	}
	return false
}

func (r *crule) sourceIn(in *Input) bool {
	if !in.Source.IsValid() {
		return false
	}
	a := in.Source.Unmap()
	for _, p := range r.cidrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// grantTooOld is true when the grant is older than maxAge, or when its age
// is unknown (fail closed: the condition is meant for deny rules).
func (r *crule) grantTooOld(in *Input) bool {
	if in.GrantCreated.IsZero() || in.Now.IsZero() {
		return true
	}
	return in.Now.Sub(in.GrantCreated) > r.maxAge
}

// why lists the criteria of a matching rule, for Explain.
func (r *crule) why(in *Input) []string {
	var out []string
	add := func(field string, gs []glob, v string) {
		if len(gs) > 0 {
			out = append(out, fmt.Sprintf("%s: %q", field, v))
		}
	}
	add("apps", r.apps, in.AppID)
	add("agents", r.agents, in.Agent)
	add("principals", r.principals, in.Principal)
	if len(r.groups) > 0 {
		out = append(out, fmt.Sprintf("groups: %q", in.Groups))
	}
	add("providers", r.providers, in.ProviderID)
	add("hosts", r.hosts, normaliseHost(in.Host))
	if len(r.methods) > 0 {
		out = append(out, fmt.Sprintf("methods: %q", in.Method))
	}
	add("paths", r.paths, in.Path)
	add("actions", r.actions, in.Action)
	if r.time != nil {
		out = append(out, "when.time")
	}
	if r.notTime != nil {
		out = append(out, "when.not_time")
	}
	if len(r.cidrs) > 0 {
		out = append(out, fmt.Sprintf("when.source_cidrs: %q", in.Source.Unmap().String()))
	}
	if r.maxAge > 0 {
		out = append(out, "when.grant_max_age: exceeded "+r.maxAge.String())
	}
	if r.cel != nil {
		out = append(out, "when.cel")
	}
	if r.rate != nil {
		out = append(out, fmt.Sprintf("rate_limit: per %s, %.4g/s, burst %d (tokens not consumed by explain)", r.rate.per, r.rate.rate, r.rate.burst))
	}
	if len(out) == 0 {
		out = append(out, "matches every request")
	}
	return out
}
