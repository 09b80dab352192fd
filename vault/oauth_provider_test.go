package vault_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func TestConfigureProvider(t *testing.T) {
	env := newEnv(t)
	c := t.Context()
	secret := "client-secret-" + secretMarker
	s, err := env.v.ConfigureProvider(c, env.app.ID, "slack", "1234.5678", secret, []string{"chat:write"})
	if err != nil {
		t.Fatal(err)
	}
	created := env.clock.Now()
	want := vault.ProviderSettings{
		AppID: env.app.ID, ProviderID: "slack", ClientID: "1234.5678", Scopes: []string{"chat:write"},
		CredentialID: s.CredentialID, CreatedAt: created, UpdatedAt: created,
	}
	if d := cmp.Diff(want, s); d != "" {
		t.Fatalf("ConfigureProvider (-want +got):\n%s", d)
	}
	client := func(t *testing.T, wantSettings vault.ProviderSettings, wantSecret string) {
		t.Helper()
		got, gotSecret, err := env.v.OAuthClient(c, env.app.ID, "slack")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(wantSettings, got); d != "" {
			t.Fatalf("OAuthClient settings (-want +got):\n%s", d)
		}
		if gotSecret != wantSecret {
			t.Fatal("OAuthClient returned another client secret")
		}
	}
	client(t, want, secret)
	cred, err := env.store.GetCredential(c, env.app.ID, s.CredentialID)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Kind != vault.KindOAuthClient || cred.Version != 1 || bytes.Contains(cred.Ciphertext, []byte(secretMarker)) {
		t.Fatalf("secret credential: kind %s version %d", cred.Kind, cred.Version)
	}

	// Reconfiguring rotates the same credential and keeps created_at.
	env.clock.Advance(time.Hour)
	rotated := "rotated-" + secretMarker
	s2, err := env.v.ConfigureProvider(c, env.app.ID, "slack", "1234.9999", rotated, nil)
	if err != nil {
		t.Fatal(err)
	}
	want2 := want
	want2.ClientID, want2.Scopes, want2.UpdatedAt = "1234.9999", nil, env.clock.Now()
	if d := cmp.Diff(want2, s2); d != "" {
		t.Fatalf("reconfigured (-want +got):\n%s", d)
	}
	client(t, want2, rotated)
	if cred, err := env.store.GetCredential(c, env.app.ID, s.CredentialID); err != nil || cred.Version != 2 {
		t.Fatalf("secret credential after reconfigure: version %d, %v", cred.Version, err)
	}

	// A public client has an empty secret.
	pub, err := env.v.ConfigureProvider(c, env.app.ID, "github", "Iv1.abc", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, sec, err := env.v.OAuthClient(c, env.app.ID, "github"); err != nil || sec != "" {
		t.Fatalf("public client: secret set %v, %v", sec != "", err)
	}
	list, err := env.store.ListProviderSettings(c, env.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]vault.ProviderSettings{pub, want2}, list); d != "" {
		t.Fatalf("ListProviderSettings (-want +got):\n%s", d)
	}

	for _, tc := range []struct {
		name, app, provider, clientID, secret string
		scopes                                []string
		want                                  error
	}{
		{"missing app", "0195f6a2-0000-7000-8000-00000000dead", "zoom", "cid", secret, nil, vault.ErrNotFound},
		{"bad provider", env.app.ID, "Zoom", "cid", secret, nil, vault.ErrInvalid},
		{"empty client id", env.app.ID, "zoom", "", secret, nil, vault.ErrInvalid},
		{"client id with newline", env.app.ID, "zoom", "cid\n", secret, nil, vault.ErrInvalid},
		{"secret with newline", env.app.ID, "zoom", "cid", secret + "\n", nil, vault.ErrInvalid},
		{"bad scope", env.app.ID, "zoom", "cid", secret, []string{"a b"}, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.v.ConfigureProvider(c, tc.app, tc.provider, tc.clientID, tc.secret, tc.scopes)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ConfigureProvider = %v, want %v", err, tc.want)
			}
			noSecret(t, err)
		})
	}
	if _, _, err := env.v.OAuthClient(c, env.other.ID, "slack"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("OAuthClient of another app = %v, want ErrNotFound", err)
	}
	if err := env.v.RemoveProvider(c, env.other.ID, "slack"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("RemoveProvider of another app = %v, want ErrNotFound", err)
	}
	client(t, want2, rotated)

	if err := env.v.RemoveProvider(c, env.app.ID, "slack"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.v.OAuthClient(c, env.app.ID, "slack"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("OAuthClient after RemoveProvider = %v, want ErrNotFound", err)
	}
	if _, err := env.store.GetCredential(c, env.app.ID, s.CredentialID); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("client secret after RemoveProvider = %v, want ErrNotFound", err)
	}
	if err := env.v.RemoveProvider(c, env.app.ID, "slack"); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("RemoveProvider again = %v, want ErrNotFound", err)
	}
}

