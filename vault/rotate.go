package vault

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// ErrRotationIncomplete reports a KEK rotation that left credentials under
// an old KEK: their KEK is not loaded, their data key does not authenticate,
// or concurrent writes kept winning. Those credentials are untouched and the
// RotateReport lists them; a rerun after fixing the cause finishes the job.
var ErrRotationIncomplete = errors.New("KEK rotation incomplete")

// Rotation defaults (RotateOptions).
const (
	DefaultRotateBatch       = 100
	DefaultRotateMaxAttempts = 5
	// MaxReportedCredentials caps the credential lists of a RotateReport;
	// the counts stay exact.
	MaxReportedCredentials = 1000
)

// RotateOptions tunes RotateKEK.
type RotateOptions struct {
	// BatchSize is how many credentials one store page holds. Default 100.
	BatchSize int
	// DryRun unwraps every data key that would move (so missing or broken
	// KEKs are found) but writes nothing; Rewrapped then counts what a real
	// run would rewrap.
	DryRun bool
	// MaxAttempts bounds how often one credential is written after losing
	// its fence to a concurrent write (a secret rotated meanwhile) and being
	// re-read. Default 5.
	MaxAttempts int
	// Progress, when set, receives the counts so far after every page.
	Progress func(RotateReport)
	// Now stamps the rewrapped rows' updated_at. Default time.Now.
	Now func() time.Time
}

// CredentialRef names a credential in a RotateReport. It carries ids only,
// never material.
type CredentialRef struct {
	AppID        string `json:"app_id"`
	CredentialID string `json:"credential_id"`
	KEKID        string `json:"kek_id"`
	Reason       string `json:"reason,omitempty"`
}

// RotateReport counts what RotateKEK did. After a run that was not
// cancelled, Scanned == Rewrapped + Skipped + MissingKEK + Failed.
type RotateReport struct {
	ActiveKEK string `json:"active_kek"`
	DryRun    bool   `json:"dry_run"`
	// Scanned counts credentials found under another KEK than the active one.
	Scanned int `json:"scanned"`
	// Rewrapped counts credentials moved to the active KEK (in a dry run:
	// that would be moved).
	Rewrapped int `json:"rewrapped"`
	// Skipped counts credentials that a concurrent write already put under
	// the active KEK, or deleted, before rotation got to them.
	Skipped int `json:"skipped"`
	// Retried counts fences lost to concurrent writes (each followed by a
	// re-read).
	Retried int `json:"retried"`
	// MissingKEK counts credentials under a KEK that is not loaded; they are
	// left as they are. Missing lists the first MaxReportedCredentials.
	MissingKEK int             `json:"missing_kek"`
	Missing    []CredentialRef `json:"missing"`
	// MissingKEKIDs are the ids of the KEKs those credentials need, sorted.
	MissingKEKIDs []string `json:"missing_kek_ids"`
	// Failed counts credentials whose data key did not authenticate, or that
	// lost their fence MaxAttempts times; they are left as they are.
	// Failures lists the first MaxReportedCredentials.
	Failed   int             `json:"failed"`
	Failures []CredentialRef `json:"failures"`
	// ByKEK counts the scanned credentials by the KEK they were found under.
	ByKEK map[string]int `json:"by_kek"`
}

// RotateKEK moves every credential's data key under the keyring's active KEK,
// page by page, without touching ciphertexts or versions: each data key is
// unwrapped with its current KEK and wrapped again with the active one
// (Keyring.Rewrap), and the row is written with Store.RewrapCredential,
// fenced on its version and old KEK id. A lost fence means a concurrent write
// (a secret rotation) changed the row: it is re-read and retried, or skipped
// once it is under the active KEK. A credential whose KEK is not loaded, or
// whose data key does not authenticate, is reported and never written.
//
// It is idempotent (a rerun only finds what is left) and safe while proxies
// serve from the same store, provided every serving keyring holds the active
// KEK and the credentials' old KEKs: each row is valid under its KEK before
// and after its single-row write. The report is returned with every error;
// ErrRotationIncomplete (with ErrKeyMissing when a KEK was missing) when
// credentials were left behind, the store's or ctx's error when the run was
// cut short.
func RotateKEK(ctx context.Context, store Store, keys *Keyring, opts RotateOptions) (RotateReport, error) {
	if store == nil || keys == nil {
		return RotateReport{}, fmt.Errorf("rotate KEK: needs a store and a keyring: %w", ErrInvalid)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultRotateBatch
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultRotateMaxAttempts
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &rotation{
		store: store, keys: keys, opts: opts,
		report: RotateReport{
			ActiveKEK: keys.Active(), DryRun: opts.DryRun,
			Missing: []CredentialRef{}, MissingKEKIDs: []string{}, Failures: []CredentialRef{}, ByKEK: map[string]int{},
		},
	}
	if err := r.run(ctx); err != nil {
		return r.snapshot(), fmt.Errorf("rotate KEK: %w", err)
	}
	return r.snapshot(), r.outcome()
}

// rotation is one RotateKEK run.
type rotation struct {
	store  Store
	keys   *Keyring
	opts   RotateOptions
	report RotateReport
}

func (r *rotation) run(ctx context.Context) error {
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := r.store.ListCredentialsNotUnder(ctx, r.keys.Active(), after, r.opts.BatchSize)
		if err != nil {
			return err
		}
		for _, c := range page {
			r.report.Scanned++
			r.report.ByKEK[c.KEKID]++
			if err := r.one(ctx, c); err != nil {
				return err
			}
			after = c.ID
		}
		if r.opts.Progress != nil {
			r.opts.Progress(r.snapshot())
		}
		if len(page) < r.opts.BatchSize {
			return nil
		}
	}
}

