package vault_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

// hookStore runs before(c) ahead of every RewrapCredential, to interleave a
// concurrent write deterministically between rotation's read and its write.
type hookStore struct {
	vault.Store
	before func(c vault.Credential)
}

func (s *hookStore) RewrapCredential(ctx context.Context, c vault.Credential, oldKEK string) error {
	s.before(c)
	return s.Store.RewrapCredential(ctx, c, oldKEK)
}

// TestRotateKEKLostFence interleaves a secret rotation or deletion between
// rotation's read of a credential and its fenced write.
func TestRotateKEKLostFence(t *testing.T) {
	const secrets = 5
	tests := []struct {
		name string
		// writer is the replica's keyring that writes concurrently: "b"
		// after the rolling restart, "a" on a replica not yet restarted.
		writer      string
		every       bool // write before every rewrap attempt, not just the first
		delete      bool
		maxAttempts int
		want        vault.RotateReport
		wantKEK     string
		wantErr     error
	}{
		{
			name: "rotated by a replica on the new KEK", writer: "b",
			want:    vault.RotateReport{Scanned: secrets, Rewrapped: secrets - 1, Skipped: 1, Retried: 1},
			wantKEK: "b",
		},
		{
			name: "rotated by a replica still on the old KEK", writer: "a",
			want:    vault.RotateReport{Scanned: secrets, Rewrapped: secrets, Retried: 1},
			wantKEK: "b",
		},
		{
			name: "deleted meanwhile", writer: "b", delete: true,
			want: vault.RotateReport{Scanned: secrets, Rewrapped: secrets - 1, Skipped: 1},
		},
		{
			name: "rotated before every attempt", writer: "a", every: true, maxAttempts: 3,
			want:    vault.RotateReport{Scanned: secrets, Rewrapped: secrets - 1, Retried: 2, Failed: 1},
			wantKEK: "a", wantErr: vault.ErrRotationIncomplete,
		},
	}
	for _, b := range rotateBackends {
		for _, tc := range tests {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				e := newRotateEnvOn(t, b.open(t), secrets)
				target := e.grants[2]
				writer := e.vault(t, -1, tc.writer, "a", "b")
				hooked, rotations := false, 0
				store := &hookStore{Store: e.store, before: func(c vault.Credential) {
					if c.ID != target.CredentialID || (hooked && !tc.every) {
						return
					}
					hooked = true
					if tc.delete {
						if err := writer.DeleteSecret(t.Context(), target.AppID, target.ID); err != nil {
							t.Errorf("DeleteSecret: %v", err)
						}
						return
					}
					rotations++
					m := vault.Material{Token: fmt.Sprintf("rotated-%d", rotations)}
					if _, err := writer.RotateSecret(t.Context(), target.AppID, target.ID, m); err != nil {
						t.Errorf("RotateSecret: %v", err)
					}
					e.want[target.ID] = m
				}}
				rep, err := vault.RotateKEK(t.Context(), store, e.keyring(t, "b", "a"), vault.RotateOptions{MaxAttempts: tc.maxAttempts})
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
					t.Fatalf("RotateKEK = %v, want %v", err, tc.wantErr)
				}
				got := vault.RotateReport{Scanned: rep.Scanned, Rewrapped: rep.Rewrapped, Skipped: rep.Skipped, Retried: rep.Retried, Failed: rep.Failed}
				if d := cmp.Diff(tc.want, got); d != "" {
					t.Fatalf("counts (-want +got):\n%s", d)
				}

				if tc.delete {
					if _, err := e.store.GetCredential(t.Context(), target.AppID, target.CredentialID); !errors.Is(err, vault.ErrNotFound) {
						t.Fatalf("deleted credential: %v, want ErrNotFound", err)
					}
					e.grants = append(e.grants[:2], e.grants[3:]...)
				} else {
					c, err := e.store.GetCredential(t.Context(), target.AppID, target.CredentialID)
					if err != nil {
						t.Fatal(err)
					}
					if c.KEKID != tc.wantKEK || c.Version != int64(1+rotations) {
						t.Fatalf("target under %q at version %d, want %q at %d", c.KEKID, c.Version, tc.wantKEK, 1+rotations)
					}
				}
				// Nothing lost: every grant decrypts to its latest material.
				e.checkMaterial(t, e.vault(t, -1, "b", "a"))
			})
		}
	}
}

