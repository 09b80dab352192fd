package catalog

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite docs/providers.md from the embedded catalog")

// docPath is the generated provider reference, relative to this package.
const docPath = "../docs/providers.md"

// TestProvidersDoc keeps docs/providers.md in step with the embedded catalog:
// it fails when the file is stale, and
// `go test ./catalog -run TestProvidersDoc -update` rewrites it.
func TestProvidersDoc(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got := providersDoc(c)
	if *update {
		if err := os.WriteFile(docPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./catalog -run TestProvidersDoc -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s is stale; regenerate with: go test ./catalog -run TestProvidersDoc -update\n(-file +generated):\n%s", docPath, diff)
	}
}

// providersDoc renders the Markdown reference of the catalog.
func providersDoc(c *Catalog) string {
	var b strings.Builder
	b.WriteString(`# Built-in providers

<!-- Generated from configs/providers/*.yaml by
     go test ./catalog -run TestProvidersDoc -update
     Do not edit by hand: the normal test run fails when this file is stale. -->

These providers are compiled into the binary. A YAML file in one of the
` + "`catalog.dirs`" + ` directories (default ` + "`<data_dir>/providers`" + `) with the same ` + "`id`" + `
replaces a built-in entry whole; a file with a new ` + "`id`" + ` adds a provider. Later
directories win over earlier ones.

Host rules: a host without a port means port 443 only; ` + "`*.example.com`" + ` matches
every name below example.com (any depth) but not example.com itself; an exact
host beats a wildcard; hosts are unique across the whole catalog.

| id | name | credentials | hosts | injection |
|---|---|---|---|---|
`)
	for _, p := range c.List() {
		name := cell(p.Name)
		if p.Docs != "" {
			name = fmt.Sprintf("[%s](%s)", name, p.Docs)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n",
			p.ID, name, codeList(p.Credentials), codeList(p.Hosts), injection(p.Inject))
	}
	b.WriteString(`
## OAuth

| id | authorize URL | token URL | revoke URL | default scopes | PKCE | client auth | rotating refresh | default lifetime | extra authorize params |
|---|---|---|---|---|---|---|---|---|---|
`)
	for _, p := range c.List() {
		o := p.OAuth
		if o == nil {
			continue
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			p.ID, orDash(o.AuthorizeURL), orDash(o.TokenURL), orDash(o.RevokeURL),
			codeList(o.Scopes), yesNo(o.PKCE), o.AuthStyle, yesNo(o.RotatingRefresh), orDash(o.DefaultLifetime),
			codeList(extraParams(o.ExtraParams)))
	}
	return b.String()
}

// extraParams renders extra authorize parameters as sorted k=v items.
func extraParams(m map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}

func injection(in Inject) string {
	if in.Query != "" {
		return fmt.Sprintf("query `%s=%s`", cell(in.Query), cell(in.Value))
	}
	return fmt.Sprintf("header `%s: %s`", cell(in.Header), cell(in.Value))
}

func codeList(items []string) string {
	if len(items) == 0 {
		return "–"
	}
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = "`" + cell(s) + "`"
	}
	return strings.Join(out, ", ")
}

// cell escapes the one character that breaks a GitHub table cell, even
// inside code spans.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return cell(s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
