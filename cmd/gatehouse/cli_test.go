package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestUsageErrors(t *testing.T) {
	clearGatehouseEnv(t)
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"no command", nil, "needs a subcommand"},
		{"unknown command", []string{"launch"}, `unknown command "launch"`},
		{"group without subcommand", []string{"app"}, "needs a subcommand"},
		{"unknown subcommand", []string{"app", "bogus"}, `unknown command "bogus"`},
		{"unknown flag", []string{"--bogus", "version"}, "unknown flag"},
		{"missing argument", []string{"app", "create"}, "takes 1 argument"},
		{"extra argument", []string{"version", "now"}, "takes 0 argument"},
		{"missing --app", []string{"agent", "create", "bot"}, "--app is required"},
		{"missing --principal", []string{"secret", "put", "--app", "a", "--provider", "openai"}, "--principal is required"},
		{"no value flag", []string{"secret", "put", "--app", "a", "--provider", "openai", "--principal", "system", "--value", "x"}, "unknown flag: --value"},
		{"bad limit", []string{"audit", "list", "--app", "a", "--limit", "5000"}, "--limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ghJSON(t, exitUsage, nil, "", tt.args...)
			if got := errorCode(t, r); got != codeUsage {
				t.Errorf("code %q, want usage", got)
			}
			if !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tt.msg)
			}
		})
	}
}

func TestBadOutputFlag(t *testing.T) {
	r := gh(t, "", "--output", "xml", "version")
	if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "--output must be text or json") {
		t.Errorf("--output xml = %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	var v map[string]string
	ghJSON(t, 0, &v, "", "version")
	if v["version"] != "test" || v["go"] == "" {
		t.Errorf("version = %v", v)
	}
	if r := gh(t, "", "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "gatehouse test") {
		t.Errorf("text version = %d %q", r.code, r.stdout)
	}
}

func TestCAInitAndExport(t *testing.T) {
	clearGatehouseEnv(t)
	dir := filepath.Join(t.TempDir(), "data")
	r := ghJSON(t, exitNotFound, nil, "", "--data-dir", dir, "ca", "export")
	if errorCode(t, r) != codeNotFound || !strings.Contains(r.stderr, "gatehouse ca init") {
		t.Errorf("export before init: %q", r.stderr)
	}
	var init map[string]string
	ghJSON(t, 0, &init, "", "--data-dir", dir, "ca", "init")
	if init["path"] != caCertPath(dir) || len(init["fingerprint_sha256"]) != 64 {
		t.Errorf("ca init = %v", init)
	}
	if r := gh(t, "", "--data-dir", dir, "ca", "init"); r.code != 0 || strings.TrimSpace(r.stdout) != caCertPath(dir) {
		t.Errorf("text ca init = %d %q", r.code, r.stdout)
	}
	pem, err := os.ReadFile(caCertPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	r = gh(t, "", "--data-dir", dir, "ca", "export")
	if r.code != 0 || r.stdout != string(pem) {
		t.Errorf("ca export = %d %q", r.code, r.stdout)
	}
	var exp map[string]string
	ghJSON(t, 0, &exp, "", "--data-dir", dir, "ca", "export")
	if exp["pem"] != string(pem) {
		t.Error("json ca export differs from the file")
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		stdin   string
		file    string
		want    string
		wantErr string
	}{
		{name: "stdin", stdin: "sk-1\n", want: "sk-1"},
		{name: "crlf", stdin: "sk-1\r\n", want: "sk-1"},
		{name: "no newline", stdin: "sk-1", want: "sk-1"},
		{name: "only one newline trimmed", stdin: "sk-1\n\n", want: "sk-1\n"},
		{name: "inner spaces kept", stdin: " a b \n", want: " a b "},
		{name: "file", file: file, want: "from-file"},
		{name: "dash is stdin", stdin: "x\n", file: "-", want: "x"},
		{name: "empty", stdin: "", wantErr: "empty"},
		{name: "newline only", stdin: "\n", wantErr: "empty"},
		{name: "too large", stdin: strings.Repeat("a", maxSecretBytes+1), wantErr: "larger than"},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "--file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cli{stdin: strings.NewReader(tt.stdin), stdout: &strings.Builder{}, stderr: &strings.Builder{}}
			cmd := &cobra.Command{}
			cmd.Flags().String("file", tt.file, "")
			got, err := c.readSecret(cmd)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readSecret error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("readSecret = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFailureOutput(t *testing.T) {
	// In json mode stdout holds exactly the error object.
	r := gh(t, "", "-o", "json", "app")
	var body map[string]map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &body); err != nil || body["error"]["code"] != codeUsage {
		t.Fatalf("json failure stdout = %q (%v)", r.stdout, err)
	}
	if !strings.HasPrefix(r.stderr, "error: ") {
		t.Errorf("stderr = %q", r.stderr)
	}
}
