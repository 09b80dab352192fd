package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Config is Gatehouse's whole configuration, loaded once by loadConfig from
// the YAML file, GATEHOUSE_* environment variables and flags (in increasing
// priority), validated by Validate and passed down as plain structs. Every
// field's comment states its default. Relative paths are made absolute
// against the working directory at load time.
type Config struct {
	// DataDir holds the SQLite database, the CA, the generated development
	// KEK, the pepper and the admin token. Default "./.gatehouse".
	DataDir  string         `mapstructure:"data_dir"`
	Proxy    ProxyConfig    `mapstructure:"proxy"`
	Admin    AdminConfig    `mapstructure:"admin"`
	Database DatabaseConfig `mapstructure:"database"`
	Redis    RedisConfig    `mapstructure:"redis"`
	Upstream UpstreamConfig `mapstructure:"upstream"`
	Egress   EgressConfig   `mapstructure:"egress"`
	Catalog  CatalogConfig  `mapstructure:"catalog"`
	Audit    AuditConfig    `mapstructure:"audit"`
	Vault    VaultConfig    `mapstructure:"vault"`
	OAuth    OAuthConfig    `mapstructure:"oauth"`
	Policy   PolicyConfig   `mapstructure:"policy"`
	Log      LogConfig      `mapstructure:"log"`
}

// ProxyConfig configures the egress proxy listener.
type ProxyConfig struct {
	// Listen is the proxy's TCP address. Default "127.0.0.1:8080".
	Listen string `mapstructure:"listen"`
	// IdleTimeout closes idle client connections and tunnels. Default 2m.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// HandshakeTimeout bounds the client TLS handshake inside a CONNECT
	// tunnel. Default 10s.
	HandshakeTimeout time.Duration `mapstructure:"handshake_timeout"`
	// MaxHeaderBytes caps a request head, in bytes. Default 65536 (64 KiB).
	MaxHeaderBytes int `mapstructure:"max_header_bytes"`
}

// AdminConfig configures the admin (control-plane) listener.
type AdminConfig struct {
	// Listen is the admin API's TCP address. Default "127.0.0.1:8081".
	Listen string `mapstructure:"listen"`
	// PublicURL is the externally reachable base URL of the admin listener
	// (base of the OAuth redirect URI). Default "http://<admin.listen>", with
	// an unspecified host (0.0.0.0, ::) replaced by 127.0.0.1.
	PublicURL string `mapstructure:"public_url"`
}

// DatabaseConfig selects the store.
type DatabaseConfig struct {
	// URL of a PostgreSQL database (postgres://user:password@host:5432/db?
	// sslmode=require). Default "" (SQLite at <data_dir>/gatehouse.db). Set,
	// serve migrates it (safe with several replicas) and uses it for the
	// vault and the audit events.
	URL string `mapstructure:"url"`
	// Schema holding Gatehouse's tables, created when missing. Default ""
	// (the connection's search_path, normally public).
	Schema string `mapstructure:"schema"`
	// MaxConns caps the PostgreSQL connection pool of one process.
	// Default 16.
	MaxConns int32 `mapstructure:"max_conns"`
}

// RedisConfig selects the shared cache.
type RedisConfig struct {
	// URL of a Redis server (redis://[:password@]host:6379/0, rediss:// for
	// TLS). Default "" (in-process cache only: a revocation reaches other
	// replicas only when their cache entries expire). Set, the vault caches
	// store rows there (never decrypted material) and every replica drops
	// revoked entries through its pub/sub channel. An unreachable Redis at
	// start is a warning, not an error: it is used once it answers.
	URL string `mapstructure:"url"`
	// Prefix starts every Redis key and the invalidation channel; replicas
	// of one deployment share it. Default "gatehouse:".
	Prefix string `mapstructure:"prefix"`
}

