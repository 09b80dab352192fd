// Package storetest is the conformance suite every vault.Store
// implementation must pass. An implementation's test calls Run with a
// function that opens a fresh, migrated, empty-or-shared store; the suite
// creates uniquely named apps so it also works against a shared database.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/uuid"
)

// Run runs the whole suite. open must return a ready store for one subtest
// and arrange for it to be closed (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) vault.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s vault.Store)
	}{
		{"Apps", testApps},
		{"AppNames", testAppNames},
		{"AppEgress", testAppEgress},
		{"Agents", testAgents},
		{"DeleteAgent", testDeleteAgent},
		{"Keys", testKeys},
		{"RevokeKey", testRevokeKey},
		{"Credentials", testCredentials},
		{"UpdateCredentialFence", testUpdateCredentialFence},
		{"DeleteCredential", testDeleteCredential},
		{"Grants", testGrants},
		{"ListGrantsFilter", testListGrantsFilter},
		{"GrantStatusTransitions", testGrantStatusTransitions},
		{"CrossAppIsolation", testCrossAppIsolation},
		{"ConcurrentUpdaters", testConcurrentUpdaters},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ListCredentialsNotUnder", testListCredentialsNotUnder},
		{"RewrapCredential", testRewrapCredential},
		{"ConcurrentRewraps", testConcurrentRewraps},
		{"CredentialExpiry", testCredentialExpiry},
		{"GrantAccount", testGrantAccount},
		{"UpdateGrant", testUpdateGrant},
		{"ProviderSettings", testProviderSettings},
		{"ConnectSessions", testConnectSessions},
		{"ConnectSessionExpiry", testConnectSessionExpiry},
		{"ConcurrentClaims", testConcurrentClaims},
		{"Delegations", testDelegations},
		{"DelegatedGrants", testDelegatedGrants},
		{"OAuthCrossAppIsolation", testOAuthCrossAppIsolation},
		{"IdentityProviders", testIdentityProviders},
		{"AppPolicies", testAppPolicies},
		{"AgentAccess", testAgentAccess},
		{"Users", testUsers},
		{"DeprecateKey", testDeprecateKey},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// base is a fixed timestamp at the precision every store keeps (µs, UTC).
var base = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

// unique returns prefix plus a random suffix, valid under the name rule.
func unique(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

func newUUID(t *testing.T) string {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// randomBytes stands in for sealed material: stores treat it as opaque.
func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func mkApp(t *testing.T, s vault.Store) vault.App {
	t.Helper()
	a, err := s.CreateApp(ctx(t), vault.App{Name: unique(t, "app"), CreatedAt: base})
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	return a
}

func mkAgent(t *testing.T, s vault.Store, appID string) vault.Agent {
	t.Helper()
	a, err := s.CreateAgent(ctx(t), vault.Agent{AppID: appID, Name: unique(t, "agent"), CreatedAt: base})
	if err != nil {
		t.Fatalf("CreateAgent: %v", err)
	}
	return a
}

func mkKey(t *testing.T, s vault.Store, appID, agentID string) vault.Key {
	t.Helper()
	k := vault.Key{
		ID: unique(t, "k"), AppID: appID, AgentID: agentID, Hash: randomBytes(t, 32),
		Status: vault.KeyActive, CreatedAt: base,
	}
	if err := s.CreateKey(ctx(t), k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return k
}

func newCred(t *testing.T, appID, provider string) vault.Credential {
	t.Helper()
	return vault.Credential{
		ID: newUUID(t), AppID: appID, ProviderID: provider, Kind: vault.KindAPIKey, Version: 1,
		KEKID: "kek-1", WrappedKey: randomBytes(t, 61), Ciphertext: randomBytes(t, 80),
		CreatedAt: base, UpdatedAt: base,
	}
}

func mkCred(t *testing.T, s vault.Store, appID, provider string) vault.Credential {
	t.Helper()
	c := newCred(t, appID, provider)
	if err := s.CreateCredential(ctx(t), c); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	return c
}

func mkGrant(t *testing.T, s vault.Store, c vault.Credential, principal string) vault.Grant {
	t.Helper()
	g := vault.Grant{
		ID: newUUID(t), AppID: c.AppID, CredentialID: c.ID, ProviderID: c.ProviderID,
		Principal: principal, Status: vault.StatusActive, CreatedAt: base, UpdatedAt: base,
	}
	if err := s.CreateGrant(ctx(t), g); err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	return g
}

// wantErr fails unless err matches target (nil means success).
func wantErr(t *testing.T, op string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", op, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: error %v, want %v", op, err, target)
	}
}

func testPing(t *testing.T, s vault.Store) {
	wantErr(t, "Ping", s.Ping(ctx(t)), nil)
}
