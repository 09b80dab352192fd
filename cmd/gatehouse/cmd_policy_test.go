package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-golden +got):\n%s", name, diff)
	}
}

func TestPolicyCheck(t *testing.T) {
	clearGatehouseEnv(t)
	goodDir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("testdata", "policy", "good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(goodDir, "a.yml"), good, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		stdin  string
		exit   int
		stdout string // golden file for stdout, "" for empty
		stderr string // golden file for stderr, "" for empty
	}{
		{"valid", []string{"testdata/policy/good.yaml"}, "", 0, "policy/check_good.golden", ""},
		{"problems with file, line and field", []string{"testdata/policy/bad.yaml"}, "", exitError, "", "policy/check_bad.golden"},
		{"duplicate name across files", []string{"testdata/policy/good.yaml", "testdata/policy/dup.yaml"}, "", exitError, "", "policy/check_dup.golden"},
		{"every file is checked", []string{"testdata/policy/bad.yaml", "testdata/policy/missing.yaml", "testdata/policy/good.yaml"}, "", exitError, "", "policy/check_several.golden"},
		{"stdin", []string{"-"}, string(good), 0, "policy/check_stdin.golden", ""},
		{"no file", nil, "", exitUsage, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gh(t, tt.stdin, append([]string{"policy", "check"}, tt.args...)...)
			if r.code != tt.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.exit, r.stdout, r.stderr)
			}
			if tt.stdout != "" {
				golden(t, tt.stdout, r.stdout)
			} else if r.stdout != "" {
				t.Errorf("stdout = %q, want empty", r.stdout)
			}
			if tt.stderr != "" {
				golden(t, tt.stderr, r.stderr)
			}
		})
	}

	t.Run("directory", func(t *testing.T) {
		r := gh(t, "", "policy", "check", goodDir)
		if r.code != 0 || r.stdout != goodDir+": OK (2 rules)\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("json", func(t *testing.T) {
		var got struct {
			OK    bool          `json:"ok"`
			Files []checkedFile `json:"files"`
		}
		ghJSON(t, 0, &got, "", "policy", "check", "testdata/policy/good.yaml")
		want := []checkedFile{{File: "testdata/policy/good.yaml", Rules: 2}}
		if diff := cmp.Diff(want, got.Files); diff != "" || !got.OK {
			t.Errorf("json (-want +got):\n%s", diff)
		}
		r := ghJSON(t, exitError, nil, "", "policy", "check", "testdata/policy/bad.yaml")
		if code := errorCode(t, r); code != codeError {
			t.Errorf("error code %q", code)
		}
	})
}

func TestPolicySetChecksLocally(t *testing.T) {
	clearGatehouseEnv(t)
	// The server is never reached: the file is refused first, naming it.
	r := gh(t, "", "--server", "http://127.0.0.1:1", "--token", "gatehouse_admin_x", "policy", "set", "testdata/policy/bad.yaml", "--app", "demo")
	if r.code != exitUsage || !strings.Contains(r.stderr, "testdata/policy/bad.yaml:8: rules[0].match.methods[0]") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