// TestRotateKEKCoversOAuth: token sets and client secrets are ordinary
// credential rows, so KEK rotation moves them, keeps their expiry and
// version, and the refresh fence still holds afterwards.
func TestRotateKEKCoversOAuth(t *testing.T) {
	for _, b := range rotateBackends {
		t.Run(b.name, func(t *testing.T) {
			e := newRotateEnvOn(t, b.open(t), 0)
			c := t.Context()
			app := e.apps[0].ID
			va := e.vault(t, -1, "a", "a")
			tokens := tokenSet(e.clock.Now(), "xoxp")
			g, before, err := va.PutOAuthGrant(c, app, "slack", "user:alice", "U1", tokens)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := va.ConfigureProvider(c, app, "slack", "cid", "client-secret", nil); err != nil {
				t.Fatal(err)
			}
			rep, err := vault.RotateKEK(c, e.store, e.keyring(t, "b", "a"), vault.RotateOptions{Now: e.clock.Now})
			if err != nil || rep.Rewrapped != 2 {
				t.Fatalf("RotateKEK: %+v, %v; want 2 rewrapped", rep, err)
			}
			vb := e.vault(t, -1, "b") // only the new KEK
			after, err := e.store.GetCredential(c, app, before.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.KEKID != "b" || after.Version != before.Version || !after.ExpiresAt.Equal(before.ExpiresAt) {
				t.Fatalf("rewrapped row: kek %s version %d expires %v", after.KEKID, after.Version, after.ExpiresAt)
			}
			m, err := vb.Material(c, g)
			if err != nil {
				t.Fatal(err)
			}
			want := tokens
			want.Version = 1
			if d := cmp.Diff(want, m); d != "" {
				t.Fatalf("Material after rotation (-want +got):\n%s", d)
			}
			if _, sec, err := vb.OAuthClient(c, app, "slack"); err != nil || sec != "client-secret" {
				t.Fatalf("OAuthClient after rotation: %v", err)
			}
			m.AccessToken = "xoxp-after-rotation"
			if _, err := vb.UpdateTokens(c, app, g.CredentialID, m); err != nil {
				t.Fatalf("UpdateTokens after rotation: %v", err)
			}
			if _, err := vb.UpdateTokens(c, app, g.CredentialID, m); !errors.Is(err, vault.ErrConflict) {
				t.Fatalf("stale UpdateTokens after rotation = %v, want ErrConflict", err)
			}
		})
	}
}

func TestDeriveKey(t *testing.T) {
	store := openSQLite(t)
	keys := newKeyring(t, "k1", map[string][]byte{"k1": randomKEK(t)})
	pepper := randomKEK(t)
	a := vault.New(store, keys, pepper, vault.Options{})
	t.Cleanup(a.Close)
	b := vault.New(store, keys, pepper, vault.Options{}) // another replica
	t.Cleanup(b.Close)
	other := vault.New(store, keys, randomKEK(t), vault.Options{})
	t.Cleanup(other.Close)

	mac := hmac.New(sha256.New, pepper)
	mac.Write([]byte("gatehouse derive v1\x00pkce"))
	want := mac.Sum(nil)
	got := a.DeriveKey("pkce")
	if len(got) != 32 || !bytes.Equal(got, want) {
		t.Fatalf("DeriveKey(pkce) = %x, want HMAC-SHA256(pepper, label) %x", got, want)
	}
	for _, tc := range []struct {
		name string
		x, y []byte
		same bool
	}{
		{"replicas agree", a.DeriveKey("pkce"), b.DeriveKey("pkce"), true},
		{"labels differ", a.DeriveKey("pkce"), a.DeriveKey("pkce2"), false},
		{"label is not a prefix game", a.DeriveKey("pk"), a.DeriveKey("pkce"), false},
		{"peppers differ", a.DeriveKey("pkce"), other.DeriveKey("pkce"), false},
	} {
		if bytes.Equal(tc.x, tc.y) != tc.same {
			t.Errorf("%s: equal %v, want %v", tc.name, !tc.same, tc.same)
		}
	}
}

// TestRedisTTLBoundedByTokenExpiry: a token set's Redis entry never
// outlives the access token, and an expired token is not written to Redis
// at all.
func TestRedisTTLBoundedByTokenExpiry(t *testing.T) {
	e := newCacheEnv(t)
	prefix := testPrefix(t)
	v := e.redisVault(t, testRedisURL(), prefix, nil)
	rdb := newTestRedis(t, testRedisURL())
	ctx := t.Context()
	credTTL := func(t *testing.T, credID string) (time.Duration, bool) {
		t.Helper()
		for _, k := range scanKeys(t, ctx, rdb, prefix) {
			if strings.HasSuffix(k, ":cred:"+credID) {
				ttl, err := rdb.PTTL(ctx, k).Result()
				if err != nil {
					t.Fatal(err)
				}
				return ttl, true
			}
		}
		return 0, false
	}
	for _, tc := range []struct {
		name    string
		expires time.Duration // from the vault's clock
		max     time.Duration // 0: no entry at all
	}{
		{"expires in 30s", 30 * time.Second, 30 * time.Second},
		{"expires after the Redis TTL", 2 * time.Hour, vault.DefaultRedisTTL},
		{"already expired", -time.Minute, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tokenSet(e.clock.Now(), "xoxp")
			m.Expiry = e.clock.Now().Add(tc.expires)
			g, _, err := v.PutOAuthGrant(ctx, e.app.ID, "slack", "user:"+strings.ReplaceAll(tc.name, " ", "-"), "", m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Material(ctx, g); err != nil {
				t.Fatal(err)
			}
			ttl, ok := credTTL(t, g.CredentialID)
			switch {
			case tc.max == 0 && ok:
				t.Fatalf("expired token written to Redis with TTL %v", ttl)
			case tc.max == 0:
			case !ok:
				t.Fatal("no Redis entry for the credential")
			case ttl <= 0 || ttl > tc.max:
				t.Fatalf("Redis TTL %v, want in (0, %v]", ttl, tc.max)
			}
		})
	}
}
