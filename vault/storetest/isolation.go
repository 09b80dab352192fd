package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

// testCrossAppIsolation checks security invariant 8: every app-scoped call
// with another app's id behaves exactly as for a missing id, and changes
// nothing.
func testCrossAppIsolation(t *testing.T, s vault.Store) {
	c := ctx(t)
	owner, intruder := mkApp(t, s), mkApp(t, s)
	agent := mkAgent(t, s, owner.ID)
	key := mkKey(t, s, owner.ID, agent.ID)
	cred := mkCred(t, s, owner.ID, "openai")
	grant := mkGrant(t, s, cred, vault.PrincipalSystem)
	update := cred
	update.Version, update.Ciphertext = 2, randomBytes(t, 80)

	for _, tc := range []struct {
		name string
		call func(appID string) error
	}{
		{"GetAgent", func(a string) error { _, err := s.GetAgent(c, a, agent.ID); return err }},
		{"GetAgentByName", func(a string) error { _, err := s.GetAgentByName(c, a, agent.Name); return err }},
		{"DeleteAgent", func(a string) error { return s.DeleteAgent(c, a, agent.ID) }},
		{"RevokeKey", func(a string) error { return s.RevokeKey(c, a, key.ID) }},
		{"GetCredential", func(a string) error { _, err := s.GetCredential(c, a, cred.ID); return err }},
		{"UpdateCredential", func(a string) error { u := update; u.AppID = a; return s.UpdateCredential(c, u) }},
		{"DeleteCredential", func(a string) error { return s.DeleteCredential(c, a, cred.ID) }},
		{"GetGrant", func(a string) error { _, err := s.GetGrant(c, a, grant.ID); return err }},
		{"SetGrantStatus", func(a string) error { return s.SetGrantStatus(c, a, grant.ID, vault.StatusRevoked) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			foreign := tc.call(intruder.ID)
			missing := tc.call(newUUID(t))
			if !errors.Is(foreign, vault.ErrNotFound) || !errors.Is(missing, vault.ErrNotFound) {
				t.Fatalf("foreign: %v, missing app: %v; want ErrNotFound for both", foreign, missing)
			}
		})
	}

	// Nothing changed for the owner.
	gotAgent, err := s.GetAgent(c, owner.ID, agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(agent, gotAgent); d != "" {
		t.Errorf("agent changed (-want +got):\n%s", d)
	}
	gotKey, err := s.GetKey(c, key.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(key, gotKey); d != "" {
		t.Errorf("key changed (-want +got):\n%s", d)
	}
	gotCred, err := s.GetCredential(c, owner.ID, cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(cred, gotCred); d != "" {
		t.Errorf("credential changed (-want +got):\n%s", d)
	}
	gotGrant, err := s.GetGrant(c, owner.ID, grant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(grant, gotGrant); d != "" {
		t.Errorf("grant changed (-want +got):\n%s", d)
	}
	for _, tc := range []struct {
		name string
		n    func() (int, error)
	}{
		{"ListAgents", func() (int, error) { l, err := s.ListAgents(c, intruder.ID); return len(l), err }},
		{"ListKeys", func() (int, error) { l, err := s.ListKeys(c, intruder.ID); return len(l), err }},
		{"ListGrants", func() (int, error) {
			l, err := s.ListGrants(c, intruder.ID, vault.GrantFilter{})
			return len(l), err
		}},
	} {
		n, err := tc.n()
		if err != nil || n != 0 {
			t.Errorf("%s(intruder) = %d rows, %v; want none", tc.name, n, err)
		}
	}
}

// testConcurrentUpdaters races version-fenced updates from the same base
// version: exactly one wins, every other gets ErrConflict.
func testConcurrentUpdaters(t *testing.T, s vault.Store) {
	const racers = 16
	c := ctx(t)
	app := mkApp(t, s)
	cred := mkCred(t, s, app.ID, "openai")
	updates := make([]vault.Credential, racers)
	for i := range updates {
		updates[i] = cred
		updates[i].Version = 2
		updates[i].Ciphertext = []byte(fmt.Sprintf("ciphertext-%02d", i))
	}
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range updates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.UpdateCredential(c, updates[i])
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("updates %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, vault.ErrConflict):
			t.Fatalf("update %d: %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no update won")
	}
	got, err := s.GetCredential(c, app.ID, cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || string(got.Ciphertext) != string(updates[winner].Ciphertext) {
		t.Fatalf("stored version %d ciphertext %q, want the winner's (%d)", got.Version, got.Ciphertext, winner)
	}
}

// testConcurrentWriters runs many independent writers at once; none may
// fail (no SQLITE_BUSY or serialization errors leak out).
func testConcurrentWriters(t *testing.T, s vault.Store) {
	const writers = 32
	c := ctx(t)
	app := mkApp(t, s)
	start := make(chan struct{})
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- writeChain(t, s, app.ID, i)
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		n    func() (int, error)
	}{
		{"agents", func() (int, error) { l, err := s.ListAgents(c, app.ID); return len(l), err }},
		{"keys", func() (int, error) { l, err := s.ListKeys(c, app.ID); return len(l), err }},
		{"grants", func() (int, error) {
			l, err := s.ListGrants(c, app.ID, vault.GrantFilter{Status: vault.StatusRevoked})
			return len(l), err
		}},
	} {
		n, err := tc.n()
		if err != nil || n != writers {
			t.Errorf("%s: %d rows, %v; want %d", tc.name, n, err, writers)
		}
	}
}

// writeChain does one writer's sequence of dependent writes.
func writeChain(t *testing.T, s vault.Store, appID string, i int) error {
	c := ctx(t)
	agent, err := s.CreateAgent(c, vault.Agent{AppID: appID, Name: fmt.Sprintf("writer-%02d", i)})
	if err != nil {
		return fmt.Errorf("writer %d: CreateAgent: %w", i, err)
	}
	k := vault.Key{ID: fmt.Sprintf("%s-%02d", unique(t, "k"), i), AppID: appID, AgentID: agent.ID, Hash: []byte("h")}
	if err := s.CreateKey(c, k); err != nil {
		return fmt.Errorf("writer %d: CreateKey: %w", i, err)
	}
	cred := newCred(t, appID, "openai")
	if err := s.CreateCredential(c, cred); err != nil {
		return fmt.Errorf("writer %d: CreateCredential: %w", i, err)
	}
	g := vault.Grant{ID: newUUID(t), AppID: appID, CredentialID: cred.ID, ProviderID: "openai", Principal: "agent:" + agent.Name}
	if err := s.CreateGrant(c, g); err != nil {
		return fmt.Errorf("writer %d: CreateGrant: %w", i, err)
	}
	next := cred
	next.Version = 2
	if err := s.UpdateCredential(c, next); err != nil {
		return fmt.Errorf("writer %d: UpdateCredential: %w", i, err)
	}
	if err := s.SetGrantStatus(c, appID, g.ID, vault.StatusRevoked); err != nil {
		return fmt.Errorf("writer %d: SetGrantStatus: %w", i, err)
	}
	return nil
}

// testOAuthCrossAppIsolation extends testCrossAppIsolation to the OAuth
// rows: provider settings, connect sessions, delegations and UpdateGrant.
func testOAuthCrossAppIsolation(t *testing.T, s vault.Store) {
	c := ctx(t)
	owner, intruder := mkApp(t, s), mkApp(t, s)
	agent := mkAgent(t, s, owner.ID)
	intruderAgent := mkAgent(t, s, intruder.ID)
	grant := mkGrant(t, s, mkCred(t, s, owner.ID, "slack"), "user:alice")
	clientCred := mkClientCred(t, s, owner.ID, "slack")
	settings := vault.ProviderSettings{
		AppID: owner.ID, ProviderID: "slack", ClientID: "cid", CredentialID: clientCred.ID, CreatedAt: base, UpdatedAt: base,
	}
	wantErr(t, "PutProviderSettings", s.PutProviderSettings(c, settings), nil)
	session := mkSession(t, s, owner.ID, 1000*time.Hour)
	if _, err := s.ClaimConnectSession(c, session.StateHash, base); err != nil {
		t.Fatal(err)
	}
	deleg := mkDelegation(t, s, grant, agent.ID)

	for _, tc := range []struct {
		name string
		call func(appID string) error
	}{
		{"UpdateGrant", func(a string) error {
			g := grant
			g.AppID, g.Account, g.Status = a, "mallory", vault.StatusRevoked
			return s.UpdateGrant(c, g)
		}},
		{"GetProviderSettings", func(a string) error { _, err := s.GetProviderSettings(c, a, "slack"); return err }},
		{"DeleteProviderSettings", func(a string) error { return s.DeleteProviderSettings(c, a, "slack") }},
		{"PutProviderSettings naming the owner's secret", func(a string) error {
			ps := settings
			ps.AppID, ps.ProviderID = a, "slack-copy"
			return s.PutProviderSettings(c, ps)
		}},
		{"GetConnectSession", func(a string) error { _, err := s.GetConnectSession(c, a, session.ID); return err }},
		{"FinishConnectSession", func(a string) error {
			cs := session
			cs.AppID, cs.Status, cs.ErrorCode = a, vault.SessionFailed, "hijacked"
			return s.FinishConnectSession(c, cs)
		}},
		{"CreateDelegation of the owner's grant", func(a string) error {
			return s.CreateDelegation(c, vault.Delegation{ID: newUUID(t), AppID: a, GrantID: grant.ID, AgentID: intruderAgent.ID})
		}},
		{"DeleteDelegation", func(a string) error { return s.DeleteDelegation(c, a, deleg.ID) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			foreign := tc.call(intruder.ID)
			missing := tc.call(newUUID(t))
			if !errors.Is(foreign, vault.ErrNotFound) || !errors.Is(missing, vault.ErrNotFound) {
				t.Fatalf("foreign: %v, missing app: %v; want ErrNotFound for both", foreign, missing)
			}
		})
	}

	// Nothing changed for the owner.
	gotGrant, err := s.GetGrant(c, owner.ID, grant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(grant, gotGrant); d != "" {
		t.Errorf("grant changed (-want +got):\n%s", d)
	}
	gotSettings, err := s.GetProviderSettings(c, owner.ID, "slack")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(settings, gotSettings); d != "" {
		t.Errorf("provider settings changed (-want +got):\n%s", d)
	}
	gotSession, err := s.GetConnectSession(c, owner.ID, session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gotSession.Status != vault.SessionExchanging || gotSession.ErrorCode != "" {
		t.Errorf("session changed: status %s, error %q", gotSession.Status, gotSession.ErrorCode)
	}
	for _, tc := range []struct {
		name string
		n    func() (int, error)
	}{
		{"ListProviderSettings", func() (int, error) { l, err := s.ListProviderSettings(c, intruder.ID); return len(l), err }},
		{"ListDelegations", func() (int, error) {
			l, err := s.ListDelegations(c, intruder.ID, vault.DelegationFilter{})
			return len(l), err
		}},
		{"ListDelegations by the owner's grant", func() (int, error) {
			l, err := s.ListDelegations(c, intruder.ID, vault.DelegationFilter{GrantID: grant.ID})
			return len(l), err
		}},
		{"DelegatedGrants", func() (int, error) {
			l, err := s.DelegatedGrants(c, intruder.ID, agent.ID, "slack")
			return len(l), err
		}},
	} {
		n, err := tc.n()
		if err != nil || n != 0 {
			t.Errorf("%s = %d rows, %v; want none", tc.name, n, err)
		}
	}
	ds, err := s.ListDelegations(c, owner.ID, vault.DelegationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]vault.Delegation{deleg}, ds); d != "" {
		t.Errorf("owner's delegations changed (-want +got):\n%s", d)
	}
}
