package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/internal/fakeupstream"
)

// Bounds of the process lifecycle. They are deadlines for polls, never
// sleeps: a healthy run finishes far sooner.
const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 20 * time.Second
	cliTimeout   = 30 * time.Second
	pollInterval = 25 * time.Millisecond
)

// tunnelHost is a non-provider host the fake upstream also answers for,
// reachable only through an app's egress allowlist (a blind tunnel).
const tunnelHost = "tunnel.example"

// upstreamHosts are the hostnames the fake upstream answers for: real
// provider hostnames plus tunnelHost.
func upstreamHosts() []string {
	return []string{"api.openai.com", "api.anthropic.com", "api.stripe.com", "api.twilio.com", "maps.googleapis.com", tunnelHost}
}

// gatehouse is one `gatehouse serve` process with its own data directory,
// loopback ports and fake upstream.
type gatehouse struct {
	t         *testing.T
	root      string // temp dir holding the config, the log and the data dir
	dataDir   string
	config    string
	logPath   string
	proxyAddr string
	adminAddr string
	up        *fakeupstream.Server
	// extra is merged into the generated config (top-level sections are
	// merged key by key), e.g. database and redis for replica tests.
	extra map[string]map[string]any

	proc *proc // nil when stopped

	// secrets are the plaintext values this test handed to Gatehouse
	// (stored secrets, caller keys), by description, for the hygiene scan
	// every test runs at cleanup.
	secrets map[string]string
}

// start runs a gatehouse with a fresh data dir and a fake upstream pinned
// for every provider host; it is stopped with SIGTERM at cleanup.
func start(t *testing.T) *gatehouse {
	t.Helper()
	return startWith(t, fakeupstream.Start(t, upstreamHosts()...), nil)
}

// startWith is start with a given upstream and extra config sections.
func startWith(t *testing.T, up *fakeupstream.Server, extra map[string]map[string]any) *gatehouse {
	t.Helper()
	root := t.TempDir()
	g := &gatehouse{
		t:       t,
		root:    root,
		dataDir: filepath.Join(root, "data"), // created by serve, so its mode is serve's
		config:  filepath.Join(root, "gatehouse.yaml"),
		logPath: filepath.Join(root, "server.log"),
		up:      up,
		extra:   extra,
		secrets: map[string]string{},
	}
	t.Cleanup(func() {
		g.stop()
		g.requireClean("after stop")
	})
	// A port picked free can be taken before serve binds it; retry then.
	var err error
	for range 3 {
		g.proxyAddr, g.adminAddr = freeAddr(t), freeAddr(t)
		g.writeConfig()
		if err = g.launch(); err == nil {
			return g
		}
		if !strings.Contains(g.log(), "address already in use") {
			break
		}
	}
	t.Fatalf("gatehouse serve did not become ready: %v\n--- server output ---\n%s", err, g.log())
	return nil
}

