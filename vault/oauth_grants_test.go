package vault_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

// tokenSet is an OAuth token set whose secrets carry secretMarker.
func tokenSet(now time.Time, access string) vault.Material {
	return vault.Material{
		AccessToken: access + "-" + secretMarker, RefreshToken: "xoxe-refresh-" + secretMarker,
		TokenType: "Bearer", Expiry: now.Add(time.Hour), Scopes: []string{"chat:write", "users:read"},
		GrantType: vault.GrantAuthorizationCode,
	}
}

// noSecret fails when err's message quotes material.
func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secretMarker) {
		t.Fatalf("error leaks material: %v", err)
	}
}

func TestValidateMaterialOAuth(t *testing.T) {
	tokens := tokenSet(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), "xoxp")
	with := func(mut func(*vault.Material)) vault.Material {
		m := tokens
		m.Scopes = []string{"chat:write"}
		mut(&m)
		return m
	}
	long := strings.Repeat("x", 16<<10+1)
	for _, tc := range []struct {
		name string
		kind string
		m    vault.Material
		want error
	}{
		{"oauth2 token set", vault.KindOAuth2, tokens, nil},
		{"oauth2 access token only", vault.KindOAuth2, vault.Material{AccessToken: "at"}, nil},
		{"oauth2 client credentials", vault.KindOAuth2, vault.Material{AccessToken: "at", GrantType: vault.GrantClientCredentials}, nil},
		{"oauth2 without access token", vault.KindOAuth2, with(func(m *vault.Material) { m.AccessToken = "" }), vault.ErrInvalid},
		{"oauth2 with api key token", vault.KindOAuth2, with(func(m *vault.Material) { m.Token = secretMarker }), vault.ErrInvalid},
		{"oauth2 with password", vault.KindOAuth2, with(func(m *vault.Material) { m.Password = secretMarker }), vault.ErrInvalid},
		{"oauth2 bad grant type", vault.KindOAuth2, with(func(m *vault.Material) { m.GrantType = "implicit" }), vault.ErrInvalid},
		{"oauth2 ctrl in access token", vault.KindOAuth2, with(func(m *vault.Material) { m.AccessToken = secretMarker + "\r\nX: 1" }), vault.ErrInvalid},
		{"oauth2 ctrl in refresh token", vault.KindOAuth2, with(func(m *vault.Material) { m.RefreshToken = secretMarker + "\x00" }), vault.ErrInvalid},
		{"oauth2 ctrl in token type", vault.KindOAuth2, with(func(m *vault.Material) { m.TokenType = "Bearer\n" }), vault.ErrInvalid},
		{"oauth2 DEL in access token", vault.KindOAuth2, with(func(m *vault.Material) { m.AccessToken = secretMarker + "\x7f" }), vault.ErrInvalid},
		{"oauth2 long access token", vault.KindOAuth2, with(func(m *vault.Material) { m.AccessToken = long }), vault.ErrInvalid},
		{"oauth2 long refresh token", vault.KindOAuth2, with(func(m *vault.Material) { m.RefreshToken = long }), vault.ErrInvalid},
		{"oauth2 long token type", vault.KindOAuth2, with(func(m *vault.Material) { m.TokenType = long }), vault.ErrInvalid},
		{"oauth2 scope with space", vault.KindOAuth2, with(func(m *vault.Material) { m.Scopes = []string{"a b"} }), vault.ErrInvalid},
		{"oauth2 empty scope", vault.KindOAuth2, with(func(m *vault.Material) { m.Scopes = []string{""} }), vault.ErrInvalid},
		{"oauth2 too many scopes", vault.KindOAuth2, with(func(m *vault.Material) { m.Scopes = make([]string, 101) }), vault.ErrInvalid},
		{"oauth_client secret", vault.KindOAuthClient, vault.Material{Token: "client-secret"}, nil},
		{"oauth_client public", vault.KindOAuthClient, vault.Material{}, nil},
		{"oauth_client with access token", vault.KindOAuthClient, vault.Material{AccessToken: secretMarker}, vault.ErrInvalid},
		{"oauth_client with username", vault.KindOAuthClient, vault.Material{Username: "u"}, vault.ErrInvalid},
		{"oauth_client ctrl in secret", vault.KindOAuthClient, vault.Material{Token: secretMarker + "\t"}, vault.ErrInvalid},
		{"oauth_client long secret", vault.KindOAuthClient, vault.Material{Token: long}, vault.ErrInvalid},
		{"api_key with access token", vault.KindAPIKey, vault.Material{Token: "t", AccessToken: secretMarker}, vault.ErrInvalid},
		{"api_key with expiry", vault.KindAPIKey, vault.Material{Token: "t", Expiry: tokens.Expiry}, vault.ErrInvalid},
		{"basic with refresh token", vault.KindBasic, vault.Material{Username: "u", RefreshToken: secretMarker}, vault.ErrInvalid},
		{"unknown kind", "aws_sigv4", vault.Material{Token: "t"}, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := vault.ValidateMaterial(tc.kind, tc.m)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("ValidateMaterial = %v, want %v", err, tc.want)
			}
			noSecret(t, err)
		})
	}
}

