package oauth

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// jwt builds an unsigned compact JWS around claims.
func jwt(t *testing.T, claims string) string {
	t.Helper()
	if !json.Valid([]byte(claims)) {
		t.Fatalf("bad claims %s", claims)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(claims)) + ".c2lnbmF0dXJl"
}

func TestAccountOf(t *testing.T) {
	response := func(t *testing.T, body string) *oauth2.Token {
		t.Helper()
		var raw map[string]any
		if err := json.Unmarshal([]byte(body), &raw); err != nil {
			t.Fatal(err)
		}
		return (&oauth2.Token{AccessToken: "at"}).WithExtra(raw)
	}
	idToken := jwt(t, `{"sub":"1234567890123456789","email":"alice@example.com","org":{"id":"o-1"},"n":42.5}`)
	for _, tc := range []struct {
		name, body, field, want string
	}{
		{"top-level string", `{"user_id":"u-1"}`, "user_id", "u-1"},
		{"nested (Slack)", `{"authed_user":{"id":"U0123"},"team":{"id":"T9"}}`, "authed_user.id", "U0123"},
		{"deeper", `{"a":{"b":{"c":"deep"}}}`, "a.b.c", "deep"},
		{"integer", `{"user":{"id":12345678}}`, "user.id", "12345678"},
		{"missing", `{"authed_user":{}}`, "authed_user.id", ""},
		{"not an object", `{"authed_user":"x"}`, "authed_user.id", ""},
		{"object is not an account", `{"team":{"id":"T9"}}`, "team", ""},
		{"boolean is not an account", `{"ok":true}`, "ok", ""},
		{"no field configured", `{"user_id":"u-1"}`, "", ""},
		{"access token is never an account", `{"access_token":"secret"}`, "access_token", ""},
		{"refresh token is never an account", `{"refresh_token":"secret"}`, "refresh_token", ""},
		{"control characters removed", `{"user_id":"a\u0000b"}`, "user_id", "a b"},
		{"id_token claim", `{"id_token":"` + idToken + `"}`, "id_token.email", "alice@example.com"},
		{"id_token big numeric-looking subject", `{"id_token":"` + idToken + `"}`, "id_token.sub", "1234567890123456789"},
		{"id_token nested claim", `{"id_token":"` + idToken + `"}`, "id_token.org.id", "o-1"},
		{"id_token number claim", `{"id_token":"` + idToken + `"}`, "id_token.n", "42.5"},
		{"id_token missing claim", `{"id_token":"` + idToken + `"}`, "id_token.name", ""},
		{"id_token itself is never an account", `{"id_token":"` + idToken + `"}`, "id_token", ""},
		{"no id_token", `{}`, "id_token.email", ""},
		{"malformed id_token", `{"id_token":"a.!!!.c"}`, "id_token.email", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, accountOf(response(t, tc.body), tc.field)); diff != "" {
				t.Errorf("accountOf(%s) (-want +got):\n%s", tc.field, diff)
			}
		})
	}
}

func TestAccountOfFormResponse(t *testing.T) {
	// Form-encoded token responses (GitHub's default) have flat fields.
	tok := (&oauth2.Token{AccessToken: "at"}).WithExtra(url.Values{"user_id": {"gh-7"}})
	for field, want := range map[string]string{"user_id": "gh-7", "user_id.x": "", "access_token": ""} {
		if got := accountOf(tok, field); got != want {
			t.Errorf("accountOf(%s) = %q, want %q", field, got, want)
		}
	}
}
