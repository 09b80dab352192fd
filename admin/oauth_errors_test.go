package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
	"github.com/google/go-cmp/cmp"
)

// TestOAuthErrorMapping checks the one mapping of the OAuth manager's
// errors to API statuses and codes, wrapped or not.
func TestOAuthErrorMapping(t *testing.T) {
	type want struct {
		Status        int
		Code          string
		ProviderError string
		Internal      bool
	}
	tests := []struct {
		name     string
		err      error
		want     want
		contains string // in the message
	}{
		{"not configured", oauth.ErrNotConfigured, want{http.StatusConflict, CodeConflict, "", false}, "gatehouse provider configure"},
		{"not configured wrapped", fmt.Errorf("start: %w", oauth.ErrNotConfigured), want{http.StatusConflict, CodeConflict, "", false}, "gatehouse provider configure"},
		{"not oauth", oauth.ErrNotOAuth, want{http.StatusBadRequest, CodeInvalidRequest, "", false}, "OAuth2"},
		{"state", oauth.ErrState, want{http.StatusBadRequest, CodeInvalidRequest, "", false}, "start the connection again"},
		{"session expired", oauth.ErrSessionExpired, want{http.StatusGone, CodeExpired, "", false}, "expired"},
		{"reauth", oauth.ErrReauthRequired, want{http.StatusConflict, CodeConflict, "", false}, "re-consent"},
		{"refresh failed", oauth.ErrRefreshFailed, want{http.StatusBadGateway, CodeProviderError, "", false}, "token endpoint"},
		{"provider error", &oauth.ProviderError{Code: "invalid_client", Description: "Client authentication failed"},
			want{http.StatusBadGateway, CodeProviderError, "invalid_client", false}, "Client authentication failed"},
		{"provider error wrapped over a vault sentinel",
			fmt.Errorf("exchange: %w", errors.Join(&oauth.ProviderError{Code: "access_denied"}, vault.ErrInvalid)),
			want{http.StatusBadGateway, CodeProviderError, "access_denied", false}, "declined"},
		{"not found stays not found", about("grant \"x\"", vault.ErrNotFound), want{http.StatusNotFound, CodeNotFound, "", false}, "grant \"x\" not found"},
		{"unknown is internal", errors.New("boom: secret-ish detail"), want{http.StatusInternalServerError, CodeInternal, "", true}, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, internal := toError(tt.err)
			got := want{e.Status, e.Code, e.ProviderError, internal}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mapping (-want +got):\n%s", diff)
			}
			if !strings.Contains(e.Message, tt.contains) {
				t.Errorf("message %q does not contain %q", e.Message, tt.contains)
			}
		})
	}
	t.Run("callback: expired state is 400", func(t *testing.T) {
		e, _ := callbackError(fmt.Errorf("claim: %w", oauth.ErrSessionExpired))
		if diff := cmp.Diff(want{http.StatusBadRequest, CodeExpired, "", false}, want{e.Status, e.Code, e.ProviderError, false}); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func TestProviderErrorText(t *testing.T) {
	tests := []struct {
		code, desc, want string
	}{
		{"access_denied", "", "the authorization was declined (the user refused consent, or the provider denied it) (access_denied)"},
		{"access_denied", "User said no", "the authorization was declined (the user refused consent, or the provider denied it): User said no (access_denied)"},
		{"invalid_client", "", "the provider rejected the app's OAuth client; check the client id and secret with `gatehouse provider configure` (invalid_client)"},
		{"", "something odd", "the provider reported an error: something odd"},
		{"weird_code", "", "the provider reported an error (weird_code)"},
		{"", "", "the provider reported an error"},
	}
	for _, tt := range tests {
		t.Run(tt.code+"/"+tt.desc, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, providerErrorText(tt.code, tt.desc)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWantsJSON(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false},
		{"text/html, application/json", false},
		{"*/*", false},
		{"garbage;;", false},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "/oauth/callback", nil)
			r.Header.Set("Accept", tt.accept)
			if got := wantsJSON(r); got != tt.want {
				t.Errorf("wantsJSON(%q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}