// one moves c under the active KEK, re-reading it after each lost fence. It
// returns an error only for failures that should stop the whole run (the
// store, ctx); per-credential problems go to the report.
func (r *rotation) one(ctx context.Context, c Credential) error {
	for attempt := 1; ; attempt++ {
		if c.KEKID == r.keys.Active() {
			r.report.Skipped++
			return nil
		}
		kekID, wrapped, err := r.keys.Rewrap(c)
		switch {
		case errors.Is(err, ErrKeyMissing):
			r.report.MissingKEK++
			r.report.Missing = appendRef(r.report.Missing, c, "")
			if !slices.Contains(r.report.MissingKEKIDs, c.KEKID) {
				r.report.MissingKEKIDs = append(r.report.MissingKEKIDs, c.KEKID)
				slices.Sort(r.report.MissingKEKIDs)
			}
			return nil
		case errors.Is(err, ErrDecrypt):
			r.report.Failed++
			r.report.Failures = appendRef(r.report.Failures, c, "data key does not authenticate under its KEK")
			return nil
		case err != nil:
			return err
		}
		if r.opts.DryRun {
			r.report.Rewrapped++
			return nil
		}
		next := c
		next.KEKID, next.WrappedKey, next.UpdatedAt = kekID, wrapped, r.opts.Now()
		err = r.store.RewrapCredential(ctx, next, c.KEKID)
		switch {
		case err == nil:
			r.report.Rewrapped++
			return nil
		case errors.Is(err, ErrNotFound): // deleted meanwhile: nothing left to protect
			r.report.Skipped++
			return nil
		case !errors.Is(err, ErrConflict):
			return err
		}
		if attempt >= r.opts.MaxAttempts {
			r.report.Failed++
			r.report.Failures = appendRef(r.report.Failures, c,
				fmt.Sprintf("lost the version fence to concurrent writes %d times", attempt))
			return nil
		}
		r.report.Retried++
		c, err = r.store.GetCredential(ctx, c.AppID, c.ID)
		if errors.Is(err, ErrNotFound) {
			r.report.Skipped++
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func appendRef(refs []CredentialRef, c Credential, reason string) []CredentialRef {
	if len(refs) >= MaxReportedCredentials {
		return refs
	}
	return append(refs, CredentialRef{AppID: c.AppID, CredentialID: c.ID, KEKID: c.KEKID, Reason: reason})
}

// snapshot returns a copy of the report that later progress cannot change.
func (r *rotation) snapshot() RotateReport {
	s := r.report
	s.Missing = slices.Clone(r.report.Missing)
	s.MissingKEKIDs = slices.Clone(r.report.MissingKEKIDs)
	s.Failures = slices.Clone(r.report.Failures)
	s.ByKEK = maps.Clone(r.report.ByKEK)
	return s
}

// outcome is the error of a completed run: nil when nothing was left behind.
func (r *rotation) outcome() error {
	rep := r.report
	if rep.MissingKEK == 0 && rep.Failed == 0 {
		return nil
	}
	var parts []string
	if rep.MissingKEK > 0 {
		parts = append(parts, fmt.Sprintf("%d credential(s) under KEKs that are not loaded (%s)",
			rep.MissingKEK, strings.Join(rep.MissingKEKIDs, ", ")))
	}
	if rep.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d credential(s) failed", rep.Failed))
	}
	msg := strings.Join(parts, "; ") + "; they were left untouched"
	if rep.MissingKEK > 0 {
		return fmt.Errorf("rotate KEK: %s: %w (%w)", msg, ErrRotationIncomplete, ErrKeyMissing)
	}
	return fmt.Errorf("rotate KEK: %s: %w", msg, ErrRotationIncomplete)
}

// CountNotUnder counts the credentials of every app whose KEK is not
// activeKEK, by KEK id. An empty map means every credential is under
// activeKEK, so every other KEK can be removed.
func CountNotUnder(ctx context.Context, store Store, activeKEK string) (map[string]int, error) {
	counts := map[string]int{}
	after := ""
	for {
		page, err := store.ListCredentialsNotUnder(ctx, activeKEK, after, DefaultRotateBatch*5)
		if err != nil {
			return nil, fmt.Errorf("count credentials by KEK: %w", err)
		}
		for _, c := range page {
			counts[c.KEKID]++
			after = c.ID
		}
		if len(page) < DefaultRotateBatch*5 {
			return counts, nil
		}
	}
}