func TestSecretsRefuseOAuthKinds(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	for _, tc := range []struct {
		kind string
		m    vault.Material
	}{
		{vault.KindOAuth2, tokenSet(env.clock.Now(), "xoxp")},
		{vault.KindOAuthClient, vault.Material{Token: secretMarker}},
	} {
		_, _, err := env.v.PutSecret(c, env.app.ID, "slack", tc.kind, "system", tc.m)
		if !errors.Is(err, vault.ErrInvalid) || !strings.Contains(err.Error(), tc.kind) {
			t.Fatalf("PutSecret(%s) = %v, want ErrInvalid naming the kind", tc.kind, err)
		}
		noSecret(t, err)
	}
	g, _, err := env.v.PutOAuthGrant(c, env.app.ID, "slack", "user:alice", "U1", tokenSet(env.clock.Now(), "xoxp"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.v.RotateSecret(c, env.app.ID, g.ID, vault.Material{AccessToken: "at-" + secretMarker})
	if !errors.Is(err, vault.ErrInvalid) {
		t.Fatalf("RotateSecret on an OAuth grant = %v, want ErrInvalid", err)
	}
	noSecret(t, err)
}

func TestPutOAuthGrant(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	m := tokenSet(env.clock.Now(), "xoxp")
	m.Expiry = m.Expiry.Add(789) // below the stored precision
	g, cred, err := env.v.PutOAuthGrant(c, env.app.ID, "slack", "user:alice", "U024BE7LH", m)
	if err != nil {
		t.Fatal(err)
	}
	now := env.clock.Now()
	wantGrant := vault.Grant{
		ID: g.ID, AppID: env.app.ID, CredentialID: cred.ID, ProviderID: "slack", Principal: "user:alice",
		Account: "U024BE7LH", Status: vault.StatusActive, CreatedAt: now, UpdatedAt: now,
	}
	if d := cmp.Diff(wantGrant, g); d != "" {
		t.Fatalf("grant (-want +got):\n%s", d)
	}
	stored, err := env.store.GetCredential(c, env.app.ID, cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(cred, stored); d != "" {
		t.Fatalf("stored credential (-returned +stored):\n%s", d)
	}
	if stored.Kind != vault.KindOAuth2 || stored.Version != 1 || !stored.ExpiresAt.Equal(m.Expiry.Truncate(time.Microsecond)) {
		t.Fatalf("stored credential: kind %s version %d expires %v", stored.Kind, stored.Version, stored.ExpiresAt)
	}
	if bytes.Contains(stored.Ciphertext, []byte(secretMarker)) {
		t.Fatal("ciphertext holds the tokens in clear")
	}
	want := m
	want.Version = 1
	got, err := env.v.Material(c, g)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Material (-want +got):\n%s", d)
	}
	got.Scopes[0] = "tampered" // the caller's copy
	if again, err := env.v.Material(c, g); err != nil || again.Scopes[0] != "chat:write" {
		t.Fatalf("a caller's edit reached the cache: %v, %v", again.Scopes, err)
	}

	// A second connection of the same provider by the same user is a
	// second grant; nothing is replaced.
	g2, _, err := env.v.PutOAuthGrant(c, env.app.ID, "slack", "user:alice", "U999", tokenSet(now, "xoxp2"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := env.v.GrantsFor(c, env.app.ID, "slack", "user:alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]vault.Grant{g, g2}, list); d != "" {
		t.Fatalf("GrantsFor (-want +got):\n%s", d)
	}

	// MaterialFromStore bypasses the caches: every call reads the store.
	before := env.store.getCredential.Load()
	for range 2 {
		fromStore, err := env.v.MaterialFromStore(c, env.app.ID, cred.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, fromStore); d != "" {
			t.Fatalf("MaterialFromStore (-want +got):\n%s", d)
		}
	}
	if n := env.store.getCredential.Load() - before; n != 2 {
		t.Fatalf("MaterialFromStore read the store %d times for 2 calls", n)
	}
	_, err = env.v.MaterialFromStore(c, env.other.ID, cred.ID)
	if !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("MaterialFromStore of another app = %v, want ErrNotFound", err)
	}

	for _, tc := range []struct {
		name, principal, account string
		m                        vault.Material
		want                     error
	}{
		{"no access token", "user:bob", "", vault.Material{RefreshToken: secretMarker}, vault.ErrInvalid},
		{"bad account", "user:bob", "U1\n", tokenSet(now, "x"), vault.ErrInvalid},
		{"bad principal", "bob", "", tokenSet(now, "x"), vault.ErrInvalid},
		{"unknown agent", "agent:ghost", "", tokenSet(now, "x"), vault.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := env.v.PutOAuthGrant(c, env.app.ID, "slack", tc.principal, tc.account, tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("PutOAuthGrant = %v, want %v", err, tc.want)
			}
			noSecret(t, err)
		})
	}
}

func TestUpdateTokens(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	g, cred, err := env.v.PutOAuthGrant(c, env.app.ID, "slack", "user:alice", "U1", tokenSet(env.clock.Now(), "xoxp"))
	if err != nil {
		t.Fatal(err)
	}
	v1, err := env.v.Material(c, g) // cached from here on
	if err != nil {
		t.Fatal(err)
	}

	env.clock.Advance(time.Minute)
	next := tokenSet(env.clock.Now(), "xoxp-refreshed")
	next.Version = v1.Version
	v2, err := env.v.UpdateTokens(c, env.app.ID, cred.ID, next)
	if err != nil {
		t.Fatal(err)
	}
	want := next
	want.Version = 2
	if d := cmp.Diff(want, v2); d != "" {
		t.Fatalf("UpdateTokens (-want +got):\n%s", d)
	}
	got, err := env.v.Material(c, g) // no clock advance: the write invalidated the cache
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Material after UpdateTokens (-want +got):\n%s", d)
	}
	stored, err := env.store.GetCredential(c, env.app.ID, cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Version != 2 || !stored.ExpiresAt.Equal(next.Expiry) || !stored.UpdatedAt.Equal(env.clock.Now()) {
		t.Fatalf("stored: version %d expires %v updated %v", stored.Version, stored.ExpiresAt, stored.UpdatedAt)
	}

	stale := tokenSet(env.clock.Now(), "xoxp-stale")
	stale.Version = v1.Version
	apiGrant, apiCred, err := env.v.PutSecret(c, env.app.ID, "openai", vault.KindAPIKey, "system", vault.Material{Token: "sk-1"})
	if err != nil {
		t.Fatal(err)
	}
	apiMaterial, err := env.v.Material(c, apiGrant)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, app, cred string
		m               vault.Material
		want            error
	}{
		{"stale version", env.app.ID, cred.ID, stale, vault.ErrConflict},
		{"future version", env.app.ID, cred.ID, func() vault.Material { m := stale; m.Version = 7; return m }(), vault.ErrConflict},
		{"no version", env.app.ID, cred.ID, func() vault.Material { m := stale; m.Version = 0; return m }(), vault.ErrInvalid},
		{"no access token", env.app.ID, cred.ID, vault.Material{RefreshToken: secretMarker, Version: 2}, vault.ErrInvalid},
		{"api key credential", env.app.ID, apiCred.ID, func() vault.Material { m := stale; m.Version = apiMaterial.Version; return m }(), vault.ErrInvalid},
		{"other app", env.other.ID, cred.ID, func() vault.Material { m := stale; m.Version = 2; return m }(), vault.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.v.UpdateTokens(c, tc.app, tc.cred, tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("UpdateTokens = %v, want %v", err, tc.want)
			}
			noSecret(t, err)
			if got, err := env.v.Material(c, g); err != nil || !cmp.Equal(want, got) {
				t.Fatalf("a refused update changed the material: %v", err)
			}
		})
	}

	// Racing refreshers from the same version: exactly one wins.
	const racers = 8
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			m := tokenSet(env.clock.Now(), "xoxp-race")
			m.Version = 2
			_, errs[i] = env.v.UpdateTokens(c, env.app.ID, cred.ID, m)
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, vault.ErrConflict):
			t.Fatalf("racer %d: %v, want ErrConflict", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d racers won, want exactly 1", wins)
	}
	if got, err := env.v.Material(c, g); err != nil || got.Version != 3 {
		t.Fatalf("after the race: version %d, %v; want 3", got.Version, err)
	}
}

