package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Parse validates one YAML file (which may hold several documents separated
// by ---) and returns its rules. file is used only in messages. Every
// problem found is reported: the error is an errors.Join of *FieldError.
// Parse runs the same checks as Compile (globs, CIDRs, zones, CEL), so a
// file that parses compiles, barring duplicate names across files.
func Parse(file string, data []byte) ([]Rule, error) {
	w := &walker{file: file}
	var rules []Rule
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			w.errs = append(w.errs, syntaxError(file, err))
			break
		}
		rules = append(rules, w.document(&doc)...)
	}
	c, err := newCompiler()
	if err != nil {
		return nil, err
	}
	errs := w.errs
	// A field that failed to decode is left empty; do not report it a
	// second time as, say, "required".
	reported := map[string]bool{}
	for _, e := range w.errs {
		if fe, ok := e.(*FieldError); ok {
			reported[fe.Field] = true
		}
	}
	seen := map[string]*Rule{}
	for i := range rules {
		r := &rules[i]
		if prev, dup := seen[r.Name]; dup && r.Name != "" {
			errs = append(errs, ruleError(r, i, "name", fmt.Sprintf("duplicate rule name %q (first defined on line %d)", r.Name, prev.src.line)))
		} else {
			seen[r.Name] = r
		}
		_, rerrs := c.rule(r, i)
		for _, e := range rerrs {
			if fe, ok := e.(*FieldError); !ok || !reported[fe.Field] {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		sortByLine(errs)
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

// sortByLine orders errors as they appear in the file (all are
// *FieldError of one file here).
func sortByLine(errs []error) {
	slices.SortStableFunc(errs, func(a, b error) int {
		var fa, fb *FieldError
		if errors.As(a, &fa) && errors.As(b, &fb) {
			return fa.Line - fb.Line
		}
		return 0
	})
}

// LoadDir parses every *.yaml and *.yml file in dir (not recursively), in
// name order, and returns all their rules. Errors from all files are joined.
func LoadDir(dir string) ([]Rule, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policy: read dir: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.Type().IsRegular() && e.Type()&os.ModeSymlink == 0 {
			continue
		}
		if ext := filepath.Ext(e.Name()); ext == ".yaml" || ext == ".yml" {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	var rules []Rule
	var errs []error
	for _, name := range names {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy: %w", err))
			continue
		}
		rs, err := Parse(p, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, rs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// syntaxError turns a yaml.v3 parse error into a FieldError with its line.
func syntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimSpace(strings.Replace(msg, m[0]+":", "", 1))
	}
	// yaml.v3 often reports the line where the enclosing block starts,
	// not the offending one; say so rather than pretend precision.
	return &FieldError{File: file, Line: line, Msg: "invalid YAML at or after this line: " + msg}
}

// walker decodes yaml.v3 nodes by hand so that every field is checked and
// every error carries the node's line; yaml.v3's Node.Decode has no strict
// mode.
type walker struct {
	file string
	errs []error
	src  *source // the rule being decoded, nil at document level
}

func (w *walker) fail(line int, field, format string, args ...any) {
	fe := &FieldError{File: w.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
	if w.src != nil {
		fe.Field = joinField(fmt.Sprintf("rules[%d]", w.src.index), field)
	}
	w.errs = append(w.errs, fe)
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// fields checks that n is a mapping with only the allowed keys (no
// duplicates) and returns the value nodes by key. Lines of present fields
// are recorded for later (compile-time) errors.
func (w *walker) fields(n *yaml.Node, field string, allowed ...string) map[string]*yaml.Node {
	n = resolve(n)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		w.fail(n.Line, field, "must be a mapping")
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		name := joinField(field, k.Value)
		if field == "" {
			name = k.Value
		}
		switch {
		case k.Kind != yaml.ScalarNode:
			w.fail(k.Line, field, "keys must be strings")
		case !slices.Contains(allowed, k.Value):
			w.fail(k.Line, name, "unknown field (allowed: %s)", strings.Join(allowed, ", "))
		case out[k.Value] != nil:
			w.fail(k.Line, name, "duplicate field")
		default:
			out[k.Value] = v
			w.mark(name, k.Line)
		}
	}
	return out
}

func (w *walker) mark(field string, line int) {
	if w.src != nil {
		w.src.lines[field] = line
	}
}

func (w *walker) str(n *yaml.Node, field string) string {
	if n == nil || isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		w.fail(n.Line, field, "must be a string")
		return ""
	}
	return n.Value
}

func (w *walker) strs(n *yaml.Node, field string) []string {
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		w.fail(n.Line, field, "must be a list")
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, e := range n.Content {
		e = resolve(e)
		f := fmt.Sprintf("%s[%d]", field, i)
		w.mark(f, e.Line)
		if e.Kind != yaml.ScalarNode || isNull(e) {
			w.fail(e.Line, f, "must be a string")
			continue
		}
		out = append(out, e.Value)
	}
	return out
}

func (w *walker) duration(n *yaml.Node, field string) time.Duration {
	s := w.str(n, field)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		w.fail(n.Line, field, "invalid duration %q (want a positive duration such as 90s, 15m or 720h)", s)
		return 0
	}
	return d
}

func (w *walker) number(n *yaml.Node, field string) float64 {
	if n == nil || isNull(n) {
		return 0
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		w.fail(n.Line, field, "must be a number")
		return 0
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil {
		w.fail(n.Line, field, "must be a number")
	}
	return f
}

func (w *walker) integer(n *yaml.Node, field string) int {
	if n == nil || isNull(n) {
		return 0
	}
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || err != nil {
		w.fail(n.Line, field, "must be an integer")
		return 0
	}
	return v
}

// document decodes one YAML document: apiVersion, kind, rules.
func (w *walker) document(doc *yaml.Node) []Rule {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	root := resolve(doc.Content[0])
	if isNull(root) {
		return nil
	}
	f := w.fields(root, "", "apiVersion", "kind", "rules")
	if f == nil {
		return nil
	}
	switch v := w.str(f["apiVersion"], "apiVersion"); {
	case f["apiVersion"] == nil:
		w.fail(root.Line, "apiVersion", "required (want %q)", APIVersion)
	case v != APIVersion:
		w.fail(f["apiVersion"].Line, "apiVersion", "unsupported version %q (want %q)", v, APIVersion)
	}
	switch v := w.str(f["kind"], "kind"); {
	case f["kind"] == nil:
		w.fail(root.Line, "kind", "required (want %q)", Kind)
	case v != Kind:
		w.fail(f["kind"].Line, "kind", "unsupported kind %q (want %q)", v, Kind)
	}
	list := f["rules"]
	if list == nil || isNull(list) {
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		w.fail(list.Line, "rules", "must be a list")
		return nil
	}
	rules := make([]Rule, 0, len(list.Content))
	for i, n := range list.Content {
		rules = append(rules, w.rule(resolve(n), i))
	}
	return rules
}

func (w *walker) rule(n *yaml.Node, idx int) Rule {
	src := &source{file: w.file, index: idx, line: n.Line, lines: map[string]int{}}
	w.src = src
	defer func() { w.src = nil }()
	r := Rule{src: src}
	f := w.fields(n, "", "name", "description", "effect", "match", "when", "rate_limit")
	if f == nil {
		if isNull(n) {
			w.fail(n.Line, "", "empty rule")
		}
		return r
	}
	r.Name = w.str(f["name"], "name")
	r.Description = w.str(f["description"], "description")
	r.Effect = Effect(w.str(f["effect"], "effect"))
	if m := w.fields(f["match"], "match", "apps", "agents", "principals", "groups", "providers", "hosts", "methods", "paths", "actions"); m != nil {
		r.Match = Selector{
			Apps:       w.strs(m["apps"], "match.apps"),
			Agents:     w.strs(m["agents"], "match.agents"),
			Principals: w.strs(m["principals"], "match.principals"),
			Groups:     w.strs(m["groups"], "match.groups"),
			Providers:  w.strs(m["providers"], "match.providers"),
			Hosts:      w.strs(m["hosts"], "match.hosts"),
			Methods:    w.strs(m["methods"], "match.methods"),
			Paths:      w.strs(m["paths"], "match.paths"),
			Actions:    w.strs(m["actions"], "match.actions"),
		}
	}
	if c := w.fields(f["when"], "when", "time", "not_time", "source_cidrs", "grant_max_age", "cel"); c != nil {
		r.When = Conditions{
			Time:        w.window(c["time"], "when.time"),
			NotTime:     w.window(c["not_time"], "when.not_time"),
			SourceCIDRs: w.strs(c["source_cidrs"], "when.source_cidrs"),
			GrantMaxAge: w.duration(c["grant_max_age"], "when.grant_max_age"),
			CEL:         w.str(c["cel"], "when.cel"),
		}
	}
	if l := w.fields(f["rate_limit"], "rate_limit", "per", "rate", "period", "burst"); l != nil {
		r.RateLimit = &RateLimit{
			Per:    w.str(l["per"], "rate_limit.per"),
			Rate:   w.number(l["rate"], "rate_limit.rate"),
			Period: w.duration(l["period"], "rate_limit.period"),
			Burst:  w.integer(l["burst"], "rate_limit.burst"),
		}
	}
	return r
}

func (w *walker) window(n *yaml.Node, field string) *Window {
	f := w.fields(n, field, "zone", "days", "from", "to")
	if f == nil {
		return nil
	}
	return &Window{
		Zone: w.str(f["zone"], field+".zone"),
		Days: w.strs(f["days"], field+".days"),
		From: w.str(f["from"], field+".from"),
		To:   w.str(f["to"], field+".to"),
	}
}