// UpstreamConfig configures every outbound connection Gatehouse makes.
type UpstreamConfig struct {
	// Resolve pins "host:port" to "ip:port", like curl's --resolve.
	// Default {} (normal DNS). In the environment:
	// GATEHOUSE_UPSTREAM_RESOLVE="host:port=ip:port,host:port=ip:port".
	Resolve map[string]string `mapstructure:"resolve"`
	// ExtraRoots are PEM files trusted in addition to the system roots.
	// Default [].
	ExtraRoots []string `mapstructure:"extra_roots"`
	// DialTimeout bounds one upstream TCP connect. Default 10s.
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
}

// EgressConfig configures the SSRF guard.
type EgressConfig struct {
	// AllowCIDRs are private ranges upstream connections may reach anyway.
	// Default [].
	AllowCIDRs []string `mapstructure:"allow_cidrs"`
}

// CatalogConfig configures the provider catalog.
type CatalogConfig struct {
	// Dirs hold extra provider YAML files (a missing directory is fine).
	// Default [<data_dir>/providers].
	Dirs []string `mapstructure:"dirs"`
}

// AuditConfig configures the audit writer.
type AuditConfig struct {
	// QueueSize bounds the events waiting to be written. Default 16384.
	QueueSize int `mapstructure:"queue_size"`
}

// VaultConfig configures credential encryption and caching.
type VaultConfig struct {
	// ActiveKEK is the id of the key-encryption key new credentials are
	// sealed with. Default "dev".
	ActiveKEK string `mapstructure:"active_kek"`
	// KEKFiles maps KEK id to a file holding 32 base64-encoded bytes. The
	// active KEK's file is generated when missing; other files must exist.
	// Ids are lower case. Default {"dev": "<data_dir>/kek-dev.key"}. In the
	// environment: GATEHOUSE_VAULT_KEK_FILES="id=path,id=path".
	KEKFiles map[string]string `mapstructure:"kek_files"`
	// PepperFile holds the HMAC pepper for caller keys; generated when
	// missing. Default "<data_dir>/pepper.key".
	PepperFile string `mapstructure:"pepper_file"`
	// CacheTTL bounds how long decrypted material and lookups are cached in
	// process; 0 disables caching. Default 5s.
	CacheTTL time.Duration `mapstructure:"cache_ttl"`
	// StaleIfError is how long past cache_ttl cached entries are still
	// served while the database is unreachable; what is not cached is
	// refused (vault_unavailable). Revoked entries are never served. 0
	// disables. Default 5m.
	StaleIfError time.Duration `mapstructure:"stale_if_error"`
}

// OAuthConfig configures OAuth grants: token refresh and the connect flow.
// The redirect URI is admin.public_url + "/oauth/callback".
type OAuthConfig struct {
	// RefreshSkew: an access token expiring within this window (or already
	// expired) is refreshed before it is injected. Default 2m.
	RefreshSkew time.Duration `mapstructure:"refresh_skew"`
	// ProactiveWindow: a token used with less than this left (but more
	// than refresh_skew) is refreshed in the background, so hot grants
	// never wait for a refresh. At least refresh_skew; equal disables
	// proactive refresh. Default 5m.
	ProactiveWindow time.Duration `mapstructure:"proactive_window"`
	// LeaseTTL bounds the Redis lease one replica holds while it refreshes
	// a credential (only with redis.url); it must exceed token_timeout.
	// Default 60s.
	LeaseTTL time.Duration `mapstructure:"lease_ttl"`
	// TokenTimeout bounds one call to a provider's token or revocation
	// endpoint. Default 20s.
	TokenTimeout time.Duration `mapstructure:"token_timeout"`
	// ConnectTTL is how long a connect session (the user's trip to the
	// provider's consent page) stays valid; 1m to 24h. Default 10m.
	ConnectTTL time.Duration `mapstructure:"connect_ttl"`
}