func TestReconsent(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	g, cred, err := env.v.PutOAuthGrant(c, env.app.ID, "slack", "user:alice", "U1", tokenSet(env.clock.Now(), "xoxp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.v.SetGrantStatus(c, env.app.ID, g.ID, vault.StatusNeedsReauth); err != nil {
		t.Fatal(err)
	}
	if list, err := env.v.GrantsFor(c, env.app.ID, "slack", "user:alice"); err != nil || len(list) != 0 {
		t.Fatalf("GrantsFor of a needs_reauth grant = %v, %v", list, err) // now cached empty
	}

	env.clock.Advance(time.Minute)
	fresh := tokenSet(env.clock.Now(), "xoxp-consented")
	got, err := env.v.Reconsent(c, env.app.ID, g.ID, "U2", fresh)
	if err != nil {
		t.Fatal(err)
	}
	want := g
	want.Account, want.Status, want.UpdatedAt = "U2", vault.StatusActive, env.clock.Now()
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("Reconsent (-want +got):\n%s", d)
	}
	list, err := env.v.GrantsFor(c, env.app.ID, "slack", "user:alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]vault.Grant{want}, list); d != "" {
		t.Fatalf("GrantsFor after Reconsent (-want +got):\n%s", d)
	}
	m, err := env.v.Material(c, got)
	if err != nil {
		t.Fatal(err)
	}
	wantM := fresh
	wantM.Version = 2
	if d := cmp.Diff(wantM, m); d != "" {
		t.Fatalf("Material after Reconsent (-want +got):\n%s", d)
	}
	stored, err := env.store.GetCredential(c, env.app.ID, cred.ID)
	if err != nil || !stored.ExpiresAt.Equal(fresh.Expiry) {
		t.Fatalf("stored expiry %v, %v; want %v", stored.ExpiresAt, err, fresh.Expiry)
	}

	// An empty account keeps the known one; an active grant may re-consent.
	again, err := env.v.Reconsent(c, env.app.ID, g.ID, "", tokenSet(env.clock.Now(), "xoxp-3"))
	if err != nil || again.Account != "U2" {
		t.Fatalf("Reconsent without account: %q, %v", again.Account, err)
	}

	apiGrant, _, err := env.v.PutSecret(c, env.app.ID, "openai", vault.KindAPIKey, "system", vault.Material{Token: "sk-1"})
	if err != nil {
		t.Fatal(err)
	}
	revoked, _, err := env.v.PutOAuthGrant(c, env.app.ID, "slack", "user:bob", "", tokenSet(env.clock.Now(), "xoxp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.v.RevokeGrant(c, env.app.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, app, grant, account string
		m                         vault.Material
		want                      error
	}{
		{"revoked", env.app.ID, revoked.ID, "U3", fresh, vault.ErrConflict},
		{"api key grant", env.app.ID, apiGrant.ID, "U3", fresh, vault.ErrInvalid},
		{"other app", env.other.ID, g.ID, "U3", fresh, vault.ErrNotFound},
		{"missing", env.app.ID, "0195f6a2-0000-7000-8000-00000000dead", "U3", fresh, vault.ErrNotFound},
		{"no access token", env.app.ID, g.ID, "U3", vault.Material{RefreshToken: secretMarker}, vault.ErrInvalid},
		{"bad account", env.app.ID, g.ID, "U\x00", fresh, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.v.Reconsent(c, tc.app, tc.grant, tc.account, tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Reconsent = %v, want %v", err, tc.want)
			}
			noSecret(t, err)
		})
	}
	if r, err := env.store.GetGrant(c, env.app.ID, revoked.ID); err != nil || r.Status != vault.StatusRevoked || r.Account != "" {
		t.Fatalf("refused Reconsent changed the revoked grant: %+v, %v", r, err)
	}
}

