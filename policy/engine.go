package policy

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Engine holds the current Policy and swaps it atomically, so evaluation
// never waits for a reload. The zero policy (nil) denies everything.
type Engine struct {
	cur atomic.Pointer[Policy]
}

// NewEngine returns an Engine starting with p (nil: deny everything until a
// valid policy is swapped in).
func NewEngine(p *Policy) *Engine {
	e := &Engine{}
	e.cur.Store(p)
	return e
}

// noPolicy is the decision when no valid policy was ever loaded.
var noPolicy = Decision{Code: CodePolicyDenied, Reason: "no valid policy loaded"}

// Evaluate decides with the current policy; with none it denies.
func (e *Engine) Evaluate(ctx context.Context, in Input) Decision {
	p := e.cur.Load()
	if p == nil {
		return noPolicy
	}
	return p.Evaluate(ctx, in)
}

// Explain explains with the current policy; with none it denies and lists
// no matches.
func (e *Engine) Explain(ctx context.Context, in Input) (Decision, []Match) {
	p := e.cur.Load()
	if p == nil {
		return noPolicy, nil
	}
	return p.Explain(ctx, in)
}

// Policy returns the current policy (nil when none is loaded).
func (e *Engine) Policy() *Policy { return e.cur.Load() }

// Swap installs p for all later evaluations.
func (e *Engine) Swap(p *Policy) { e.cur.Store(p) }

// Reload loads dir (may be "" for none), adds extra() (per-app rules from
// the store; may be nil), compiles and swaps. On any error the current
// policy stays and the error (an errors.Join of *FieldError where the
// problem is in a rule) is returned. Call it when rules change through the
// API.
func (e *Engine) Reload(dir string, cfg Config, lim Limiter, extra func() []Rule) error {
	var rules []Rule
	if dir != "" {
		rs, err := LoadDir(dir)
		if err != nil {
			return err
		}
		rules = rs
	}
	if extra != nil {
		rules = append(rules, extra()...)
	}
	p, err := Compile(cfg, rules, lim)
	if err != nil {
		return err
	}
	e.Swap(p)
	return nil
}

// watchDebounce groups the burst of events an editor or a config-map
// update produces into one reload.
const watchDebounce = 100 * time.Millisecond

// Watch loads dir now and again whenever a file in it changes (debounced),
// until ctx is done; it then returns nil. A load that fails keeps the last
// good policy and reports the precise error through onError (which may be
// nil). Only a failure to watch the directory is returned.
func (e *Engine) Watch(ctx context.Context, dir string, cfg Config, lim Limiter, extra func() []Rule, onError func(error)) error {
	if onError == nil {
		onError = func(error) {}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("policy: watch %s: %w", dir, err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("policy: watch %s: %w", dir, err)
	}
	// Load after Add so no change between the two is missed.
	if err := e.Reload(dir, cfg, lim, extra); err != nil {
		onError(err)
	}
	timer := time.NewTimer(watchDebounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if relevant(ev) {
				timer.Reset(watchDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			onError(fmt.Errorf("policy: watch %s: %w", dir, err))
		case <-timer.C:
			if err := e.Reload(dir, cfg, lim, extra); err != nil {
				onError(err)
			}
		}
	}
}

// relevant filters out events that cannot change the policy; renames and
// removes of any name count because config maps swap a "..data" symlink.
func relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	switch filepath.Ext(ev.Name) {
	case ".yaml", ".yml":
		return true
	}
	return ev.Op.Has(fsnotify.Rename) || ev.Op.Has(fsnotify.Remove) || ev.Op.Has(fsnotify.Create)
}
