package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kekIDPattern is what a KEK id must look like (viper lower-cases map keys,
// so ids are lower case by construction).
var kekIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Validate checks the whole configuration and returns every problem found,
// each naming the key it concerns.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "must not be empty")
	}
	for key, addr := range map[string]string{"proxy.listen": c.Proxy.Listen, "admin.listen": c.Admin.Listen} {
		if err := checkListen(addr); err != nil {
			bad(key, "%q is not a listen address (want host:port, e.g. 127.0.0.1:8080): %v", addr, err)
		}
	}
	if c.Proxy.Listen == c.Admin.Listen && !strings.HasSuffix(c.Proxy.Listen, ":0") {
		bad("admin.listen", "%q is also proxy.listen; the two listeners need different addresses", c.Admin.Listen)
	}
	positive := []struct {
		key string
		d   time.Duration
	}{
		{"proxy.idle_timeout", c.Proxy.IdleTimeout},
		{"proxy.handshake_timeout", c.Proxy.HandshakeTimeout},
		{"upstream.dial_timeout", c.Upstream.DialTimeout},
	}
	for _, p := range positive {
		if p.d <= 0 {
			bad(p.key, "must be a positive duration such as 10s or 2m (got %s)", p.d)
		}
	}
	if c.Vault.CacheTTL < 0 {
		bad("vault.cache_ttl", "must not be negative (got %s)", c.Vault.CacheTTL)
	}
	if c.Proxy.MaxHeaderBytes < 1<<10 || c.Proxy.MaxHeaderBytes > 16<<20 {
		bad("proxy.max_header_bytes", "must be between 1024 and 16777216 bytes (got %d)", c.Proxy.MaxHeaderBytes)
	}
	if err := checkPublicURL(c.Admin.PublicURL); err != nil {
		bad("admin.public_url", "%q: %v", c.Admin.PublicURL, err)
	}

	for _, host := range sortedKeys(c.Upstream.Resolve) {
		if err := checkResolve(host, c.Upstream.Resolve[host]); err != nil {
			bad("upstream.resolve", "entry %q: %v", host, err)
		}
	}
	for i, f := range c.Upstream.ExtraRoots {
		if err := checkRootsFile(f); err != nil {
			bad(fmt.Sprintf("upstream.extra_roots[%d]", i), "%v", err)
		}
	}
	for i, s := range c.Egress.AllowCIDRs {
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			bad(fmt.Sprintf("egress.allow_cidrs[%d]", i), "%q is not a CIDR such as 10.0.0.0/8", s)
		case p.Masked() != p:
			bad(fmt.Sprintf("egress.allow_cidrs[%d]", i), "%q has host bits set; did you mean %s?", s, p.Masked())
		}
	}
	for i, d := range c.Catalog.Dirs {
		if strings.TrimSpace(d) == "" {
			bad(fmt.Sprintf("catalog.dirs[%d]", i), "must not be empty")
		}
	}
	for i, d := range c.Policy.Dirs {
		if strings.TrimSpace(d) == "" {
			bad(fmt.Sprintf("policy.dirs[%d]", i), "must not be empty")
		}
	}
	if !slices.Contains([]string{"allow", "deny"}, c.Policy.DefaultEffect) {
		bad("policy.default_effect", "%q is not one of allow, deny", c.Policy.DefaultEffect)
	}
	errs = append(errs, c.Database.problems()...)
	if c.Audit.QueueSize < 1 || c.Audit.QueueSize > 1<<20 {
		bad("audit.queue_size", "must be between 1 and 1048576 (got %d)", c.Audit.QueueSize)
	}

	for _, id := range sortedKeys(c.Vault.KEKFiles) {
		if !kekIDPattern.MatchString(id) {
			bad("vault.kek_files", "id %q must match %s", id, kekIDPattern)
		}
		if c.Vault.KEKFiles[id] == "" {
			bad("vault.kek_files", "id %q has no file path", id)
		}
	}
	if _, ok := c.Vault.KEKFiles[c.Vault.ActiveKEK]; !ok {
		bad("vault.active_kek", "%q is not an id in vault.kek_files (have %s); KEK ids are lower case",
			c.Vault.ActiveKEK, strings.Join(sortedKeys(c.Vault.KEKFiles), ", "))
	}
	if strings.TrimSpace(c.Vault.PepperFile) == "" {
		bad("vault.pepper_file", "must not be empty")
	}
	errs = append(errs, c.OAuth.problems()...)

	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if !slices.Contains([]string{"json", "text"}, c.Log.Format) {
		bad("log.format", "%q is not one of json, text", c.Log.Format)
	}

	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// Bounds of oauth.connect_ttl: a consent page takes a person a while, and
