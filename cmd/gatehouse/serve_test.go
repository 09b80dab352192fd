package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/gatehouse-dev/gatehouse/vault"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testConfig is the default configuration for dataDir with both listeners
// on free loopback ports.
func testConfig(t *testing.T, dataDir string) Config {
	t.Helper()
	cfg := defaultsFor(t, dataDir)
	cfg.Proxy.Listen = "127.0.0.1:0"
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Admin.PublicURL = "http://127.0.0.1:0" // as loadConfig derives it from admin.listen
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startServer opens and starts a server; stop shuts it down (once).
func startServer(t *testing.T, cfg Config) (s *server, stop func()) {
	t.Helper()
	s, err := openServer(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("openServer: %v", err)
	}
	s.start()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := s.shutdown(); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

// adminURL is the server's admin API base URL.
func (s *server) adminURL() string { return "http://" + s.adminLn.Addr().String() }

// result is one CLI invocation's outcome.
type result struct {
	code           int
	stdout, stderr string
}

// gh runs the CLI in process with stdin.
func gh(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, strings.NewReader(stdin), &out, &errb, "test")
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ghJSON runs the CLI with -o json, requires exit code want and exactly one
// JSON value on stdout, and decodes it into v (if non-nil).
func ghJSON(t *testing.T, want int, v any, stdin string, args ...string) result {
	t.Helper()
	r := gh(t, stdin, append([]string{"-o", "json"}, args...)...)
	if r.code != want {
		t.Fatalf("gatehouse %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil {
		t.Fatalf("gatehouse %s: stdout is not JSON: %q", strings.Join(args, " "), r.stdout)
	}
	if dec.More() {
		t.Fatalf("gatehouse %s: more than one JSON value on stdout: %q", strings.Join(args, " "), r.stdout)
	}
	if v != nil {
		if err := json.Unmarshal(first, v); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// errorCode extracts {"error":{"code"}} from a json-mode failure.
func errorCode(t *testing.T, r result) string {
	t.Helper()
	var e struct {
		Error cliError `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
		t.Fatalf("failure stdout %q: %v", r.stdout, err)
	}
	if !strings.Contains(r.stderr, e.Error.Message) {
		t.Errorf("stderr %q does not repeat the message %q", r.stderr, e.Error.Message)
	}
	return e.Error.Code
}

func TestCLIAgainstServer(t *testing.T) {
	clearGatehouseEnv(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	s, _ := startServer(t, testConfig(t, dataDir))
	base := []string{"--data-dir", dataDir, "--server", s.adminURL()}
	cmd := func(args ...string) []string { return append(append([]string{}, base...), args...) }

	var app vault.App
	ghJSON(t, 0, &app, "", cmd("app", "create", "demo")...)
	if app.Name != "demo" || app.ID == "" {
		t.Fatalf("app = %+v", app)
	}
	var agent struct {
		ID, Name, Key string
	}
	ghJSON(t, 0, &agent, "", cmd("agent", "create", "bot", "--app", "demo")...)
	if !strings.HasPrefix(agent.Key, vault.AgentKeyPrefix) {
		t.Fatalf("agent key %q", agent.Key)
	}

	type secret struct {
		GrantID     string `json:"grant_id"`
		Kind        string `json:"kind"`
		Placeholder string `json:"placeholder"`
	}
	material := func(grantID string) vault.Material {
		t.Helper()
		g, err := s.vault.Grant(t.Context(), app.ID, grantID)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.vault.Material(t.Context(), g)
		if err != nil {
			t.Fatal(err)
		}
		m.Version = 0 // read metadata, not material
		return m
	}
	var apiKey secret
	ghJSON(t, 0, &apiKey, "sk-live-123\n", cmd("secret", "put", "--app", "demo", "--provider", "openai", "--principal", "agent:bot")...)
	if apiKey.Kind != "api_key" || !cmp.Equal(material(apiKey.GrantID), vault.Material{Token: "sk-live-123"}) {
		t.Errorf("api_key secret stored wrongly: %+v", apiKey)
	}
	var basic secret
	ghJSON(t, 0, &basic, "AC42:tok:en\r\n", cmd("secret", "put", "--app", "demo", "--provider", "twilio", "--principal", "system")...)
	if basic.Kind != "basic" || !cmp.Equal(material(basic.GrantID), vault.Material{Username: "AC42", Password: "tok:en"}) {
		t.Errorf("basic secret stored wrongly: %+v", basic)
	}
	file := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(file, []byte("sk-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ghJSON(t, 0, nil, "", cmd("secret", "rotate", apiKey.GrantID, "--app", "demo", "--file", file)...)
	if m := material(apiKey.GrantID); m.Token != "sk-from-file" {
		t.Error("rotate --file did not store the file's value")
	}

	var grants []map[string]any
	ghJSON(t, 0, &grants, "", cmd("grant", "list", "--app", "demo", "--provider", "openai")...)
	if len(grants) != 1 || grants[0]["grant_id"] != apiKey.GrantID {
		t.Errorf("grant list = %v", grants)
	}
	ghJSON(t, 0, nil, "", cmd("grant", "revoke", basic.GrantID, "--app", "demo")...)
	ghJSON(t, 0, nil, "", cmd("secret", "delete", apiKey.GrantID, "--app", "demo")...)
	ghJSON(t, 0, &grants, "", cmd("grant", "list", "--app", "demo", "--status", "active")...)
	if len(grants) != 0 {
		t.Errorf("active grants after revoke and delete: %v", grants)
	}

	var key struct{ ID, Key string }
	ghJSON(t, 0, &key, "", cmd("key", "create", "--app", "demo")...)
	if !strings.HasPrefix(key.Key, vault.AppKeyPrefix) {
		t.Errorf("app key %q", key.Key)
	}
	ghJSON(t, 0, nil, "", cmd("key", "revoke", key.ID, "--app", "demo")...)
	ghJSON(t, 0, nil, "", cmd("key", "list", "--app", "demo")...)
	ghJSON(t, 0, nil, "", cmd("app", "egress", "set", "demo", "pypi.org", "*.pythonhosted.org")...)
	ghJSON(t, 0, nil, "", cmd("agent", "list", "--app", "demo")...)
	ghJSON(t, 0, nil, "", cmd("provider", "list")...)
	ghJSON(t, 0, nil, "", cmd("audit", "list", "--app", "demo", "--limit", "5", "--kind", "admin")...)
	ghJSON(t, 0, nil, "", cmd("agent", "delete", "bot", "--app", "demo")...)

	// Failures map to stable exit codes and a JSON error on stdout.
	failures := []struct {
		name  string
		args  []string
		stdin string
		exit  int
		code  string
	}{
		{"conflict", cmd("app", "create", "demo"), "", 5, codeConflict},
		{"not found", cmd("agent", "delete", "ghost", "--app", "demo"), "", 4, codeNotFound},
		{"unknown app", cmd("agent", "list", "--app", "nope"), "", 4, codeNotFound},
		{"invalid", cmd("app", "create", "Bad Name"), "", 2, codeInvalidRequest},
		{"unknown provider", cmd("secret", "put", "--app", "demo", "--provider", "nope", "--principal", "system"), "x", 2, codeInvalidRequest},
		{"wrong token", cmd("--token", "gatehouse_admin_wrong", "app", "list"), "", 3, codeUnauthorized},
		{"empty secret", cmd("secret", "put", "--app", "demo", "--provider", "openai", "--principal", "system"), "\n", 2, codeUsage},
		{"unreachable", []string{"--data-dir", dataDir, "--server", "http://127.0.0.1:1", "app", "list"}, "", 1, codeError},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			r := ghJSON(t, f.exit, nil, f.stdin, f.args...)
			if got := errorCode(t, r); got != f.code {
				t.Errorf("error code %q, want %q", got, f.code)
			}
		})
	}

	// Text mode renders tables, not JSON.
	r := gh(t, "", cmd("app", "list")...)
	if r.code != 0 || !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, "demo") || strings.HasPrefix(r.stdout, "[") {
		t.Errorf("text app list = %d %q", r.code, r.stdout)
	}
	r = gh(t, "", cmd("app", "create", "demo")...)
	if r.code != 5 || r.stdout != "" || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("text failure = %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestCLIEnvironmentDefaults(t *testing.T) {
	clearGatehouseEnv(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	s, _ := startServer(t, testConfig(t, dataDir))

	// Server and token from the environment.
	token, err := readAdminToken(adminTokenPath(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_SERVER", s.adminURL())
	t.Setenv("GATEHOUSE_ADMIN_TOKEN", token)
	ghJSON(t, 0, nil, "", "--data-dir", t.TempDir(), "app", "create", "from-env")

	// Server from the URL a serve published, token from the data dir.
	clearGatehouseEnv(t)
	if err := publishAdminURL(dataDir, s.adminURL()); err != nil {
		t.Fatal(err)
	}
	var apps []vault.App
	ghJSON(t, 0, &apps, "", "--data-dir", dataDir, "app", "list")
	if len(apps) != 1 || apps[0].Name != "from-env" {
		t.Errorf("apps = %+v", apps)
	}

	// No token anywhere: an auth failure that says where to put one.
	r := ghJSON(t, 3, nil, "", "--data-dir", t.TempDir(), "--server", s.adminURL(), "app", "list")
	if errorCode(t, r) != codeUnauthorized || !strings.Contains(r.stderr, "GATEHOUSE_ADMIN_TOKEN") {
		t.Errorf("missing token: %q", r.stderr)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	clearGatehouseEnv(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := testConfig(t, dataDir)
	s1, stop1 := startServer(t, cfg)
	base := func(s *server, args ...string) []string {
		return append([]string{"--data-dir", dataDir, "--server", s.adminURL()}, args...)
	}
	ghJSON(t, 0, nil, "", base(s1, "app", "create", "demo")...)
	var agent struct{ Key string }
	ghJSON(t, 0, &agent, "", base(s1, "agent", "create", "bot", "--app", "demo")...)
	var sec struct {
		GrantID string `json:"grant_id"`
	}
	ghJSON(t, 0, &sec, "sk-persist", base(s1, "secret", "put", "--app", "demo", "--provider", "openai", "--principal", "system")...)
	token1, _ := os.ReadFile(adminTokenPath(dataDir))
	ca1, _ := os.ReadFile(caCertPath(dataDir))
	stop1() // drains the audit writer

	s2, _ := startServer(t, cfg)
	token2, _ := os.ReadFile(adminTokenPath(dataDir))
	ca2, _ := os.ReadFile(caCertPath(dataDir))
	if !bytes.Equal(token1, token2) || len(token1) == 0 {
		t.Error("admin token changed across restart")
	}
	if !bytes.Equal(ca1, ca2) || len(ca1) == 0 {
		t.Error("CA changed across restart")
	}
	if _, err := s2.vault.Authenticate(t.Context(), agent.Key); err != nil {
		t.Errorf("agent key after restart: %v", err)
	}
	app, err := s2.store.GetAppByName(t.Context(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	g, err := s2.vault.Grant(t.Context(), app.ID, sec.GrantID)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s2.vault.Material(t.Context(), g); err != nil || m.Token != "sk-persist" {
		t.Errorf("secret after restart not decryptable to its value (err %v)", err)
	}
	var events []struct{ Action string }
	ghJSON(t, 0, &events, "", base(s2, "audit", "list", "--app", "demo", "--kind", "admin")...)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if diff := cmp.Diff([]string{"app.create", "agent.create", "secret.put"}, actions); diff != "" {
		t.Errorf("admin events after restart (-want +got):\n%s", diff)
	}
}

// signalWriter closes ready the first time something containing marker is
// written; runServe writes its banner after both listeners serve.
type signalWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	ready  chan struct{}
	fired  bool
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.fired && strings.Contains(w.buf.String(), w.marker) {
		w.fired = true
		close(w.ready)
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestRunServeUntilCancelled(t *testing.T) {
	clearGatehouseEnv(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := testConfig(t, dataDir)
	stderr := &signalWriter{marker: "is running", ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, cfg, slog.New(slog.DiscardHandler), stderr, "test") }()
	select {
	case <-stderr.ready:
	case err := <-done:
		t.Fatalf("runServe returned early: %v", err)
	}
	banner := stderr.String()
	for _, want := range []string{dataDir, caCertPath(dataDir), adminTokenPath(dataDir),
		"curl --cacert", "SSL_CERT_FILE=", "NODE_EXTRA_CA_CERTS=", "REQUESTS_CA_BUNDLE=",
		"redirect URI " + publishedAdminURL(dataDir) + "/oauth/callback "} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	token, err := readAdminToken(adminTokenPath(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(banner, token) {
		t.Error("banner shows the admin token")
	}
	// The CLI finds the server through the published URL alone.
	ghJSON(t, 0, nil, "", "--data-dir", dataDir, "app", "create", "demo")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runServe: %v", err)
	}
	if got := publishedAdminURL(dataDir); got != "" {
		t.Errorf("admin URL still published after shutdown: %q", got)
	}
}

func TestServeRefuses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, c *Config)
		want   string
	}{
		{"postgres unreachable", func(_ *testing.T, c *Config) {
			c.Database.URL = "postgres://gatehouse:pw@127.0.0.1:1/gatehouse?sslmode=disable&connect_timeout=5"
		}, "database: migrations"},
		{"redis url", func(_ *testing.T, c *Config) { c.Redis.URL = "http://x" }, "redis.url"},
		{"open data dir", func(t *testing.T, c *Config) {
			if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(c.DataDir, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "chmod 700"},
		{"missing retired KEK", func(_ *testing.T, c *Config) {
			c.Vault.KEKFiles["old"] = filepath.Join(c.DataDir, "kek-old.key")
		}, "vault.kek_files[old]"},
		{"port in use", func(t *testing.T, c *Config) {
			s, _ := startServer(t, testConfig(t, filepath.Join(t.TempDir(), "other")))
			c.Admin.Listen = s.adminLn.Addr().String()
		}, "admin.listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, filepath.Join(t.TempDir(), "data"))
			tt.mutate(t, &cfg)
			s, err := openServer(t.Context(), cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				s.start()
				_ = s.shutdown()
				t.Fatal("openServer succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
