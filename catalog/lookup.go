package catalog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Catalog is the loaded, validated provider catalog. It is immutable after
// Load and safe for concurrent use; the *Provider values it hands out are
// shared and must not be modified.
type Catalog struct {
	providers []*Provider // sorted by ID
	byID      map[string]*Provider
	exact     hostIndex // "api.openai.com" → 443
	wild      hostIndex // "*.slack.com" is stored as "slack.com" → 443
	hosts     []Host    // sorted, for docs and listings
}

// Host is one host pattern of the catalog and the provider that owns it.
type Host struct {
	Pattern  string `json:"pattern"`  // canonical form: lower case, no ":443": "api.openai.com", "*.slack.com", "x.example.com:8443"
	Provider string `json:"provider"` // provider ID
}

// Lookup returns the provider that owns host:port. host is matched
// case-insensitively and may carry one trailing dot. An exact entry beats a
// wildcard; among wildcards the longest suffix wins (Load guarantees there is
// no ambiguity across providers). "*.slack.com" matches "a.slack.com" and
// "a.b.slack.com" but not "slack.com". A catalog entry without a port
// matches port 443 only. Malformed names and ports outside 1-65535 match
// nothing.
//
// Lookup is on the hot path of every CONNECT: one map probe for the exact
// name, then one per dot for wildcard suffixes, without allocating for
// lower-case input.
func (c *Catalog) Lookup(host string, port int) (*Provider, bool) {
	if port < 1 || port > 65535 {
		return nil, false
	}
	host, ok := normalizeLookupHost(host)
	if !ok {
		return nil, false
	}
	if p, ok := c.exact.get(host, port); ok {
		return p, true
	}
	if len(c.wild) == 0 {
		return nil, false
	}
	// Walk suffixes from the longest: "a.b.slack.com" tries "b.slack.com",
	// then "slack.com"; never the single label "com", since a wildcard
	// suffix has at least two labels.
	last := strings.LastIndexByte(host, '.')
	for i := strings.IndexByte(host, '.'); i >= 0 && i < last; i = nextDot(host, i) {
		if p, ok := c.wild.get(host[i+1:], port); ok {
			return p, true
		}
	}
	return nil, false
}

// Get returns the provider with this ID.
func (c *Catalog) Get(id string) (*Provider, bool) {
	p, ok := c.byID[id]
	return p, ok
}

// List returns every provider sorted by ID. The slice is a fresh copy; the
// providers are shared.
func (c *Catalog) List() []*Provider { return slices.Clone(c.providers) }

// Hosts returns every host pattern of the catalog with its owner, sorted by
// pattern (a fresh copy). It is what the proxy intercepts.
func (c *Catalog) Hosts() []Host { return slices.Clone(c.hosts) }

// hostIndex maps a name to the providers owning it per port. Keyed by the
// bare string because string map keys hash markedly faster than a
// struct{string; int}; nearly every name has a single port, so the inner
// scan is one comparison.
type hostIndex map[string][]portOwner

type portOwner struct {
	port int
	p    *Provider
}

func (ix hostIndex) get(name string, port int) (*Provider, bool) {
	for _, e := range ix[name] {
		if e.port == port {
			return e.p, true
		}
	}
	return nil, false
}

func (ix hostIndex) add(h hostPattern, p *Provider) {
	ix[h.name] = append(ix[h.name], portOwner{h.port, p})
}

// owner records who claimed a host pattern first, for error messages.
type owner struct {
	p       *Provider
	pattern hostPattern
	field   string // "hosts[i]" in the owner's file
}

func (o owner) describe() string {
	return fmt.Sprintf("%q of provider %q (%s)", o.pattern.String(), o.p.ID, o.p.Source)
}

// index builds the lookup maps from validated entries (earlier sources
// first, then by ID) and enforces that host patterns are unique across the
// whole catalog: no host listed twice, and no wildcard of one provider
// covering a host or a narrower wildcard of another. Otherwise which provider gets a credential
// would depend on lookup order, and adding a file could silently take hosts
// away from a built-in provider.
func index(entries []*entry) (*Catalog, error) {
	c := &Catalog{
		byID:  make(map[string]*Provider, len(entries)),
		exact: make(hostIndex),
		wild:  make(hostIndex),
	}
	exact := make(map[hostKey]owner)
	wild := make(map[hostKey]owner)
	var all []owner
	var errs []error
	for _, e := range entries {
		p := e.p
		c.providers = append(c.providers, p)
		c.byID[p.ID] = p
		for i, h := range e.hosts {
			o := owner{p, h, fmt.Sprintf("hosts[%d]", i)}
			set := exact
			if h.wildcard {
				set = wild
			}
			if prev, dup := set[h.key()]; dup {
				errs = append(errs, &FieldError{File: p.Source, Field: o.field,
					Msg: fmt.Sprintf("%q is already listed as %s", h.String(), prev.describe())})
				continue
			}
			set[h.key()] = o
			all = append(all, o)
		}
	}
	// Coverage: walk the proper suffixes of every pattern; a suffix that is
	// another provider's wildcard (same port) is a conflict, reported on the
	// wildcard since it is the broader claim.
	for _, o := range all {
		name := o.pattern.name
		if o.pattern.wildcard {
			name = "x." + name // start one label above: a wildcard's own suffix is itself
		}
		for j := strings.IndexByte(name, '.'); j >= 0; j = nextDot(name, j) {
			w, ok := wild[hostKey{name[j+1:], o.pattern.port}]
			if !ok || w.p == o.p {
				continue
			}
			errs = append(errs, &FieldError{File: w.p.Source, Field: w.field,
				Msg: fmt.Sprintf("%q covers %s: hosts must be unique across the catalog", w.pattern.String(), o.describe())})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, o := range all {
		if o.pattern.wildcard {
			c.wild.add(o.pattern, o.p)
		} else {
			c.exact.add(o.pattern, o.p)
		}
		c.hosts = append(c.hosts, Host{Pattern: o.pattern.String(), Provider: o.p.ID})
	}
	slices.SortFunc(c.providers, func(a, b *Provider) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(c.hosts, func(a, b Host) int { return strings.Compare(a.Pattern, b.Pattern) })
	return c, nil
}

// nextDot returns the index of the next '.' after i in s, or -1.
func nextDot(s string, i int) int {
	k := strings.IndexByte(s[i+1:], '.')
	if k < 0 {
		return -1
	}
	return i + 1 + k
}