// TestRotateKEKWhileServing runs RotateKEK while Vaults (one caching, one
// reading the store every time) serve Material in loops and a replica keeps
// rotating some secrets. Readers must see the right material throughout,
// and afterwards nothing is lost and only the new KEK is needed.
func TestRotateKEKWhileServing(t *testing.T) {
	for _, b := range rotateBackends {
		t.Run(b.name, func(t *testing.T) { testRotateKEKWhileServing(t, newRotateEnvOn(t, b.open(t), 60)) })
	}
}

func testRotateKEKWhileServing(t *testing.T, e *rotateEnv) {
	const rotating = 6
	secrets := len(e.grants)
	stable, moving := e.grants[rotating:], e.grants[:rotating]
	servers := []*vault.Vault{e.vault(t, 0, "b", "a"), e.vault(t, -1, "b", "a")}
	writer := e.vault(t, -1, "b", "a")

	midway, stop := make(chan struct{}), make(chan struct{})
	var passed sync.WaitGroup // one Done per worker after a full pass that began mid-rotation
	passed.Add(len(servers) + 1)
	var workers sync.WaitGroup

	// onPass returns the pass hook of one worker, called before each pass:
	// the first pass completed after midway is reported, once. done reports
	// a worker that stops early (after a failure), so rotation never waits
	// for it forever.
	onPass := func() (pass, done func()) {
		var started, reported bool
		report := func() {
			if !reported {
				reported = true
				passed.Done()
			}
		}
		pass = func() {
			select {
			case <-midway:
				if started {
					report()
				}
				started = true
			default:
			}
		}
		return pass, report
	}
	for i, v := range servers {
		workers.Go(func() {
			pass, done := onPass()
			defer done()
			for {
				pass()
				for _, g := range stable {
					got, err := v.Material(t.Context(), g)
					if err != nil {
						t.Errorf("server %d: Material during rotation: %v", i, err)
						return
					}
					if !cmp.Equal(e.want[g.ID], got, ignoreVersion) {
						t.Errorf("server %d: grant %s served other material than stored", i, g.ID)
						return
					}
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	latest := map[string]vault.Material{}
	workers.Go(func() {
		pass, done := onPass()
		defer done()
		for n := 0; ; n++ {
			pass()
			for _, g := range moving {
				m := vault.Material{Token: fmt.Sprintf("rotated-%s-%d", g.ID[len(g.ID)-4:], n)}
				if e.want[g.ID].Username != "" { // a basic credential stays basic
					m = vault.Material{Username: "u", Password: m.Token}
				}
				if _, err := writer.RotateSecret(t.Context(), g.AppID, g.ID, m); err != nil {
					t.Errorf("RotateSecret during rotation: %v", err)
					return
				}
				latest[g.ID] = m
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	})

	var once sync.Once
	rep, err := vault.RotateKEK(t.Context(), e.store, e.keyring(t, "b", "a"), vault.RotateOptions{
		BatchSize: 10,
		Progress: func(vault.RotateReport) {
			// Hold rotation after its first page until every worker has
			// done a full pass with some rows under a and some under b.
			once.Do(func() {
				close(midway)
				passed.Wait()
			})
		},
	})
	close(stop)
	workers.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if err != nil {
		t.Fatalf("RotateKEK: %v", err)
	}
	// The rotating secrets may have moved to b before the scan reached them
	// (not scanned) or between its read and its write (skipped); every
	// stable one is rewrapped.
	if rep.Failed != 0 || rep.MissingKEK != 0 || rep.Scanned != rep.Rewrapped+rep.Skipped ||
		rep.Rewrapped < len(stable) || rep.Scanned > secrets {
		t.Fatalf("report %+v: want the %d stable secrets rewrapped, at most %d scanned, none failed", rep, len(stable), secrets)
	}
	for id, m := range latest {
		e.want[id] = m
	}
	e.checkMaterial(t, e.vault(t, -1, "b"))
	counts, err := vault.CountNotUnder(t.Context(), e.store, "b")
	if err != nil || len(counts) != 0 {
		t.Fatalf("CountNotUnder(b) = %v, %v; want none", counts, err)
	}
}
