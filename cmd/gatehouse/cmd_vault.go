package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// codeRotationIncomplete is the CLI error code of a KEK rotation that left
// credentials under an old KEK (exit 1).
const codeRotationIncomplete = "rotation_incomplete"

// maxListedCredentials bounds the credential ids an error message names.
const maxListedCredentials = 10

func (c *cli) vaultCmd() *cobra.Command {
	rotate := &cobra.Command{
		Use:   "rotate-kek",
		Short: "Rewrap every credential's data key under the active KEK (vault.active_kek)",
		Long: `Rewrap every credential's data key under the active KEK, vault.active_kek.
Only the small wrapped data keys change; credential ciphertexts and versions do
not. It reads the same configuration as serve and talks to the database
directly (SQLite in data_dir, or PostgreSQL at database.url); no server is
needed and running proxies keep serving throughout.

Every KEK file in vault.kek_files must exist (none is generated). Before
running it, restart every replica with the new KEK active and the old KEKs
still listed, so each one can open credentials under either. A credential
whose KEK is not loaded is reported and left untouched (exit 1); running the
command again is safe and only finishes what is left. See docs/kek-rotation.md.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return c.rotateKEK(cmd) },
	}
	rotate.Flags().Bool("dry-run", false, "unwrap every data key that would move and count, but write nothing")
	rotate.Flags().Int("batch-size", vault.DefaultRotateBatch, "credentials read per page")
	status := &cobra.Command{
		Use:   "status",
		Short: "Count the credentials not yet under the active KEK, by KEK id",
		Long: `Count the credentials that are not under the active KEK (vault.active_kek),
by the KEK that wraps them. When none is left, every other KEK can be removed
from vault.kek_files. Reads no key file.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return c.vaultStatus(cmd) },
	}
	return group("vault", "Maintain the vault's key-encryption keys (works on the database directly)", rotate, status)
}

func (c *cli) rotateKEK(cmd *cobra.Command) error {
	dryRun, _ := cmd.Flags().GetBool("dry-run")
	batch, _ := cmd.Flags().GetInt("batch-size")
	if batch < 1 || batch > 10000 {
		return usageErrorf("--batch-size must be between 1 and 10000 (got %d)", batch)
	}
	cfg, err := c.config(cmd)
	if err != nil {
		return err
	}
	keys, err := loadExistingKeyring(cfg.Vault)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	store, err := openVaultStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	p := c.printer()
	rep, err := vault.RotateKEK(ctx, store, keys, vault.RotateOptions{
		BatchSize: batch,
		DryRun:    dryRun,
		Progress: func(r vault.RotateReport) {
			if r.Scanned > 0 {
				p.note("rotate-kek: %d scanned, %d rewrapped, %d skipped, %d missing KEK, %d failed",
					r.Scanned, r.Rewrapped, r.Skipped, r.MissingKEK, r.Failed)
			}
		},
	})
	if err != nil && !errors.Is(err, vault.ErrRotationIncomplete) {
		return err // store or ctx: the report so far is in the progress notes
	}
	if err != nil && p.json {
		return incompleteError(rep) // exactly one JSON value: the error
	}
	if perr := p.value(rep, func(w io.Writer) error { return writeRotateReport(w, rep) }); perr != nil {
		return perr
	}
	if err != nil {
		return incompleteError(rep)
	}
	switch {
	case dryRun:
		p.note("dry run: nothing was written; run without --dry-run to rewrap")
	case rep.Scanned == 0:
		p.note("every credential is already under KEK %s", rep.ActiveKEK)
	default:
		p.note("every credential is now under KEK %s; check with `gatehouse vault status`", rep.ActiveKEK)
	}
	return nil
}