// writeConfig writes the YAML config of this instance.
func (g *gatehouse) writeConfig() {
	g.t.Helper()
	resolve := map[string]string{}
	for _, h := range upstreamHosts() {
		resolve[h+":443"] = g.up.Addr()
	}
	cfg := map[string]any{
		"data_dir": g.dataDir,
		"proxy":    map[string]any{"listen": g.proxyAddr},
		"admin":    map[string]any{"listen": g.adminAddr},
		"upstream": map[string]any{"resolve": resolve, "extra_roots": []string{g.up.CAFile}},
		// Debug level makes the secret scan cover every log line there is.
		"log": map[string]any{"level": "debug", "format": "json"},
	}
	for section, kv := range g.extra {
		m, _ := cfg[section].(map[string]any)
		if m == nil {
			m = map[string]any{}
			cfg[section] = m
		}
		for k, v := range kv {
			m[k] = v
		}
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(g.config, b, 0o600); err != nil {
		g.t.Fatal(err)
	}
}

// launch starts serve and waits for /readyz.
func (g *gatehouse) launch() error {
	g.t.Helper()
	p, err := launchServe(g.t, g.root, nil, g.logPath, "http://"+g.adminAddr+"/readyz", "serve", "--config", g.config)
	if err != nil {
		return err
	}
	g.proc = p
	return nil
}

// stop stops the process (see proc.stop); stopping twice does nothing.
func (g *gatehouse) stop() {
	g.t.Helper()
	if g.proc != nil {
		g.proc.stop(g.t, g.logPath)
		g.proc = nil
	}
}

// proc is a running `gatehouse serve`.
type proc struct {
	cmd  *exec.Cmd
	done chan error // holds cmd.Wait's result once it exits
}

// launchServe runs the binary with args in dir (clean environment plus
// env) and polls readyURL. Output is appended to logPath, so a restart
// keeps the earlier run's lines for the secret scan.
func launchServe(t *testing.T, dir string, env []string, logPath, readyURL string, args ...string) (*proc, error) {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child has its own copy of the descriptor
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	if err := waitReady(readyURL, p.done); err != nil {
		if !errors.Is(err, errExited) {
			_ = cmd.Process.Kill()
			<-p.done
		}
		return nil, err
	}
	return p, nil
}

var errExited = errors.New("serve exited before it was ready")

// waitReady polls url until it answers 200, the process exits or the
// deadline passes.
func waitReady(url string, done chan error) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-done:
			done <- err // keep it for whoever waits next
			return fmt.Errorf("%w: %v", errExited, err)
		case <-deadline.C:
			return fmt.Errorf("%s not ready after %s", url, readyTimeout)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and requires a clean exit (status 0) within
// stopTimeout.
func (p *proc) stop(t *testing.T, logPath string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			out, _ := os.ReadFile(logPath)
			t.Errorf("gatehouse serve exited with %v after SIGTERM, want status 0\n--- server output ---\n%s", err, out)
		}
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("gatehouse serve did not exit within %s of SIGTERM", stopTimeout)
	}
}

// alive fails the test if the process has exited.
func (p *proc) alive(t *testing.T, logPath string) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		out, _ := os.ReadFile(logPath)
		t.Fatalf("gatehouse serve exited: %v\n--- server output ---\n%s", err, out)
	default:
	}
}

// restart stops the instance cleanly and starts it again on the same
// ports, config and data dir.
func (g *gatehouse) restart() {
	g.t.Helper()
	g.stop()
	if err := g.launch(); err != nil {
		g.t.Fatalf("restart: %v\n--- server output ---\n%s", err, g.log())
	}
}

// log is everything the process wrote to stdout and stderr so far.
func (g *gatehouse) log() string {
	b, err := os.ReadFile(g.logPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		g.t.Fatal(err)
	}
	return string(b)
}

// caFile is the proxy CA certificate clients must trust.
func (g *gatehouse) caFile() string { return filepath.Join(g.dataDir, "ca.pem") }

// cliResult is one CLI invocation's outcome.
type cliResult struct {
	stdout, stderr string
	code           int
}

// cli runs the gatehouse CLI against this instance's admin API, with stdin
// as its standard input. The token is found through --data-dir.
func (g *gatehouse) cli(stdin string, args ...string) cliResult {
	g.t.Helper()
	full := append([]string{"--server", "http://" + g.adminAddr, "--data-dir", g.dataDir, "--output", "json"}, args...)
	return runCLI(g.t, g.root, nil, stdin, full...)
}

// cliJSON runs the CLI, requires exit 0 and decodes stdout into v.
func (g *gatehouse) cliJSON(v any, stdin string, args ...string) {
	g.t.Helper()
	r := g.cli(stdin, args...)
	if r.code != 0 {
		g.t.Fatalf("gatehouse %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		g.t.Fatalf("gatehouse %s: stdout is not the expected JSON (%v): %q", strings.Join(args, " "), err, r.stdout)
	}
}

// runCLI runs the binary with args in dir, a clean environment plus env.
func runCLI(t *testing.T, dir string, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
	default:
		t.Fatalf("gatehouse %s: %v", strings.Join(args, " "), err)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// cleanEnv is the test process environment without anything that would
// change where clients or the binary connect: GATEHOUSE_* and proxy
// variables are removed (the tests set what they need explicitly).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		upper := strings.ToUpper(name)
		if strings.HasPrefix(upper, "GATEHOUSE_") || strings.HasSuffix(upper, "_PROXY") ||
			upper == "CURL_CA_BUNDLE" || upper == "SSL_CERT_FILE" || upper == "SSL_CERT_DIR" || upper == "REQUESTS_CA_BUNDLE" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
