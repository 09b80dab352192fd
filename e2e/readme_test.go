package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/fakeupstream"
)

// walkthroughMarker precedes the README's runnable walkthrough block.
const walkthroughMarker = "<!-- e2e:walkthrough -->"

// walkthroughTimeout bounds the whole script.
const walkthroughTimeout = 90 * time.Second

// readmeOpenAIKey is what the walkthrough finds in $OPENAI_API_KEY.
const readmeOpenAIKey = "sk-e2e-readme-4b3a29181706f5e4"

// extractWalkthrough returns the ```sh block that directly follows the
// marker line in readme.
func extractWalkthrough(readme string) (string, error) {
	_, after, ok := strings.Cut(readme, walkthroughMarker+"\n")
	if !ok {
		return "", errors.New("README.md has no line " + walkthroughMarker)
	}
	after = strings.TrimLeft(after, "\n")
	body, ok := strings.CutPrefix(after, "```sh\n")
	if !ok {
		return "", errors.New("the line after " + walkthroughMarker + " in README.md does not open a ```sh block")
	}
	block, _, ok := strings.Cut(body, "\n```")
	if !ok {
		return "", errors.New("the ```sh block after " + walkthroughMarker + " is not closed")
	}
	return block + "\n", nil
}

// TestExtractWalkthrough pins the extraction rules on fixtures.
func TestExtractWalkthrough(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, readme, want string }{
		{"block", "# x\n" + walkthroughMarker + "\n```sh\necho a\necho b\n```\nmore\n```sh\nno\n```\n", "echo a\necho b\n"},
		{"blank line between", walkthroughMarker + "\n\n```sh\ntrue\n```\n", "true\n"},
		{"no marker", "```sh\ntrue\n```\n", ""},
		{"other language", walkthroughMarker + "\n```bash\ntrue\n```\n", ""},
		{"unclosed", walkthroughMarker + "\n```sh\ntrue\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := extractWalkthrough(tt.readme)
			if (err != nil) != (tt.want == "") || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestReadmeWalkthrough runs the README's walkthrough with bash in a temp
// directory where ./bin/gatehouse is the binary under test and `gatehouse
// serve` runs on the default ports with ./.gatehouse, api.openai.com pinned
// to a fake upstream. The upstream must receive $OPENAI_API_KEY and the
// script's final audit list must print the call's row. Not parallel: it
// needs the default ports 8080 and 8081.
func TestReadmeWalkthrough(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatalf("the README walkthrough cannot run: %v", err)
	}
	script, err := extractWalkthrough(string(readme))
	if err != nil {
		t.Fatalf("the README walkthrough cannot run: %v", err)
	}
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:8081"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("the walkthrough uses the default address %s, which is in use (%v); free it and rerun", addr, err)
		}
		ln.Close()
	}

	cwd := t.TempDir()
	if err := os.Mkdir(filepath.Join(cwd, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binary, filepath.Join(cwd, "bin", "gatehouse")); err != nil {
		t.Fatal(err)
	}
	up := fakeupstream.Start(t, "api.openai.com")
	env := []string{
		"GATEHOUSE_UPSTREAM_RESOLVE=api.openai.com:443=" + up.Addr(),
		"GATEHOUSE_UPSTREAM_EXTRA_ROOTS=" + up.CAFile,
		"OPENAI_API_KEY=" + readmeOpenAIKey,
		"PATH=" + filepath.Join(cwd, "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	logPath := filepath.Join(t.TempDir(), "server.log")
	p, err := launchServe(t, cwd, env, logPath, "http://127.0.0.1:8081/readyz", "serve", "--data-dir", "./.gatehouse")
	if err != nil {
		out, _ := os.ReadFile(logPath)
		t.Fatalf("gatehouse serve on the default ports: %v\n%s", err, out)
	}
	t.Cleanup(func() { p.stop(t, logPath) })

	scriptPath := filepath.Join(cwd, "walkthrough.sh")
	if err := os.WriteFile(scriptPath, []byte("set -euo pipefail\n"+script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), walkthroughTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", scriptPath)
	cmd.Dir = cwd
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("walkthrough failed: %v\n--- script ---\n%s--- stdout ---\n%s\n--- stderr ---\n%s", err, script, stdout.String(), stderr.String())
	}

	got := false
	for _, r := range up.Requests() {
		if r.Header.Get("Authorization") == "Bearer "+readmeOpenAIKey {
			got = true
		}
		requireDelivered(t, r, "api.openai.com", "Authorization", "Bearer "+readmeOpenAIKey)
	}
	if !got {
		t.Errorf("the upstream never received $OPENAI_API_KEY (%d requests)", up.Count())
	}
	ids := waitCallRequestIDs(t, cwd)
	printed := false
	for _, id := range ids {
		printed = printed || strings.Contains(stdout.String(), id)
	}
	if !printed {
		hint := ""
		if strings.HasSuffix(strings.TrimSpace(stdout.String()), "null") {
			hint = " (the final audit list printed null: its row was not written yet when the script listed it)"
		}
		t.Errorf("the walkthrough's output shows none of the audited request ids %v%s:\n%s", ids, hint, stdout.String())
	}
}

// waitCallRequestIDs polls callRequestIDs until the audit writer has
// stored at least one call row.
func waitCallRequestIDs(t *testing.T, cwd string) []string {
	t.Helper()
	deadline := time.Now().Add(auditTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if ids := callRequestIDs(t, cwd); len(ids) > 0 {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("the walkthrough's calls left no audit row after %s", auditTimeout)
		}
		<-tick.C
	}
}

// callRequestIDs lists, through the CLI, the request ids of the call rows
// of every app in the walkthrough's data dir.
func callRequestIDs(t *testing.T, cwd string) []string {
	t.Helper()
	cli := func(v any, args ...string) {
		t.Helper()
		r := runCLI(t, cwd, nil, "", append(args, "--output", "json")...)
		if r.code != 0 {
			t.Fatalf("gatehouse %s: exit %d: %s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			t.Fatalf("gatehouse %s: %v: %q", strings.Join(args, " "), err, r.stdout)
		}
	}
	var apps []createdApp
	cli(&apps, "app", "list")
	var ids []string
	for _, a := range apps {
		var rows []auditRow
		cli(&rows, "audit", "list", "--app", a.Name)
		for _, r := range rows {
			if r.Kind == "call" && r.RequestID != "" {
				ids = append(ids, r.RequestID)
			}
		}
	}
	return ids
}
