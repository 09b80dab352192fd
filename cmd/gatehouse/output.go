package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Output formats of --output.
const (
	outputText = "text"
	outputJSON = "json"
)

// printer writes command results: in json mode exactly one JSON value on
// stdout, in text mode a human-readable rendering.
type printer struct {
	json   bool
	stdout io.Writer
	stderr io.Writer
}

// raw prints an admin API answer: verbatim (indented) JSON, or text(w).
func (p printer) raw(answer json.RawMessage, text func(w io.Writer) error) error {
	if p.json {
		var buf bytes.Buffer
		if err := json.Indent(&buf, answer, "", "  "); err != nil {
			return fmt.Errorf("format answer: %w", err)
		}
		buf.WriteByte('\n')
		_, err := p.stdout.Write(buf.Bytes())
		return err
	}
	return text(p.stdout)
}

// value prints a locally produced result: v as JSON, or text(w).
func (p printer) value(v any, text func(w io.Writer) error) error {
	if p.json {
		enc := json.NewEncoder(p.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return text(p.stdout)
}

// note writes a human hint to stderr (both modes: stdout stays parseable).
func (p printer) note(format string, args ...any) {
	fmt.Fprintf(p.stderr, format+"\n", args...)
}

// failure reports err: "error: …" on stderr, and in json mode also
// {"error":{"code","message"}} on stdout.
func (p printer) failure(err error) {
	ce := asCLIError(err)
	fmt.Fprintf(p.stderr, "error: %s\n", ce.Message)
	if p.json {
		enc := json.NewEncoder(p.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]*cliError{"error": ce})
	}
}

// decodeAnswer unmarshals an API answer for text rendering.
func decodeAnswer(answer json.RawMessage, v any) error {
	if err := json.Unmarshal(answer, v); err != nil {
		return fmt.Errorf("unexpected answer from the admin API: %w", err)
	}
	return nil
}

// fields writes aligned "name  value" lines from name, value pairs.
func fields(w io.Writer, pairs ...string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(tw, "%s\t%s\n", pairs[i], pairs[i+1])
	}
	return tw.Flush()
}

// table writes a header row and rows, aligned; "-" stands for empty cells.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			if c == "" {
				c = "-"
			}
			cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
