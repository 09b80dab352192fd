package vault_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func TestRotateKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		agent bool
		grace time.Duration
	}{
		{"app key with grace", false, 24 * time.Hour},
		{"agent key with grace", true, time.Hour},
		{"app key without grace", false, 0},
		{"agent key without grace", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := t.Context()
			agentID, prefix := "", vault.AppKeyPrefix
			if tc.agent {
				agentID, prefix = e.agent(t, "worker").ID, vault.AgentKeyPrefix
			}
			oldPlain, old, err := e.v.IssueKey(c, e.app.ID, agentID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.v.Authenticate(c, oldPlain); err != nil { // cached from here on
				t.Fatal(err)
			}
			start := e.clock.Now()
			newPlain, nk, err := e.v.RotateKey(c, e.app.ID, old.ID, tc.grace)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(newPlain, prefix) || nk.ID == old.ID || nk.AgentID != agentID || nk.Status != vault.KeyActive {
				t.Fatalf("new key %+v (plaintext prefix ok: %v)", nk, strings.HasPrefix(newPlain, prefix))
			}
			if got, err := e.v.Authenticate(c, newPlain); err != nil || got.ID != nk.ID {
				t.Fatalf("Authenticate(new) = %+v, %v", got, err)
			}

			stored, err := e.store.GetKey(c, old.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tc.grace == 0 {
				if stored.Status != vault.KeyRevoked {
					t.Fatalf("old key after a rotation without grace: %+v", stored)
				}
			} else {
				until := start.Add(tc.grace)
				want := old
				want.Status, want.ExpiresAt = vault.KeyDeprecated, &until
				if d := cmp.Diff(want, stored); d != "" {
					t.Fatalf("old key (-want +got):\n%s", d)
				}
			}

			// The old key works until the end of the grace period (vault
			// clock), then is refused like a revoked key.
			for _, step := range []struct {
				at   time.Duration
				want error
			}{
				{0, nil},
				{tc.grace - time.Microsecond, nil},
				{tc.grace, vault.ErrKeyRevoked},
				{tc.grace + time.Hour, vault.ErrKeyRevoked},
			} {
				if tc.grace == 0 && step.want == nil {
					continue // no grace period to be inside of
				}
				e.clock.Advance(start.Add(step.at).Sub(e.clock.Now()))
				_, err := e.v.Authenticate(c, oldPlain)
				if !errors.Is(err, step.want) || (step.want == nil) != (err == nil) {
					t.Fatalf("Authenticate(old) at +%v = %v, want %v", step.at, err, step.want)
				}
				err = e.v.CheckKey(c, old.ID)
				if !errors.Is(err, step.want) || (step.want == nil) != (err == nil) {
					t.Fatalf("CheckKey(old) at +%v = %v, want %v", step.at, err, step.want)
				}
			}
			if _, err := e.v.Authenticate(c, newPlain); err != nil {
				t.Fatalf("new key after the grace period: %v", err)
			}
		})
	}
}

func TestRotateKeyRefusals(t *testing.T) {
	e := newEnv(t)
	c := t.Context()
	_, k, err := e.v.IssueKey(c, e.app.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	_, revoked, err := e.v.IssueKey(c, e.app.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.v.RevokeKey(c, e.app.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	_, deprecated, err := e.v.IssueKey(c, e.app.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.v.RotateKey(c, e.app.ID, deprecated.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, app, key string
		grace          time.Duration
		want           error
	}{
		{"key of another app", e.other.ID, k.ID, time.Hour, vault.ErrNotFound},
		{"missing key", e.app.ID, "aaaaaaaaaaaaaaaa", time.Hour, vault.ErrNotFound},
		{"negative grace", e.app.ID, k.ID, -time.Second, vault.ErrInvalid},
		{"revoked key", e.app.ID, revoked.ID, time.Hour, vault.ErrConflict},
		{"deprecated key (rotated before)", e.app.ID, deprecated.ID, time.Hour, vault.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := e.store.ListKeys(c, e.app.ID)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = e.v.RotateKey(c, tc.app, tc.key, tc.grace)
			wantIs(t, "RotateKey", err, tc.want)
			after, err := e.store.ListKeys(c, e.app.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(before, after); d != "" {
				t.Fatalf("a refused rotation changed the keys (-before +after):\n%s", d)
			}
		})
	}
}

// TestRotateKeyAcrossReplicas: a replica that cached the old key refuses
// it once the rotation's invalidation arrives.
func TestRotateKeyAcrossReplicas(t *testing.T) {
	e := newCacheEnv(t)
	prefix := testPrefix(t)
	a := e.redisVault(t, testRedisURL(), prefix, nil)
	b := e.redisVault(t, testRedisURL(), prefix, nil)
	c := t.Context()
	plain, k, err := a.IssueKey(c, e.app.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(c, plain); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.RotateKey(c, e.app.ID, k.ID, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica b to refuse the rotated key", func() bool {
		_, err := b.Authenticate(c, plain)
		return errors.Is(err, vault.ErrKeyRevoked)
	})
	if err := b.CheckKey(c, k.ID); !errors.Is(err, vault.ErrKeyRevoked) {
		t.Fatalf("CheckKey on replica b = %v, want ErrKeyRevoked", err)
	}
}
