package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

// clearGatehouseEnv removes every GATEHOUSE_* variable for the test so the
// developer's environment cannot change results.
func clearGatehouseEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, envPrefix+"_") {
			t.Setenv(k, "")
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// loadForTest writes yaml (if any) to a temp file, sets env, parses args
// against the flags serve defines and loads the configuration.
func loadForTest(t *testing.T, yaml string, env map[string]string, args []string) (Config, error) {
	t.Helper()
	clearGatehouseEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	file := ""
	if yaml != "" {
		file = filepath.Join(t.TempDir(), "gatehouse.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addConfigFlags(fs)
	addListenFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return loadConfig(file, fs)
}

// defaultsFor is the configuration every key at its default gives for dataDir.
func defaultsFor(t *testing.T, dataDir string) Config {
	t.Helper()
	dd, err := filepath.Abs(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		DataDir: dd,
		Proxy: ProxyConfig{
			Listen: "127.0.0.1:8080", IdleTimeout: 2 * time.Minute,
			HandshakeTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
		},
		Admin:    AdminConfig{Listen: "127.0.0.1:8081", PublicURL: "http://127.0.0.1:8081"},
		Database: DatabaseConfig{MaxConns: 16},
		Redis:    RedisConfig{Prefix: "gatehouse:"},
		Upstream: UpstreamConfig{Resolve: map[string]string{}, ExtraRoots: []string{}, DialTimeout: 10 * time.Second},
		Egress:   EgressConfig{AllowCIDRs: []string{}},
		Catalog:  CatalogConfig{Dirs: []string{filepath.Join(dd, "providers")}},
		Audit:    AuditConfig{QueueSize: 16384},
		Vault: VaultConfig{
			ActiveKEK:    "dev",
			KEKFiles:     map[string]string{"dev": filepath.Join(dd, "kek-dev.key")},
			PepperFile:   filepath.Join(dd, "pepper.key"),
			CacheTTL:     5 * time.Second,
			StaleIfError: 5 * time.Minute,
		},
		OAuth: OAuthConfig{
			RefreshSkew: 2 * time.Minute, ProactiveWindow: 5 * time.Minute, LeaseTTL: time.Minute,
			TokenTimeout: 20 * time.Second, ConnectTTL: 10 * time.Minute,
		},
		Policy: PolicyConfig{Dirs: []string{filepath.Join(dd, "policies")}, DefaultEffect: "allow"},
		Log:    LogConfig{Level: "info", Format: "json"},
	}
}

func TestLoadConfig(t *testing.T) {
	tmp := t.TempDir()
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		args []string
		want func(c *Config)
	}{
		{name: "defaults", want: func(*Config) {}},
		{
			name: "data dir flag moves derived paths",
			args: []string{"--data-dir", tmp},
			want: func(c *Config) { *c = defaultsFor(t, tmp) },
		},
		{
			name: "data dir env",
			env:  map[string]string{"GATEHOUSE_DATA_DIR": tmp},
			want: func(c *Config) { *c = defaultsFor(t, tmp) },
		},
		{
			name: "flag beats env beats file",
			yaml: "proxy:\n  listen: 127.0.0.1:1001\nadmin:\n  listen: 127.0.0.1:2001\nlog:\n  level: debug\n",
			env:  map[string]string{"GATEHOUSE_PROXY_LISTEN": "127.0.0.1:1002"},
			args: []string{"--admin-listen", "127.0.0.1:2003"},
			want: func(c *Config) {
				c.Proxy.Listen = "127.0.0.1:1002"
				c.Admin.Listen = "127.0.0.1:2003"
				c.Admin.PublicURL = "http://127.0.0.1:2003"
				c.Log.Level = "debug"
			},
		},
		{
			name: "resolve map from yaml keeps dotted host keys",
			yaml: "upstream:\n  resolve:\n    api.openai.com:443: 127.0.0.1:9443\n    API.Example.COM:8443: \"[::1]:9444\"\n",
			want: func(c *Config) {
				c.Upstream.Resolve = map[string]string{
					"api.openai.com:443":   "127.0.0.1:9443",
					"api.example.com:8443": "[::1]:9444",
				}
			},
		},
		{
			name: "resolve map from env",
			env:  map[string]string{"GATEHOUSE_UPSTREAM_RESOLVE": "api.openai.com:443=127.0.0.1:9443, api.anthropic.com:443=127.0.0.1:9444"},
			want: func(c *Config) {
				c.Upstream.Resolve = map[string]string{
					"api.openai.com:443":    "127.0.0.1:9443",
					"api.anthropic.com:443": "127.0.0.1:9444",
				}
			},
		},
		{
			name: "resolve env replaces the file map",
			yaml: "upstream:\n  resolve:\n    api.openai.com:443: 127.0.0.1:1\n",
			env:  map[string]string{"GATEHOUSE_UPSTREAM_RESOLVE": "api.github.com:443=127.0.0.1:2"},
			want: func(c *Config) { c.Upstream.Resolve = map[string]string{"api.github.com:443": "127.0.0.1:2"} },
		},
		{
			name: "lists and durations from env",
			env: map[string]string{
				"GATEHOUSE_EGRESS_ALLOW_CIDRS":    "10.0.0.0/8,192.168.0.0/16",
				"GATEHOUSE_CATALOG_DIRS":          "/etc/gatehouse/providers",
				"GATEHOUSE_UPSTREAM_DIAL_TIMEOUT": "3s",
				"GATEHOUSE_AUDIT_QUEUE_SIZE":      "10",
			},
			want: func(c *Config) {
				c.Egress.AllowCIDRs = []string{"10.0.0.0/8", "192.168.0.0/16"}
				c.Catalog.Dirs = []string{"/etc/gatehouse/providers"}
				c.Upstream.DialTimeout = 3 * time.Second
				c.Audit.QueueSize = 10
			},
		},
		{
			name: "oauth keys from file and env",
			yaml: "oauth:\n  refresh_skew: 90s\n  connect_ttl: 15m\n",
			env:  map[string]string{"GATEHOUSE_OAUTH_TOKEN_TIMEOUT": "5s", "GATEHOUSE_OAUTH_LEASE_TTL": "30s"},
			want: func(c *Config) {
				c.OAuth.RefreshSkew = 90 * time.Second
				c.OAuth.ConnectTTL = 15 * time.Minute
				c.OAuth.TokenTimeout = 5 * time.Second
				c.OAuth.LeaseTTL = 30 * time.Second
			},
		},
		{
			name: "policy keys from file and env",
			yaml: "policy:\n  dirs: [/etc/gatehouse/policies, /srv/shared]\n",
			env:  map[string]string{"GATEHOUSE_POLICY_DEFAULT_EFFECT": "deny"},
			want: func(c *Config) {
				c.Policy.Dirs = []string{"/etc/gatehouse/policies", "/srv/shared"}
				c.Policy.DefaultEffect = "deny"
			},
		},
		{
			name: "kek files replace the dev default",
			yaml: "vault:\n  active_kek: prod1\n  kek_files:\n    prod1: /keys/prod1.key\n",
			want: func(c *Config) {
				c.Vault.ActiveKEK = "prod1"
				c.Vault.KEKFiles = map[string]string{"prod1": "/keys/prod1.key"}
			},
		},
		{
			name: "kek files from env",
			env:  map[string]string{"GATEHOUSE_VAULT_KEK_FILES": "a=/k/a,b=/k/b", "GATEHOUSE_VAULT_ACTIVE_KEK": "b"},
			want: func(c *Config) {
				c.Vault.ActiveKEK = "b"
				c.Vault.KEKFiles = map[string]string{"a": "/k/a", "b": "/k/b"}
			},
		},
		{
			name: "explicit empty catalog dirs wins over the derived default",
			yaml: "catalog:\n  dirs: []\n",
			want: func(c *Config) { c.Catalog.Dirs = []string{} },
		},
		{
			name: "public url follows an unspecified admin host",
			yaml: "admin:\n  listen: 0.0.0.0:9000\n",
			want: func(c *Config) {
				c.Admin.Listen = "0.0.0.0:9000"
				c.Admin.PublicURL = "http://127.0.0.1:9000"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			got, err := loadForTest(t, tt.yaml, tt.env, tt.args)
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			want := defaultsFor(t, "./.gatehouse")
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string
	}{
		{name: "unknown top-level key", yaml: "dta_dir: /x\n", want: "dta_dir"},
		{name: "unknown nested key", yaml: "proxy:\n  listn: 127.0.0.1:1\n", want: "listn"},
		{name: "bad duration in file", yaml: "proxy:\n  idle_timeout: soon\n", want: "proxy.idle_timeout"},
		{name: "bad duration in env", env: map[string]string{"GATEHOUSE_VAULT_CACHE_TTL": "x"}, want: "vault.cache_ttl"},
		{name: "bad int", yaml: "audit:\n  queue_size: lots\n", want: "audit.queue_size"},
		{name: "bad resolve env entry", env: map[string]string{"GATEHOUSE_UPSTREAM_RESOLVE": "api.openai.com:443"}, want: "not key=value"},
		{name: "malformed yaml", yaml: "proxy: [\n", want: "config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadForTest(t, tt.yaml, tt.env, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("loadConfig error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	clearGatehouseEnv(t)
	_, err := loadConfig(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("loadConfig error = %v, want one naming the file", err)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	goodPEM := filepath.Join(dir, "root.pem")
	writeTestCert(t, goodPEM)
	notPEM := filepath.Join(dir, "root.der")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // substrings; empty means valid
	}{
		{name: "defaults are valid", mutate: func(*Config) {}},
		{name: "extra root PEM ok", mutate: func(c *Config) { c.Upstream.ExtraRoots = []string{goodPEM} }},
		{name: "port zero listens", mutate: func(c *Config) { c.Proxy.Listen, c.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0" }},
		{name: "ipv6 resolve target", mutate: func(c *Config) { c.Upstream.Resolve = map[string]string{"a.test:443": "[::1]:9443"} }},
		{name: "bad proxy listen", mutate: func(c *Config) { c.Proxy.Listen = "8080" }, want: []string{"proxy.listen"}},
		{name: "bad admin port", mutate: func(c *Config) { c.Admin.Listen = "127.0.0.1:http" }, want: []string{"admin.listen"}},
		{name: "same listen twice", mutate: func(c *Config) { c.Admin.Listen = c.Proxy.Listen }, want: []string{"admin.listen", "also proxy.listen"}},
		{name: "zero timeout", mutate: func(c *Config) { c.Proxy.HandshakeTimeout = 0 }, want: []string{"proxy.handshake_timeout"}},
		{name: "negative dial timeout", mutate: func(c *Config) { c.Upstream.DialTimeout = -time.Second }, want: []string{"upstream.dial_timeout"}},
		{name: "negative cache ttl", mutate: func(c *Config) { c.Vault.CacheTTL = -1 }, want: []string{"vault.cache_ttl"}},
		{name: "tiny header cap", mutate: func(c *Config) { c.Proxy.MaxHeaderBytes = 10 }, want: []string{"proxy.max_header_bytes"}},
		{name: "bad public url", mutate: func(c *Config) { c.Admin.PublicURL = "ftp://x" }, want: []string{"admin.public_url"}},
		{name: "resolve key without port", mutate: func(c *Config) { c.Upstream.Resolve = map[string]string{"api.openai.com": "127.0.0.1:1"} }, want: []string{"upstream.resolve", "api.openai.com"}},
		{name: "resolve target not ip", mutate: func(c *Config) { c.Upstream.Resolve = map[string]string{"a.test:443": "localhost:1"} }, want: []string{"upstream.resolve", "ip:port"}},
		{name: "missing extra root", mutate: func(c *Config) { c.Upstream.ExtraRoots = []string{filepath.Join(dir, "missing.pem")} }, want: []string{"upstream.extra_roots[0]", "does not exist"}},
		{name: "non-PEM extra root", mutate: func(c *Config) { c.Upstream.ExtraRoots = []string{goodPEM, notPEM} }, want: []string{"upstream.extra_roots[1]", "no PEM"}},
		{name: "bad cidr", mutate: func(c *Config) { c.Egress.AllowCIDRs = []string{"10.0.0.0"} }, want: []string{"egress.allow_cidrs[0]"}},
		{name: "cidr with host bits", mutate: func(c *Config) { c.Egress.AllowCIDRs = []string{"10.1.2.3/8"} }, want: []string{"egress.allow_cidrs[0]", "10.0.0.0/8"}},
		{name: "zero queue", mutate: func(c *Config) { c.Audit.QueueSize = 0 }, want: []string{"audit.queue_size"}},
		{name: "active kek missing", mutate: func(c *Config) { c.Vault.ActiveKEK = "prod" }, want: []string{"vault.active_kek", `"prod"`}},
		{name: "bad kek id", mutate: func(c *Config) { c.Vault.KEKFiles["bad/id"] = "/x" }, want: []string{"vault.kek_files", "bad/id"}},
		{name: "oauth custom values", mutate: func(c *Config) {
			c.OAuth = OAuthConfig{RefreshSkew: time.Minute, ProactiveWindow: time.Minute, LeaseTTL: 31 * time.Second, TokenTimeout: 30 * time.Second, ConnectTTL: time.Hour}
		}},
		{name: "zero refresh skew", mutate: func(c *Config) { c.OAuth.RefreshSkew = 0 }, want: []string{"oauth.refresh_skew", "positive"}},
		{name: "negative token timeout", mutate: func(c *Config) { c.OAuth.TokenTimeout = -time.Second }, want: []string{"oauth.token_timeout", "positive"}},
		{name: "window shorter than skew", mutate: func(c *Config) { c.OAuth.ProactiveWindow = time.Minute }, want: []string{"oauth.proactive_window", "shorter than oauth.refresh_skew"}},
		{name: "lease not above token timeout", mutate: func(c *Config) { c.OAuth.LeaseTTL = 20 * time.Second }, want: []string{"oauth.lease_ttl", "longer than oauth.token_timeout"}},
		{name: "zero lease", mutate: func(c *Config) { c.OAuth.LeaseTTL = 0 }, want: []string{"oauth.lease_ttl", "positive"}},
		{name: "connect ttl too short", mutate: func(c *Config) { c.OAuth.ConnectTTL = 5 * time.Second }, want: []string{"oauth.connect_ttl", "between 10s and 24h0m0s"}},
		{name: "connect ttl too long", mutate: func(c *Config) { c.OAuth.ConnectTTL = 48 * time.Hour }, want: []string{"oauth.connect_ttl"}},
		{name: "policy default effect", mutate: func(c *Config) { c.Policy.DefaultEffect = "report" }, want: []string{"policy.default_effect", `"report" is not one of allow, deny`}},
		{name: "empty policy dir", mutate: func(c *Config) { c.Policy.Dirs = []string{"/etc/gh", " "} }, want: []string{"policy.dirs[1]: must not be empty"}},
		{name: "bad log level", mutate: func(c *Config) { c.Log.Level = "loud" }, want: []string{"log.level"}},
		{name: "bad log format", mutate: func(c *Config) { c.Log.Format = "xml" }, want: []string{"log.format"}},
		{
			name:   "every problem reported",
			mutate: func(c *Config) { c.Log.Format = "xml"; c.Audit.QueueSize = -1 },
			want:   []string{"log.format", "audit.queue_size"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultsFor(t, dir)
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate error %q does not contain %q", err, w)
				}
			}
		})
	}
}