// PolicyConfig configures the policy engine (docs/policy.md).
type PolicyConfig struct {
	// Dirs hold policy rule files (*.yaml, *.yml). The first directory is
	// watched (created when missing) and reloaded when a file changes; the
	// others are read again on every reload (a change in the first one, or
	// an app policy set through the API). A file that does not validate is
	// logged with file, line and field, and the last good policy stays.
	// Default [<data_dir>/policies].
	Dirs []string `mapstructure:"dirs"`
	// DefaultEffect applies to a call no rule decides: "allow" (rules only
	// restrict) or "deny" (strict mode: every call needs a matching allow
	// rule). Default "allow".
	DefaultEffect string `mapstructure:"default_effect"`
}

// LogConfig configures the slog logger.
type LogConfig struct {
	// Level is debug, info, warn or error. Default "info".
	Level string `mapstructure:"level"`
	// Format is json or text. Default "json".
	Format string `mapstructure:"format"`
}

// keyDelim separates nested keys inside viper. Viper's default "." would
// split map keys such as "api.openai.com:443" into nested maps.
const keyDelim = "::"

// envPrefix prefixes every environment variable.
const envPrefix = "GATEHOUSE"

// staticDefaults are the defaults that do not depend on another key.
func staticDefaults() map[string]any {
	return map[string]any{
		"data_dir":                 "./.gatehouse",
		"proxy::listen":            "127.0.0.1:8080",
		"proxy::idle_timeout":      "2m",
		"proxy::handshake_timeout": "10s",
		"proxy::max_header_bytes":  64 << 10,
		"admin::listen":            "127.0.0.1:8081",
		"database::url":            "",
		"database::schema":         "",
		"database::max_conns":      16,
		"redis::url":               "",
		"redis::prefix":            "gatehouse:",
		"upstream::extra_roots":    []string{},
		"upstream::dial_timeout":   "10s",
		"egress::allow_cidrs":      []string{},
		"audit::queue_size":        16384,
		"vault::active_kek":        "dev",
		"vault::cache_ttl":         "5s",
		"vault::stale_if_error":    "5m",
		"oauth::refresh_skew":      "2m",
		"oauth::proactive_window":  "5m",
		"oauth::lease_ttl":         "60s",
		"oauth::token_timeout":     "20s",
		"oauth::connect_ttl":       "10m",
		"policy::default_effect":   "allow",
		"log::level":               "info",
		"log::format":              "json",
	}
}

// mapKeys are keys whose value is a map. They get no default (a default map
// would be merged with the file's map key by key) but are bound to the
// environment explicitly so an env-only value is still seen.
func mapKeys() []string { return []string{"upstream::resolve", "vault::kek_files"} }

// flagKeys maps a flag name to the config key it overrides. A flag that is
// not defined on the command being run is ignored.
func flagKeys() map[string]string {
	return map[string]string{
		"data-dir":     "data_dir",
		"proxy-listen": "proxy::listen",
		"admin-listen": "admin::listen",
		"log-level":    "log::level",
	}
}

// loadConfig builds the configuration from file (optional; "" means none),
// the GATEHOUSE_* environment and flags, then fills the defaults derived from
// other keys and makes paths absolute. It does not validate.
func loadConfig(file string, flags *pflag.FlagSet) (Config, error) {
	v := viper.NewWithOptions(viper.KeyDelimiter(keyDelim))
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(keyDelim, "_"))
	v.AutomaticEnv()
	for k, d := range staticDefaults() {
		v.SetDefault(k, d)
	}
	for _, k := range mapKeys() {
		if err := v.BindEnv(k); err != nil {
			return Config{}, fmt.Errorf("config: bind %s: %w", k, err)
		}
	}
	if flags != nil {
		for name, key := range flagKeys() {
			if f := flags.Lookup(name); f != nil {
				if err := v.BindPFlag(key, f); err != nil {
					return Config{}, fmt.Errorf("config: bind flag --%s: %w", name, err)
				}
			}
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", file, err)
		}
	}

	// Defaults derived from other keys are set once those keys are known, so
	// an explicit value (even an empty list) still wins.
	dataDir := v.GetString("data_dir")
	v.SetDefault("catalog::dirs", []string{filepath.Join(dataDir, "providers")})
	v.SetDefault("policy::dirs", []string{filepath.Join(dataDir, "policies")})
	v.SetDefault("vault::pepper_file", filepath.Join(dataDir, "pepper.key"))
	v.SetDefault("admin::public_url", "http://"+browsableAddr(v.GetString("admin::listen")))

	var c Config
	hook := mapstructure.ComposeDecodeHookFunc(
		stringToMapHook,
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)
	if err := v.UnmarshalExact(&c, viper.DecodeHook(hook)); err != nil {
		return Config{}, describeDecodeError(err)
	}
	if len(c.Vault.KEKFiles) == 0 {
		c.Vault.KEKFiles = map[string]string{"dev": filepath.Join(dataDir, "kek-dev.key")}
	}
	if c.Upstream.Resolve == nil {
		c.Upstream.Resolve = map[string]string{}
	}
	c.normalise()
	return c, nil
}