// a session left open for days is a stale invitation.
const (
	minConnectTTL = 10 * time.Second
	maxConnectTTL = 24 * time.Hour
)

// problems checks the oauth.* keys.
func (o OAuthConfig) problems() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for _, p := range []struct {
		key string
		d   time.Duration
	}{
		{"oauth.refresh_skew", o.RefreshSkew},
		{"oauth.proactive_window", o.ProactiveWindow},
		{"oauth.lease_ttl", o.LeaseTTL},
		{"oauth.token_timeout", o.TokenTimeout},
	} {
		if p.d <= 0 {
			bad(p.key, "must be a positive duration such as 30s or 2m (got %s)", p.d)
		}
	}
	if o.ProactiveWindow > 0 && o.RefreshSkew > 0 && o.ProactiveWindow < o.RefreshSkew {
		bad("oauth.proactive_window", "%s is shorter than oauth.refresh_skew (%s); it must be at least as long", o.ProactiveWindow, o.RefreshSkew)
	}
	if o.LeaseTTL > 0 && o.TokenTimeout > 0 && o.LeaseTTL <= o.TokenTimeout {
		bad("oauth.lease_ttl", "%s must be longer than oauth.token_timeout (%s), or a lease could expire during a refresh", o.LeaseTTL, o.TokenTimeout)
	}
	if o.ConnectTTL < minConnectTTL || o.ConnectTTL > maxConnectTTL {
		bad("oauth.connect_ttl", "must be between %s and %s (got %s)", minConnectTTL, maxConnectTTL, o.ConnectTTL)
	}
	return errs
}

// checkListen accepts host:port with a numeric port (0 picks a free port).
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := parsePort(port, true); err != nil {
		return err
	}
	return nil
}

// parsePort parses a decimal TCP port; zero only when allowZero.
func parsePort(s string, allowZero bool) (int, error) {
	lowest := 1
	if allowZero {
		lowest = 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lowest || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number between %d and 65535", s, lowest)
	}
	return n, nil
}

// checkPublicURL accepts an absolute http(s) URL without query or fragment.
func checkPublicURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("scheme must be http or https")
	}
	if u.Host == "" {
		return errors.New("missing host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// checkResolve accepts "host:port" → "ip:port".
func checkResolve(hostport, target string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" || strings.Contains(host, "*") {
		return errors.New("key must be host:port such as api.openai.com:443")
	}
	if _, err := parsePort(port, false); err != nil {
		return fmt.Errorf("key: %w", err)
	}
	ap, err := netip.ParseAddrPort(target)
	if err != nil || ap.Port() == 0 {
		return fmt.Errorf("target %q must be ip:port such as 127.0.0.1:9443", target)
	}
	return nil
}

// checkRootsFile requires a readable file holding at least one PEM
// certificate: a silently ignored non-PEM CA file is a known trap.
func checkRootsFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("file %s does not exist", path)
		}
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return fmt.Errorf("file %s holds no PEM certificate", path)
	}
	return nil
}

// sortedKeys returns m's keys in order, for deterministic messages.
func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
