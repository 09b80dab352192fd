package vault_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/uuid"
)

// raceRounds is how often each race is run: each round is one chance for
// a missing row lock to let the wrong interleaving through.
const raceRounds = 40

// TestStoreRaces races writes whose outcome depends on row locks in
// PostgreSQL (READ COMMITTED, several connections) and on the single
// writer in SQLite. Whatever the interleaving, the invariants of the
// sequential semantics must hold.
func TestStoreRaces(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) vault.Store
	}{
		{"sqlite", func(t *testing.T) vault.Store { return openSQLite(t) }},
		{"postgres", func(t *testing.T) vault.Store { return openPostgres(t) }},
	}
	races := []struct {
		name string
		fn   func(t *testing.T, s vault.Store, app vault.App, round int)
	}{
		{"CreateKey vs DeleteAgent", raceCreateKeyDeleteAgent},
		{"CreateGrant vs DeleteCredential", raceCreateGrantDeleteCredential},
		{"revoke vs other status", raceRevokeGrant},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			app, err := s.CreateApp(t.Context(), vault.App{Name: "races"})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range races {
				t.Run(r.name, func(t *testing.T) {
					for i := range raceRounds {
						r.fn(t, s, app, i)
					}
				})
			}
		})
	}
}

// both runs a and b at the same moment and waits for them.
func both(a, b func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { <-start; a() })
	wg.Go(func() { <-start; b() })
	close(start)
	wg.Wait()
}

// raceCreateKeyDeleteAgent: a key created while its agent is deleted is
// either refused (no agent) or created and then revoked by the delete;
// never an active key of a deleted agent.
func raceCreateKeyDeleteAgent(t *testing.T, s vault.Store, app vault.App, round int) {
	ctx := t.Context()
	agent, err := s.CreateAgent(ctx, vault.Agent{AppID: app.ID, Name: fmt.Sprintf("agent-%d", round)})
	if err != nil {
		t.Fatal(err)
	}
	key := vault.Key{ID: fmt.Sprintf("race-key-%d", round), AppID: app.ID, AgentID: agent.ID, Hash: []byte("h")}
	var createErr, deleteErr error
	both(
		func() { createErr = s.CreateKey(ctx, key) },
		func() { deleteErr = s.DeleteAgent(ctx, app.ID, agent.ID) },
	)
	if deleteErr != nil {
		t.Fatalf("round %d: DeleteAgent: %v", round, deleteErr)
	}
	got, err := s.GetKey(ctx, key.ID)
	switch {
	case createErr == nil && err != nil:
		t.Fatalf("round %d: created key unreadable: %v", round, err)
	case createErr == nil && got.Status != vault.KeyRevoked:
		t.Fatalf("round %d: key of the deleted agent is %s, want revoked", round, got.Status)
	case createErr != nil && !errors.Is(createErr, vault.ErrNotFound):
		t.Fatalf("round %d: CreateKey: %v, want success or ErrNotFound", round, createErr)
	}
}

// raceCreateGrantDeleteCredential: a grant created while its credential is
// deleted is either refused or created and then revoked by the delete;
// never an active grant on a missing credential.
func raceCreateGrantDeleteCredential(t *testing.T, s vault.Store, app vault.App, round int) {
	ctx := t.Context()
	cred := vault.Credential{
		ID: uuid.Must(uuid.NewV7()).String(), AppID: app.ID, ProviderID: "openai", Kind: vault.KindAPIKey,
		Version: 1, KEKID: "k1", WrappedKey: []byte("w"), Ciphertext: []byte("c"),
	}
	if err := s.CreateCredential(ctx, cred); err != nil {
		t.Fatal(err)
	}
	g := vault.Grant{
		ID: uuid.Must(uuid.NewV7()).String(), AppID: app.ID, CredentialID: cred.ID,
		ProviderID: "openai", Principal: vault.PrincipalSystem,
	}
	var createErr, deleteErr error
	both(
		func() { createErr = s.CreateGrant(ctx, g) },
		func() { deleteErr = s.DeleteCredential(ctx, app.ID, cred.ID) },
	)
	if deleteErr != nil {
		t.Fatalf("round %d: DeleteCredential: %v", round, deleteErr)
	}
	got, err := s.GetGrant(ctx, app.ID, g.ID)
	switch {
	case createErr == nil && err != nil:
		t.Fatalf("round %d: created grant unreadable: %v", round, err)
	case createErr == nil && got.Status != vault.StatusRevoked:
		t.Fatalf("round %d: grant on the deleted credential is %s, want revoked", round, got.Status)
	case createErr != nil && !errors.Is(createErr, vault.ErrNotFound):
		t.Fatalf("round %d: CreateGrant: %v, want success or ErrNotFound", round, createErr)
	}
}

// raceRevokeGrant: a revocation racing another status change always ends
// revoked; the other change either happened first or gets ErrConflict.
func raceRevokeGrant(t *testing.T, s vault.Store, app vault.App, round int) {
	ctx := t.Context()
	cred := vault.Credential{
		ID: uuid.Must(uuid.NewV7()).String(), AppID: app.ID, ProviderID: "openai", Kind: vault.KindAPIKey,
		Version: 1, KEKID: "k1", WrappedKey: []byte("w"), Ciphertext: []byte("c"),
	}
	if err := s.CreateCredential(ctx, cred); err != nil {
		t.Fatal(err)
	}
	g := vault.Grant{
		ID: uuid.Must(uuid.NewV7()).String(), AppID: app.ID, CredentialID: cred.ID,
		ProviderID: "openai", Principal: vault.PrincipalSystem,
	}
	if err := s.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	other := []string{vault.StatusExpired, vault.StatusNeedsReauth}[round%2]
	var revokeErr, otherErr error
	both(
		func() { revokeErr = s.SetGrantStatus(ctx, app.ID, g.ID, vault.StatusRevoked) },
		func() { otherErr = s.SetGrantStatus(ctx, app.ID, g.ID, other) },
	)
	if revokeErr != nil {
		t.Fatalf("round %d: revoke: %v", round, revokeErr)
	}
	if otherErr != nil && !errors.Is(otherErr, vault.ErrConflict) {
		t.Fatalf("round %d: set %s: %v, want success or ErrConflict", round, other, otherErr)
	}
	got, err := s.GetGrant(ctx, app.ID, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != vault.StatusRevoked {
		t.Fatalf("round %d: grant is %s after a revocation, want revoked", round, got.Status)
	}
}