// normalise lower-cases map keys that name hosts and makes every path
// absolute, so later code and printed hints never depend on the cwd again.
func (c *Config) normalise() {
	abs := func(p string) string {
		if p == "" {
			return p
		}
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	c.DataDir = abs(c.DataDir)
	c.Vault.PepperFile = abs(c.Vault.PepperFile)
	for i, d := range c.Catalog.Dirs {
		c.Catalog.Dirs[i] = abs(d)
	}
	for i, d := range c.Policy.Dirs {
		c.Policy.Dirs[i] = abs(strings.TrimSpace(d))
	}
	for i, f := range c.Upstream.ExtraRoots {
		c.Upstream.ExtraRoots[i] = abs(strings.TrimSpace(f))
	}
	for i, s := range c.Egress.AllowCIDRs {
		c.Egress.AllowCIDRs[i] = strings.TrimSpace(s)
	}
	keks := make(map[string]string, len(c.Vault.KEKFiles))
	for id, p := range c.Vault.KEKFiles {
		keks[strings.ToLower(strings.TrimSpace(id))] = abs(strings.TrimSpace(p))
	}
	c.Vault.KEKFiles = keks
	res := make(map[string]string, len(c.Upstream.Resolve))
	for k, val := range c.Upstream.Resolve {
		res[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
	}
	c.Upstream.Resolve = res
}

// browsableAddr turns a listen address into one a client can dial: an
// unspecified host (0.0.0.0, ::, "") becomes 127.0.0.1.
func browsableAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// stringToMapHook decodes "k=v,k=v" (how a map arrives from the
// environment) into map[string]string.
func stringToMapHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeOf(map[string]string{}) {
		return data, nil
	}
	out := map[string]string{}
	for entry := range strings.SplitSeq(data.(string), ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		k, val, ok := strings.Cut(entry, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("entry %q is not key=value", entry)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return out, nil
}

// describeDecodeError rewrites mapstructure's nested errors into one line
// per problem, each naming the dotted key ("proxy.idle_timeout: …",
// "unknown key proxy.listn").
func describeDecodeError(err error) error {
	var lines []string
	var walk func(name string, err error)
	walk = func(name string, err error) {
		if de, ok := err.(*mapstructure.DecodeError); ok {
			walk(de.Name(), de.Unwrap())
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(name, e)
			}
			return
		}
		if w := errors.Unwrap(err); w != nil && strings.HasPrefix(err.Error(), "decoding failed") {
			walk(name, w)
			return
		}
		msg := err.Error()
		switch {
		case strings.HasPrefix(msg, "has invalid keys: "):
			for _, k := range strings.Split(strings.TrimPrefix(msg, "has invalid keys: "), ", ") {
				if name != "" {
					k = name + "." + k
				}
				lines = append(lines, "unknown key "+k)
			}
			return
		case strings.HasPrefix(msg, "time: invalid duration"):
			msg = "not a duration such as 10s or 2m"
		}
		if name == "" {
			lines = append(lines, msg)
			return
		}
		lines = append(lines, name+": "+msg)
	}
	walk("", err)
	slices.Sort(lines)
	return fmt.Errorf("config: %s", strings.Join(lines, "; "))
}
