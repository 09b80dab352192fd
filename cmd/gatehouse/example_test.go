package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// examplePath is the documented example configuration.
func examplePath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "configs", "gatehouse.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// derivedDefault matches a commented "# key: value" line that documents a
// default derived from another key.
var derivedDefault = regexp.MustCompile(`(?m)^(\s*)# ([a-z_]+: .*)$`)

// TestExampleConfigMatchesDefaults keeps configs/gatehouse.example.yaml from
// drifting: loaded with UnmarshalExact it must equal the built-in defaults,
// also with its commented derived defaults uncommented, and it must mention
// every key of Config.
func TestExampleConfigMatchesDefaults(t *testing.T) {
	src := examplePath(t)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	uncommented := derivedDefault.ReplaceAll(data, []byte("$1$2"))
	if slices.Equal(uncommented, data) {
		t.Fatal("the example documents no derived default; the regexp or the file changed")
	}
	full := filepath.Join(t.TempDir(), "full.yaml")
	if err := os.WriteFile(full, uncommented, 0o600); err != nil {
		t.Fatal(err)
	}
	clearGatehouseEnv(t)
	t.Chdir(t.TempDir())
	want, err := loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{src, full} {
		got, err := loadConfig(file, nil)
		if err != nil {
			t.Fatalf("load %s: %v", file, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s differs from the defaults (-defaults +file):\n%s", filepath.Base(file), diff)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("%s does not validate: %v", filepath.Base(file), err)
		}
	}

	var doc map[string]any
	if err := yaml.Unmarshal(uncommented, &doc); err != nil {
		t.Fatal(err)
	}
	documented := flattenKeys("", doc, mapFieldKeys(reflect.TypeFor[Config](), ""))
	if diff := cmp.Diff(configKeys(reflect.TypeFor[Config](), ""), documented); diff != "" {
		t.Errorf("keys of Config vs keys in the example (-Config +example):\n%s", diff)
	}
}

// configKeys lists the dotted keys of Config's leaves (map fields are leaves).
func configKeys(t reflect.Type, prefix string) []string {
	var out []string
	for f := range t.Fields() {
		key := prefix + f.Tag.Get("mapstructure")
		if f.Type.Kind() == reflect.Struct && f.Type.String() != "time.Duration" {
			out = append(out, configKeys(f.Type, key+".")...)
			continue
		}
		out = append(out, key)
	}
	slices.Sort(out)
	return out
}

// mapFieldKeys lists the dotted keys of Config's map-typed fields.
func mapFieldKeys(t reflect.Type, prefix string) map[string]bool {
	out := map[string]bool{}
	for f := range t.Fields() {
		key := prefix + f.Tag.Get("mapstructure")
		switch f.Type.Kind() {
		case reflect.Struct:
			for k := range mapFieldKeys(f.Type, key+".") {
				out[k] = true
			}
		case reflect.Map:
			out[key] = true
		}
	}
	return out
}

// flattenKeys lists the dotted leaf keys of a YAML document, stopping at
// the keys in leaves.
func flattenKeys(prefix string, m map[string]any, leaves map[string]bool) []string {
	var out []string
	for k, v := range m {
		key := prefix + k
		if sub, ok := v.(map[string]any); ok && !leaves[key] {
			out = append(out, flattenKeys(key+".", sub, leaves)...)
			continue
		}
		out = append(out, key)
	}
	slices.Sort(out)
	return out
}