func TestDelegate(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	agent := env.agent(t, "worker")
	g, _, err := env.v.PutOAuthGrant(c, env.app.ID, "slack", "user:alice", "U1", tokenSet(env.clock.Now(), "xoxp"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := env.v.Delegate(c, env.app.ID, g.ID, "worker")
	if err != nil {
		t.Fatal(err)
	}
	wantD := vault.Delegation{ID: d.ID, AppID: env.app.ID, GrantID: g.ID, AgentID: agent.ID, CreatedAt: env.clock.Now()}
	if d := cmp.Diff(wantD, d); d != "" {
		t.Fatalf("Delegate (-want +got):\n%s", d)
	}
	delegated := func(t *testing.T, want []vault.Grant) {
		t.Helper()
		got, err := env.v.DelegatedGrants(c, env.app.ID, agent.ID, "slack")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("DelegatedGrants (-want +got):\n%s", d)
		}
	}
	delegated(t, []vault.Grant{g})
	before := env.store.delegatedGrants.Load()
	for range 3 {
		delegated(t, []vault.Grant{g})
	}
	if n := env.store.delegatedGrants.Load() - before; n != 0 {
		t.Fatalf("cached DelegatedGrants read the store %d times", n)
	}

	// Every change is seen on the next call, without waiting for the TTL.
	if err := env.v.RemoveDelegation(c, env.app.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	delegated(t, []vault.Grant{})
	if _, err := env.v.Delegate(c, env.app.ID, g.ID, "worker"); err != nil {
		t.Fatal(err)
	}
	delegated(t, []vault.Grant{g})
	if err := env.v.RevokeGrant(c, env.app.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	delegated(t, []vault.Grant{})

	g2, _, err := env.v.PutOAuthGrant(c, env.app.ID, "slack", "user:bob", "", tokenSet(env.clock.Now(), "xoxp"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.v.Delegate(c, env.app.ID, g2.ID, "worker"); err != nil {
		t.Fatal(err)
	}
	delegated(t, []vault.Grant{g2})
	if err := env.v.DeleteAgent(c, env.app.ID, agent.ID); err != nil {
		t.Fatal(err)
	}
	delegated(t, []vault.Grant{})

	helper := env.agent(t, "helper")
	live, err := env.v.Delegate(c, env.app.ID, g2.ID, "helper")
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, err := env.v.PutOAuthGrant(c, env.other.ID, "slack", "user:alice", "", tokenSet(env.clock.Now(), "xoxp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, app, grant, agent string
		want                    error
	}{
		{"again", env.app.ID, g2.ID, "helper", vault.ErrConflict},
		{"revoked grant", env.app.ID, g.ID, "helper", vault.ErrConflict},
		{"deleted agent", env.app.ID, g2.ID, "worker", vault.ErrNotFound},
		{"grant of another app", env.app.ID, foreign.ID, "helper", vault.ErrNotFound},
		{"agent of another app", env.other.ID, foreign.ID, "helper", vault.ErrNotFound},
		{"malformed grant id", env.app.ID, "g2", "helper", vault.ErrNotFound},
		{"bad agent name", env.app.ID, g2.ID, "Helper", vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.v.Delegate(c, tc.app, tc.grant, tc.agent)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Delegate = %v, want %v", err, tc.want)
			}
		})
	}
	if err := env.v.RemoveDelegation(c, env.other.ID, live.ID); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("RemoveDelegation of another app = %v, want ErrNotFound", err)
	}
	got, err := env.v.DelegatedGrants(c, env.app.ID, helper.ID, "slack")
	if err != nil || len(got) != 1 || got[0].ID != g2.ID {
		t.Fatalf("DelegatedGrants after refused calls = %v, %v", got, err)
	}
}
