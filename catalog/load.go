package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse/configs"
)

// embeddedPrefix marks Provider.Source for entries compiled into the binary.
const embeddedPrefix = "embedded:"

// Load reads the embedded catalog (configs/providers/*.yaml) and then the
// *.yaml files of each extra directory, in order, and validates the result.
//
// Each file holds exactly one provider. A file whose id matches an entry
// loaded before it (embedded, or from an earlier directory) replaces that
// entry whole (fields are not merged), so an operator can retarget or
// restrict a built-in provider; any other id adds a provider. The same id
// twice within one directory is an error, since neither can be said to win.
//
// A directory that does not exist is skipped (the default
// <data_dir>/providers usually does not). A directory that cannot be read,
// an unreadable file, or any invalid entry fails the whole load: a catalog
// decides where credentials are sent, so there is no partial result.
// Subdirectories, files not ending in .yaml and names starting with "." are
// ignored. Problems with entries are reported together, as *FieldError
// values joined with errors.Join, so one run shows everything to fix.
func Load(extraDirs ...string) (*Catalog, error) {
	var errs []error
	byID := make(map[string]*entry)

	embedded, err := readEmbedded()
	if err != nil {
		return nil, err
	}
	errs = append(errs, merge(byID, embedded, 0)...)

	for i, dir := range extraDirs {
		files, err := readDir(dir)
		if err != nil {
			return nil, err
		}
		errs = append(errs, merge(byID, files, i+1)...)
	}

	entries := slices.Collect(maps.Values(byID))
	// Earlier sources first, so a clash between a built-in entry and an
	// operator file is reported on the operator's file.
	slices.SortFunc(entries, func(a, b *entry) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return strings.Compare(a.p.ID, b.p.ID)
	})
	for _, e := range entries {
		hosts, verrs := validate(e.p)
		e.hosts = hosts
		errs = append(errs, verrs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return index(entries)
}

// entry is one provider on its way into the catalog.
type entry struct {
	p     *Provider
	rank  int // 0 embedded, i+1 for extraDirs[i]
	hosts []hostPattern
}

// file is one catalog file read from disk or from the embedded FS.
type file struct {
	source string
	data   []byte
}

func readEmbedded() ([]file, error) {
	fsys := configs.Providers()
	names, err := fs.Glob(fsys, "providers/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("catalog: list embedded providers: %w", err)
	}
	files := make([]file, 0, len(names))
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), ".") {
			continue
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("catalog: read embedded %s: %w", name, err)
		}
		files = append(files, file{source: embeddedPrefix + name, data: data})
	}
	return files, nil
}

// readDir returns the catalog files of dir sorted by name, or none when dir
// does not exist.
func readDir(dir string) ([]file, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: read directory %s: %w", dir, err)
	}
	var files []file
	for _, e := range entries { // os.ReadDir sorts by name
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || filepath.Ext(name) != ".yaml" {
			continue
		}
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("catalog: read %s: %w", p, err)
		}
		files = append(files, file{source: p, data: data})
	}
	return files, nil
}

// merge decodes one source's files (the embedded set or one directory) into
// byID, replacing entries from earlier sources with the same id.
func merge(byID map[string]*entry, files []file, rank int) []error {
	var errs []error
	seen := make(map[string]string) // id → source within this set
	for _, f := range files {
		p, err := decode(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p.ID == "" {
			// validate reports the missing id; keep every such file so each
			// is reported, not just the last.
			byID["\x00"+f.source] = &entry{p: p, rank: rank}
			continue
		}
		if prev, dup := seen[p.ID]; dup {
			errs = append(errs, &FieldError{File: f.source, Field: "id",
				Msg: fmt.Sprintf("%q is also defined in %s", p.ID, prev)})
			continue
		}
		seen[p.ID] = f.source
		byID[p.ID] = &entry{p: p, rank: rank}
	}
	return errs
}

// decode parses exactly one YAML document into a Provider, rejecting unknown
// fields (a misspelt "hosts" must not silently give a provider no hosts) and
// duplicate keys.
func decode(f file) (*Provider, error) {
	dec := yaml.NewDecoder(bytes.NewReader(f.data))
	dec.KnownFields(true)
	p := &Provider{}
	if err := dec.Decode(p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &FieldError{File: f.source, Msg: "empty file: expected one provider"}
		}
		return nil, &FieldError{File: f.source, Msg: "invalid YAML", Err: err}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &FieldError{File: f.source, Msg: "more than one YAML document: one provider per file"}
	}
	p.Source = f.source
	return p, nil
}