// incompleteError describes what a rotation left behind and how to finish.
func incompleteError(rep vault.RotateReport) error {
	var parts []string
	if rep.MissingKEK > 0 {
		parts = append(parts, fmt.Sprintf("%d credential(s) are under KEKs that are not loaded (%s): %s",
			rep.MissingKEK, strings.Join(rep.MissingKEKIDs, ", "), listRefs(rep.Missing, rep.MissingKEK)))
	}
	if rep.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d credential(s) failed: %s", rep.Failed, listRefs(rep.Failures, rep.Failed)))
	}
	verb := "left untouched"
	if rep.DryRun {
		verb = "would be left untouched"
	}
	hint := "add the missing KEK files to vault.kek_files and run rotate-kek again"
	if rep.MissingKEK == 0 {
		hint = "run rotate-kek again"
	}
	return &cliError{Code: codeRotationIncomplete, Message: fmt.Sprintf(
		"KEK rotation incomplete (%d of %d rewrapped): %s; they were %s; %s",
		rep.Rewrapped, rep.Scanned, strings.Join(parts, "; "), verb, hint)}
}

// listRefs names up to maxListedCredentials credentials as app/credential.
func listRefs(refs []vault.CredentialRef, total int) string {
	var ids []string
	for i, r := range refs {
		if i == maxListedCredentials {
			break
		}
		s := "credential " + r.CredentialID + " of app " + r.AppID
		if r.Reason != "" {
			s += " (" + r.Reason + ")"
		}
		ids = append(ids, s)
	}
	out := strings.Join(ids, ", ")
	if total > len(ids) {
		out += fmt.Sprintf(" and %d more", total-len(ids))
	}
	return out
}

