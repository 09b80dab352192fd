package policy

import (
	"fmt"
	"time"
)

// APIVersion is the only rule-file version this package accepts.
const APIVersion = "gatehouse/v1"

// Kind is the only document kind this package accepts.
const Kind = "Policy"

// Rule is one policy rule as written in YAML. Rules built in code (per-app
// rules from the admin API) use the same type; Compile validates both.
type Rule struct {
	Name        string     `yaml:"name" json:"name"`
	Description string     `yaml:"description,omitempty" json:"description,omitempty"`
	Effect      Effect     `yaml:"effect" json:"effect"`
	Match       Selector   `yaml:"match,omitempty" json:"match,omitzero"`
	When        Conditions `yaml:"when,omitempty" json:"when,omitzero"`
	RateLimit   *RateLimit `yaml:"rate_limit,omitempty" json:"rate_limit,omitempty"`

	// src is where the rule was parsed from, for error messages; nil for
	// rules built in code.
	src *source
}

// Selector says which requests a rule is about. Every field is optional;
// an empty field matches everything, a list means "any of". All fields
// except Methods accept globs (path.Match syntax plus "**").
type Selector struct {
	Apps       []string `yaml:"apps,omitempty" json:"apps,omitempty"`
	Agents     []string `yaml:"agents,omitempty" json:"agents,omitempty"`
	Principals []string `yaml:"principals,omitempty" json:"principals,omitempty"`
	Groups     []string `yaml:"groups,omitempty" json:"groups,omitempty"`
	Providers  []string `yaml:"providers,omitempty" json:"providers,omitempty"`
	Hosts      []string `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	Methods    []string `yaml:"methods,omitempty" json:"methods,omitempty"`
	Paths      []string `yaml:"paths,omitempty" json:"paths,omitempty"`
	Actions    []string `yaml:"actions,omitempty" json:"actions,omitempty"`
}

// Conditions must all hold for a rule to apply.
type Conditions struct {
	Time        *Window  `yaml:"time,omitempty" json:"time,omitempty"`
	NotTime     *Window  `yaml:"not_time,omitempty" json:"not_time,omitempty"`
	SourceCIDRs []string `yaml:"source_cidrs,omitempty" json:"source_cidrs,omitempty"`
	// GrantMaxAge holds when the grant is older than this (or its creation
	// time is unknown): pair it with effect deny to cap grant age.
	GrantMaxAge time.Duration `yaml:"grant_max_age,omitempty" json:"grant_max_age,omitempty"`
	CEL         string        `yaml:"cel,omitempty" json:"cel,omitempty"`
}

// Window is a recurring wall-clock time window in an IANA zone.
type Window struct {
	Zone string   `yaml:"zone,omitempty" json:"zone,omitempty"` // default UTC
	Days []string `yaml:"days,omitempty" json:"days,omitempty"` // mon..sun; empty = every day
	From string   `yaml:"from,omitempty" json:"from,omitempty"` // "HH:MM", default 00:00
	To   string   `yaml:"to,omitempty" json:"to,omitempty"`     // "HH:MM" (24:00 allowed), default 24:00; to < from crosses midnight
}

// RateLimit turns a rule into a token bucket: the rule applies (denies, or
// reports) when the bucket for the request's key is empty.
type RateLimit struct {
	Per    string        `yaml:"per" json:"per"`                           // agent | grant | provider
	Rate   float64       `yaml:"rate" json:"rate"`                         // tokens per Period
	Period time.Duration `yaml:"period,omitempty" json:"period,omitempty"` // default 1s
	Burst  int           `yaml:"burst,omitempty" json:"burst,omitempty"`   // default ceil(Rate), at least 1
}

// source records where a parsed rule came from.
type source struct {
	file  string
	index int            // position in its document's rules list
	line  int            // line of the rule itself
	lines map[string]int // field path relative to the rule -> line
}

// lineOf returns the line of a rule-relative field, falling back to the
// closest parent that has one.
func (s *source) lineOf(field string) int {
	for f := field; f != ""; f = parentField(f) {
		if l, ok := s.lines[f]; ok {
			return l
		}
	}
	return s.line
}

func parentField(f string) string {
	for i := len(f) - 1; i >= 0; i-- {
		if f[i] == '.' || f[i] == '[' {
			return f[:i]
		}
	}
	return ""
}

// FieldError is one validation problem, located as precisely as possible.
type FieldError struct {
	File  string // "" for rules not loaded from a file
	Line  int    // 0 when unknown
	Field string // e.g. rules[2].when.time.zone
	Msg   string
}

// Error formats the problem as file:line: field: message.
func (e *FieldError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	switch {
	case loc != "" && e.Field != "":
		return loc + ": " + e.Field + ": " + e.Msg
	case loc != "":
		return loc + ": " + e.Msg
	case e.Field != "":
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}

// ruleError locates a rule-relative problem in the rule's source. idx is
// the rule's position among the rules given to Compile, used only for rules
// built in code.
func ruleError(r *Rule, idx int, field, msg string) *FieldError {
	if r.src == nil {
		name := fmt.Sprintf("rules[%d]", idx)
		if r.Name != "" {
			name = fmt.Sprintf("rules[%q]", r.Name)
		}
		return &FieldError{Field: joinField(name, field), Msg: msg}
	}
	return &FieldError{
		File:  r.src.file,
		Line:  r.src.lineOf(field),
		Field: joinField(fmt.Sprintf("rules[%d]", r.src.index), field),
		Msg:   msg,
	}
}

func joinField(base, field string) string {
	if field == "" {
		return base
	}
	if field[0] == '[' {
		return base + field
	}
	return base + "." + field
}
