package policy

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
)

// Policy is a compiled, immutable rule set. It is safe for concurrent use.
type Policy struct {
	strict bool
	lim    Limiter
	// any holds rules that apply to every provider (no providers list, or
	// one with globs); byProvider holds, per exact provider id, those rules
	// merged with any, in declaration order. Evaluate looks at one slice.
	any        []*crule
	byProvider map[string][]*crule
	size       int
}

// Len returns the number of rules in the policy.
func (p *Policy) Len() int { return p.size }

// crule is one compiled rule.
type crule struct {
	name   string
	effect Effect
	order  int
	file   string
	line   int

	apps, agents, principals, groups, providers, hosts, paths, actions []glob
	methods                                                            []string

	time, notTime *window
	cidrs         []netip.Prefix
	maxAge        time.Duration
	cel           cel.Program
	rate          *crate
}

// crate is a compiled RateLimit.
type crate struct {
	per   string
	rate  float64 // tokens per second
	burst int
}

// Compile validates rules and builds a Policy. lim is required when any
// rule has a rate_limit. The error is an errors.Join of *FieldError.
func Compile(cfg Config, rules []Rule, lim Limiter) (*Policy, error) {
	p := &Policy{lim: lim, byProvider: map[string][]*crule{}, size: len(rules)}
	var errs []error
	switch cfg.DefaultEffect {
	case "", EffectAllow:
	case EffectDeny:
		p.strict = true
	default:
		errs = append(errs, &FieldError{Field: "policy.default_effect", Msg: fmt.Sprintf("invalid value %q (want allow or deny)", cfg.DefaultEffect)})
	}
	c, err := newCompiler()
	if err != nil {
		return nil, err
	}
	compiled := make([]*crule, 0, len(rules))
	seen := map[string]*Rule{}
	for i := range rules {
		r := &rules[i]
		if prev, dup := seen[r.Name]; dup && r.Name != "" {
			errs = append(errs, ruleError(r, i, "name", fmt.Sprintf("duplicate rule name %q (also defined %s)", r.Name, where(prev))))
		}
		seen[r.Name] = r
		cr, rerrs := c.rule(r, i)
		errs = append(errs, rerrs...)
		if cr != nil {
			cr.order = i
			if cr.rate != nil && lim == nil {
				errs = append(errs, ruleError(r, i, "rate_limit", "rate limits need a Limiter, none configured"))
			}
			compiled = append(compiled, cr)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p.index(compiled)
	return p, nil
}

func where(r *Rule) string {
	if r.src == nil {
		return "in code"
	}
	return fmt.Sprintf("at %s:%d", r.src.file, r.src.line)
}

// index fills any and byProvider, keeping declaration order in every slice
// so the first matching deny is always the one reported.
func (p *Policy) index(rules []*crule) {
	ids := map[string]bool{}
	for _, r := range rules {
		if exactGlobs(r.providers) {
			for _, g := range r.providers {
				ids[g.pat] = true
			}
		} else {
			p.any = append(p.any, r)
		}
	}
	for id := range ids {
		var list []*crule
		for _, r := range rules {
			if !exactGlobs(r.providers) {
				list = append(list, r)
				continue
			}
			for _, g := range r.providers {
				if g.pat == id {
					list = append(list, r)
					break
				}
			}
		}
		p.byProvider[id] = list
	}
}

// exactGlobs reports whether gs is a non-empty list of plain names.
func exactGlobs(gs []glob) bool {
	if len(gs) == 0 {
		return false
	}
	for _, g := range gs {
		if !g.exact {
			return false
		}
	}
	return true
}

// rules returns the rules that can match a provider.
func (p *Policy) rules(provider string) []*crule {
	if list, ok := p.byProvider[provider]; ok {
		return list
	}
	return p.any
}

var ruleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

var methodName = regexp.MustCompile(`^[A-Z]+$`)

// compiler holds what rule compilation shares: the CEL environment.
type compiler struct {
	env *cel.Env
}

func newCompiler() (*compiler, error) {
	env, err := newCELEnv()
	if err != nil {
		return nil, fmt.Errorf("policy: cel environment: %w", err)
	}
	return &compiler{env: env}, nil
}

// rule validates and compiles one rule; idx locates rules built in code.
func (c *compiler) rule(r *Rule, idx int) (*crule, []error) {
	var errs []error
	fail := func(field, msg string) { errs = append(errs, ruleError(r, idx, field, msg)) }
	cr := &crule{name: r.Name, effect: r.Effect}
	if r.src != nil {
		cr.file, cr.line = r.src.file, r.src.line
	}
	switch {
	case r.Name == "":
		fail("name", "required")
	case !ruleName.MatchString(r.Name):
		fail("name", fmt.Sprintf("invalid name %q (letters, digits, '.', '_', '-'; at most 100; starting with a letter or digit)", r.Name))
	}
	switch r.Effect {
	case EffectAllow, EffectDeny, EffectReport:
	case "":
		fail("effect", "required (allow, deny or report)")
	default:
		fail("effect", fmt.Sprintf("invalid effect %q (want allow, deny or report)", r.Effect))
	}
	m := r.Match
	cr.apps = globs(m.Apps, "match.apps", nil, fail)
	cr.agents = globs(m.Agents, "match.agents", nil, fail)
	cr.principals = globs(m.Principals, "match.principals", nil, fail)
	cr.groups = globs(m.Groups, "match.groups", nil, fail)
	cr.providers = globs(m.Providers, "match.providers", nil, fail)
	cr.hosts = globs(m.Hosts, "match.hosts", strings.ToLower, fail)
	cr.actions = globs(m.Actions, "match.actions", nil, fail)
	cr.paths = globs(m.Paths, "match.paths", nil, fail)
	for i, p := range m.Paths {
		if p != "" && p[0] != '/' && p[0] != '*' {
			fail(fmt.Sprintf("match.paths[%d]", i), fmt.Sprintf("path pattern %q must start with / or *", p))
		}
	}
	for i, meth := range m.Methods {
		up := strings.ToUpper(meth)
		if !methodName.MatchString(up) {
			fail(fmt.Sprintf("match.methods[%d]", i), fmt.Sprintf("invalid HTTP method %q", meth))
			continue
		}
		cr.methods = append(cr.methods, up)
	}
	w := r.When
	if w.Time != nil {
		cr.time = compileWindow(w.Time, func(f, msg string) { fail("when.time."+f, msg) })
	}
	if w.NotTime != nil {
		cr.notTime = compileWindow(w.NotTime, func(f, msg string) { fail("when.not_time."+f, msg) })
	}
	for i, s := range w.SourceCIDRs {
		pfx, err := parseCIDR(s)
		if err != nil {
			fail(fmt.Sprintf("when.source_cidrs[%d]", i), err.Error())
			continue
		}
		cr.cidrs = append(cr.cidrs, pfx)
	}
	if w.GrantMaxAge < 0 {
		fail("when.grant_max_age", "must be positive")
	}
	cr.maxAge = w.GrantMaxAge
	if w.CEL != "" {
		prg, err := compileCEL(c.env, w.CEL)
		if err != nil {
			fail("when.cel", err.Error())
		}
		cr.cel = prg
	}
	if r.RateLimit != nil {
		cr.rate = compileRate(r.RateLimit, r.Effect, fail)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cr, nil
}

func globs(pats []string, field string, norm func(string) string, fail func(field, msg string)) []glob {
	var out []glob
	for i, p := range pats {
		if norm != nil {
			p = norm(p)
		}
		if p == "" {
			fail(fmt.Sprintf("%s[%d]", field, i), "empty pattern")
			continue
		}
		g, err := compileGlob(p)
		if err != nil {
			fail(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("invalid glob %q: %v", p, err))
			continue
		}
		out = append(out, g)
	}
	return out
}

// parseCIDR accepts a prefix in canonical form or a single address.
func parseCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("CIDR %q has host bits set (did you mean %s?)", s, p.Masked())
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("CIDR %q is an IPv4-mapped IPv6 prefix; write the IPv4 prefix", s)
	}
	return p, nil
}

func compileRate(rl *RateLimit, effect Effect, fail func(field, msg string)) *crate {
	ok := true
	if effect == EffectAllow {
		fail("rate_limit", "rate limits need effect deny or report (the rule applies when the bucket is empty)")
		ok = false
	}
	switch rl.Per {
	case "agent", "grant", "provider":
	case "":
		fail("rate_limit.per", "required (agent, grant or provider)")
		ok = false
	default:
		fail("rate_limit.per", fmt.Sprintf("invalid value %q (want agent, grant or provider)", rl.Per))
		ok = false
	}
	if !(rl.Rate > 0) || math.IsInf(rl.Rate, 0) {
		fail("rate_limit.rate", "must be a positive number")
		ok = false
	}
	period := rl.Period
	if period == 0 {
		period = time.Second
	}
	if period < 0 {
		fail("rate_limit.period", "must be positive")
		ok = false
	}
	burst := rl.Burst
	if burst < 0 {
		fail("rate_limit.burst", "must not be negative")
		ok = false
	}
	if !ok {
		return nil
	}
	if burst == 0 {
		burst = max(1, int(math.Ceil(rl.Rate)))
	}
	return &crate{per: rl.Per, rate: rl.Rate / period.Seconds(), burst: burst}
}