func writeRotateReport(w io.Writer, rep vault.RotateReport) error {
	byKEK := make([]string, 0, len(rep.ByKEK))
	for _, id := range slices.Sorted(maps.Keys(rep.ByKEK)) {
		byKEK = append(byKEK, fmt.Sprintf("%s: %d", id, rep.ByKEK[id]))
	}
	scanned := strconv.Itoa(rep.Scanned)
	if len(byKEK) > 0 {
		scanned += " (" + strings.Join(byKEK, ", ") + ")"
	}
	rewrapped := "rewrapped"
	if rep.DryRun {
		rewrapped = "would rewrap"
	}
	missing := strconv.Itoa(rep.MissingKEK)
	if len(rep.MissingKEKIDs) > 0 {
		missing += " (" + strings.Join(rep.MissingKEKIDs, ", ") + ")"
	}
	if err := fields(w,
		"active KEK", rep.ActiveKEK,
		"scanned", scanned,
		rewrapped, strconv.Itoa(rep.Rewrapped),
		"skipped", strconv.Itoa(rep.Skipped),
		"retried", strconv.Itoa(rep.Retried),
		"missing KEK", missing,
		"failed", strconv.Itoa(rep.Failed),
	); err != nil {
		return err
	}
	if len(rep.Missing)+len(rep.Failures) == 0 {
		return nil
	}
	rows := make([][]string, 0, len(rep.Missing)+len(rep.Failures))
	for _, r := range rep.Missing {
		rows = append(rows, []string{r.CredentialID, r.AppID, r.KEKID, "KEK not loaded"})
	}
	for _, r := range rep.Failures {
		rows = append(rows, []string{r.CredentialID, r.AppID, r.KEKID, r.Reason})
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	return table(w, []string{"CREDENTIAL", "APP", "KEK", "PROBLEM"}, rows)
}

// kekStatus is the output of `vault status`.
type kekStatus struct {
	ActiveKEK string `json:"active_kek"`
	// ConfiguredKEKs are the ids in vault.kek_files.
	ConfiguredKEKs []string `json:"configured_keks"`
	// Pending counts credentials not under the active KEK; ByKEK splits
	// them by the KEK that wraps them.
	Pending int            `json:"pending"`
	ByKEK   map[string]int `json:"by_kek"`
	// UnconfiguredKEKs are KEK ids in use that vault.kek_files lacks:
	// their credentials fail with vault_unavailable.
	UnconfiguredKEKs []string `json:"unconfigured_keks"`
	// Complete is true when every credential is under the active KEK.
	Complete bool `json:"complete"`
}

func (c *cli) vaultStatus(cmd *cobra.Command) error {
	cfg, err := c.config(cmd)
	if err != nil {
		return err
	}
	if cfg.Vault.ActiveKEK == "" {
		return usageErrorf("vault.active_kek is empty")
	}
	ctx := cmd.Context()
	store, err := openVaultStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	counts, err := vault.CountNotUnder(ctx, store, cfg.Vault.ActiveKEK)
	if err != nil {
		return err
	}
	st := kekStatus{
		ActiveKEK: cfg.Vault.ActiveKEK, ConfiguredKEKs: sortedKeys(cfg.Vault.KEKFiles),
		ByKEK: map[string]int{}, UnconfiguredKEKs: []string{},
	}
	for id, n := range counts {
		st.ByKEK[id] = n
		st.Pending += n
		if _, ok := cfg.Vault.KEKFiles[id]; !ok {
			st.UnconfiguredKEKs = append(st.UnconfiguredKEKs, id)
		}
	}
	slices.Sort(st.UnconfiguredKEKs)
	st.Complete = st.Pending == 0
	return c.printer().value(st, func(w io.Writer) error {
		pairs := []string{
			"active KEK", st.ActiveKEK,
			"configured KEKs", strings.Join(st.ConfiguredKEKs, ", "),
			"pending rewrap", strconv.Itoa(st.Pending),
		}
		for _, id := range slices.Sorted(maps.Keys(st.ByKEK)) {
			pairs = append(pairs, "  under "+id, strconv.Itoa(st.ByKEK[id]))
		}
		if len(st.UnconfiguredKEKs) > 0 {
			pairs = append(pairs, "not configured", strings.Join(st.UnconfiguredKEKs, ", ")+" (these credentials cannot be opened)")
		}
		if err := fields(w, pairs...); err != nil {
			return err
		}
		if st.Complete {
			_, err := fmt.Fprintf(w, "every credential is under %s; the other KEKs can be removed from vault.kek_files\n", st.ActiveKEK)
			return err
		}
		_, err := fmt.Fprintln(w, "run `gatehouse vault rotate-kek` to move the pending credentials")
		return err
	})
}

// loadExistingKeyring loads every KEK in vault.kek_files like serve does,
// but requires every file, the active one included, to exist: a KEK
// generated here would wrap data keys that no running replica can open.
func loadExistingKeyring(c VaultConfig) (*vault.Keyring, error) {
	if _, ok := c.KEKFiles[c.ActiveKEK]; !ok {
		return nil, usageErrorf("vault.active_kek %q is not an id in vault.kek_files (have %s)",
			c.ActiveKEK, strings.Join(sortedKeys(c.KEKFiles), ", "))
	}
	for _, id := range sortedKeys(c.KEKFiles) {
		path := c.KEKFiles[id]
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, &cliError{Code: codeNotFound, Message: fmt.Sprintf(
					"vault.kek_files[%s]: %s does not exist; rotate-kek never generates a KEK: install the file every replica uses", id, path)}
			}
			return nil, fmt.Errorf("vault.kek_files[%s]: %w", id, err)
		}
	}
	return loadKeyring(c)
}

// openVaultStore opens the store serve uses, without creating or migrating
// anything: PostgreSQL at database.url, else the SQLite file in data_dir,
// which must exist.
func openVaultStore(ctx context.Context, cfg Config) (vault.Store, error) {
	if cfg.Database.URL != "" {
		if errs := cfg.Database.problems(); len(errs) > 0 {
			return nil, fmt.Errorf("invalid configuration:\n%w", errors.Join(errs...))
		}
		p, err := vault.OpenPostgres(ctx, cfg.Database.URL, postgresOptions(cfg.Database))
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		return p, nil
	}
	path := filepath.Join(cfg.DataDir, databaseFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, &cliError{Code: codeNotFound, Message: fmt.Sprintf(
			"no database at %s; point --data-dir (or database.url) at the store `gatehouse serve` uses", path)}
	}
	s, err := vault.OpenSQLite(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return s, nil
}
