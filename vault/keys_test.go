package vault_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

var (
	validID     = "abcdefghijklmnop"                                     // 16 chars
	validSecret = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrsq" // 52 chars, last char's low 4 bits zero
)

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		name, in, kind, id string
	}{
		{"app key", "gatehouse_app_" + validID + "_" + validSecret, "app", validID},
		{"agent key", "gatehouse_agent_" + validID + "_" + validSecret, "agent", validID},
		{"empty", "", "", ""},
		{"unknown prefix", "gatehouse_user_" + validID + "_" + validSecret, "", ""},
		{"upper-case prefix", "GATEHOUSE_APP_" + validID + "_" + validSecret, "", ""},
		{"prefix only", "gatehouse_app_", "", ""},
		{"short id", "gatehouse_app_" + validID[1:] + "_" + validSecret + "a", "", ""},
		{"short secret", "gatehouse_app_" + validID + "_" + validSecret[1:], "", ""},
		{"long secret", "gatehouse_app_" + validID + "_" + validSecret + "a", "", ""},
		{"missing separator", "gatehouse_app_" + validID + "-" + validSecret, "", ""},
		{"upper-case secret", "gatehouse_app_" + validID + "_" + strings.ToUpper(validSecret), "", ""},
		{"upper-case id", "gatehouse_app_" + strings.ToUpper(validID) + "_" + validSecret, "", ""},
		{"non-base32 digit", "gatehouse_app_" + validID + "_" + validSecret[:51] + "1", "", ""},
		{"non-canonical trailing bits", "gatehouse_app_" + validID + "_" + validSecret[:51] + "r", "", ""},
		{"newline inside", "gatehouse_app_" + validID + "_" + validSecret[:25] + "\n" + validSecret[26:], "", ""},
		{"trailing space", "gatehouse_app_" + validID + "_" + validSecret + " ", "", ""},
		{"grant placeholder", "gatehouse_grant_0195f6a2-0000-7000-8000-000000000001", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, id, err := vault.ParseKey(tc.in)
			if tc.kind == "" {
				if !errors.Is(err, vault.ErrInvalid) {
					t.Fatalf("ParseKey = %q, %q, %v; want ErrInvalid", kind, id, err)
				}
				if len(tc.in) > 20 && strings.Contains(err.Error(), tc.in[len(tc.in)-20:]) {
					t.Fatal("error quotes the key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([]string{tc.kind, tc.id}, []string{kind, id}); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParseGrantPlaceholder(t *testing.T) {
	const id = "0195f6a2-3b4c-7d5e-8f60-0123456789ab"
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"canonical", "gatehouse_grant_" + id, id, true},
		{"round trip", vault.GrantPlaceholder(id), id, true},
		{"no prefix", id, "", false},
		{"prefix only", "gatehouse_grant_", "", false},
		{"upper-case uuid", "gatehouse_grant_" + strings.ToUpper(id), "", false},
		{"braced", "gatehouse_grant_{" + id + "}", "", false},
		{"urn", "gatehouse_grant_urn:uuid:" + id, "", false},
		{"no hyphens", "gatehouse_grant_" + strings.ReplaceAll(id, "-", ""), "", false},
		{"hyphen moved", "gatehouse_grant_0195f6a23-b4c-7d5e-8f60-0123456789ab", "", false},
		{"trailing byte", "gatehouse_grant_" + id + "x", "", false},
		{"short", "gatehouse_grant_" + id[:35], "", false},
		{"non-hex", "gatehouse_grant_0195f6a2-3b4c-7d5e-8f60-0123456789ag", "", false},
		{"leading space", " gatehouse_grant_" + id, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := vault.ParseGrantPlaceholder(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("ParseGrantPlaceholder = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestIssuedKeysParse(t *testing.T) {
	env := newEnv(t)
	agent := env.agent(t, "worker")
	seen := map[string]bool{}
	for _, agentID := range []string{"", agent.ID, "", agent.ID} {
		plaintext, k, err := env.v.IssueKey(t.Context(), env.app.ID, agentID)
		if err != nil {
			t.Fatal(err)
		}
		wantKind, prefix := "app", vault.AppKeyPrefix
		if agentID != "" {
			wantKind, prefix = "agent", vault.AgentKeyPrefix
		}
		kind, id, err := vault.ParseKey(plaintext)
		if err != nil || kind != wantKind || id != k.ID || !strings.HasPrefix(plaintext, prefix) {
			t.Fatalf("issued key %q does not parse back: %s %s %v", plaintext[:len(prefix)], kind, id, err)
		}
		if seen[plaintext] {
			t.Fatal("duplicate key issued")
		}
		seen[plaintext] = true
		if strings.Contains(string(k.Hash), plaintext) || len(k.Hash) != 32 {
			t.Fatal("stored hash is not an HMAC-SHA256")
		}
	}
}

func TestAuthenticate(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	agent := env.agent(t, "worker")
	appKey, appStored, err := env.v.IssueKey(c, env.app.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	agentKey, agentStored, err := env.v.IssueKey(c, env.app.ID, agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, id, _ := vault.ParseKey(appKey)
	forged := vault.AppKeyPrefix + id + "_" + validSecret // right id, wrong secret
	swapped := vault.AgentKeyPrefix + strings.TrimPrefix(appKey, vault.AppKeyPrefix)
	for _, tc := range []struct {
		name string
		in   string
		want vault.Key
		err  error
	}{
		{"app key", appKey, appStored, nil},
		{"agent key", agentKey, agentStored, nil},
		{"malformed", "hunter2", vault.Key{}, vault.ErrKeyInvalid},
		{"unknown id", vault.AppKeyPrefix + validID + "_" + validSecret, vault.Key{}, vault.ErrKeyInvalid},
		{"wrong secret", forged, vault.Key{}, vault.ErrKeyInvalid},
		{"kind swapped", swapped, vault.Key{}, vault.ErrKeyInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := env.v.Authenticate(c, tc.in)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("Authenticate = %v, want %v", err, tc.err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}

	// Revocation through the Vault is seen by the very next call, although
	// the key is cached.
	if _, err := env.v.Authenticate(c, appKey); err != nil {
		t.Fatal(err)
	}
	lookups := env.store.getKey.Load()
	if _, err := env.v.Authenticate(c, appKey); err != nil {
		t.Fatal(err)
	}
	if env.store.getKey.Load() != lookups {
		t.Fatal("second Authenticate was not served from the cache")
	}
	if err := env.v.CheckKey(c, appStored.ID); err != nil {
		t.Fatalf("CheckKey of an active key = %v", err)
	}
	if err := env.v.RevokeKey(c, env.app.ID, appStored.ID); err != nil {
		t.Fatal(err)
	}
	if err := env.v.CheckKey(c, appStored.ID); !errors.Is(err, vault.ErrKeyRevoked) {
		t.Fatalf("CheckKey after revoke = %v, want ErrKeyRevoked", err)
	}
	if err := env.v.CheckKey(c, "nosuchkeyid00000"); !errors.Is(err, vault.ErrKeyRevoked) {
		t.Fatalf("CheckKey of an unknown id = %v, want ErrKeyRevoked", err)
	}
	if _, err := env.v.Authenticate(c, appKey); !errors.Is(err, vault.ErrKeyRevoked) {
		t.Fatalf("Authenticate after revoke = %v, want ErrKeyRevoked", err)
	}
	// A revoked key with a wrong secret is just invalid: revocation is
	// only disclosed to the holder of the key.
	if _, err := env.v.Authenticate(c, forged); !errors.Is(err, vault.ErrKeyInvalid) {
		t.Fatalf("forged revoked key = %v, want ErrKeyInvalid", err)
	}
	// Another app cannot revoke it.
	if err := env.v.RevokeKey(c, env.other.ID, agentStored.ID); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("foreign RevokeKey = %v, want ErrNotFound", err)
	}
	if _, err := env.v.Authenticate(c, agentKey); err != nil {
		t.Fatalf("agent key after foreign revoke: %v", err)
	}
}

func TestAuthenticateCacheExpiry(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	plaintext, k, err := env.v.IssueKey(c, env.app.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.v.Authenticate(c, plaintext); err != nil {
		t.Fatal(err)
	}
	// A write that bypasses the Vault is served stale until the TTL ends…
	if err := env.store.RevokeKey(c, env.app.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.v.Authenticate(c, plaintext); err != nil {
		t.Fatalf("within TTL: %v (cache not used)", err)
	}
	// …and refused after it.
	env.clock.Advance(vault.DefaultCacheTTL + 1)
	if _, err := env.v.Authenticate(c, plaintext); !errors.Is(err, vault.ErrKeyRevoked) {
		t.Fatalf("after TTL = %v, want ErrKeyRevoked", err)
	}
}

func TestDeleteAgentRevokesCachedKey(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	agent := env.agent(t, "worker")
	plaintext, _, err := env.v.IssueKey(c, env.app.ID, agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.v.Authenticate(c, plaintext); err != nil {
		t.Fatal(err)
	}
	if err := env.v.DeleteAgent(c, env.app.ID, agent.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.v.Authenticate(c, plaintext); !errors.Is(err, vault.ErrKeyRevoked) {
		t.Fatalf("Authenticate after DeleteAgent = %v, want ErrKeyRevoked", err)
	}
}

func TestShortPepperFailsClosed(t *testing.T) {
	env := newEnv(t)
	v := vault.New(env.store, env.keys, []byte("short"), vault.Options{})
	if _, _, err := v.IssueKey(t.Context(), env.app.ID, ""); err == nil {
		t.Fatal("IssueKey with a short pepper succeeded")
	}
	plaintext, _, err := env.v.IssueKey(t.Context(), env.app.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(t.Context(), plaintext); err == nil {
		t.Fatal("Authenticate with a short pepper succeeded")
	}
}
