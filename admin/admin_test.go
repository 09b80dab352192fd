package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestNewRequiresDeps(t *testing.T) {
	if _, err := New(Deps{}); err == nil {
		t.Fatal("New(Deps{}) succeeded, want an error")
	}
	e := newEnv(t)
	if _, err := New(Deps{Vault: e.vault, Token: ""}); err == nil {
		t.Fatal("New without token succeeded, want an error")
	}
}

func TestHealthAndReady(t *testing.T) {
	e := newEnv(t)
	var body map[string]string
	r := e.callAs("", "GET", "/healthz", nil)
	r.decode(t, &body)
	if r.status != http.StatusOK || body["status"] != "ok" {
		t.Fatalf("healthz = %d %s", r.status, r.raw)
	}
	r = e.callAs("", "GET", "/readyz", nil)
	if r.status != http.StatusOK {
		t.Fatalf("readyz = %d %s, want 200", r.status, r.raw)
	}
	e.closeStore()
	r = e.callAs("", "GET", "/readyz", nil)
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with a closed store = %d %s, want 503", r.status, r.raw)
	}
	// healthz does not depend on the store.
	if r := e.callAs("", "GET", "/healthz", nil); r.status != http.StatusOK {
		t.Fatalf("healthz with a closed store = %d", r.status)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"wrong token", "Bearer gatehouse_admin_wrong", http.StatusUnauthorized},
		{"token prefix only", "Bearer " + testToken[:10], http.StatusUnauthorized},
		{"basic scheme", "Basic " + testToken, http.StatusUnauthorized},
		{"bare token", testToken, http.StatusUnauthorized},
		{"right token", "Bearer " + testToken, http.StatusOK},
		{"scheme case-insensitive", "bearer " + testToken, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", e.srv.URL+"/v1/apps", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	// Unknown and mutating routes are refused before routing.
	for _, path := range []string{"/v1/nope", "/v1/apps"} {
		r := e.callAs("", "POST", path, `{"name":"x"}`)
		if r.status != http.StatusUnauthorized || r.apiErr(t).Code != CodeUnauthorized {
			t.Errorf("POST %s without token = %d %s, want 401 unauthorized", path, r.status, r.raw)
		}
	}
	if got := e.rec.actions(); len(got) != 0 {
		t.Errorf("unauthenticated calls recorded events %v", got)
	}
}

func TestUnmatchedRoutes(t *testing.T) {
	e := newEnv(t)
	e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/v1/nope", nil)
	e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/elsewhere", nil)
	r := e.call("DELETE", "/v1/apps", nil)
	if r.status != http.StatusMethodNotAllowed || r.apiErr(t).Code != CodeInvalidRequest {
		t.Fatalf("DELETE /v1/apps = %d %s, want 405 invalid_request", r.status, r.raw)
	}
}

func TestRequestBodies(t *testing.T) {
	e := newEnv(t)
	huge := `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	tests := []struct {
		name   string
		body   string
		status int
		msg    string // substring of the message
	}{
		{"malformed", `{"name":`, http.StatusBadRequest, "truncated"},
		{"not json", `name=demo`, http.StatusBadRequest, "not valid JSON"},
		{"empty", ``, http.StatusBadRequest, "JSON object"},
		{"array", `["demo"]`, http.StatusBadRequest, "JSON object"},
		{"unknown field", `{"name":"demo","owner":"x"}`, http.StatusBadRequest, `unknown field "owner"`},
		{"wrong type", `{"name":7}`, http.StatusBadRequest, `"name" must be a JSON string`},
		{"trailing data", `{"name":"demo"} {"name":"x"}`, http.StatusBadRequest, "exactly one"},
		{"oversized", huge, http.StatusRequestEntityTooLarge, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.wantErr(tt.status, CodeInvalidRequest, "POST", "/v1/apps", tt.body)
			if !strings.Contains(got.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", got.Message, tt.msg)
			}
		})
	}
	var apps []any
	e.must(http.StatusOK, "GET", "/v1/apps", nil, &apps)
	if len(apps) != 0 {
		t.Errorf("rejected bodies created apps: %v", apps)
	}
}

func TestInternalErrorsHideDetails(t *testing.T) {
	e := newEnv(t)
	e.createApp("demo")
	e.closeStore()
	got := e.wantErr(http.StatusInternalServerError, CodeInternal, "GET", "/v1/apps", nil)
	if diff := cmp.Diff(Error{Code: CodeInternal, Message: "internal error"}, got); diff != "" {
		t.Errorf("internal error body (-want +got):\n%s", diff)
	}
}

func TestToError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Error
	}{
		{"api error passes", invalid("bad %s", "x"), Error{Status: 400, Code: CodeInvalidRequest, Message: "bad x"}},
		{"not found", about(`app "a"`, fmt.Errorf("get app: %w", vault.ErrNotFound)), Error{Status: 404, Code: CodeNotFound, Message: `app "a" not found`}},
		{"conflict default", about(`app "a"`, vault.ErrConflict), Error{Status: 409, Code: CodeConflict, Message: `app "a" already exists`}},
		{"conflict message", aboutConflict("x", "x is busy", fmt.Errorf("w: %w", vault.ErrConflict)), Error{Status: 409, Code: CodeConflict, Message: "x is busy"}},
		{"invalid from vault", about("secret", fmt.Errorf("weird %q: %w", "input", vault.ErrInvalid)), Error{Status: 400, Code: CodeInvalidRequest, Message: "invalid secret"}},
		{"no subject", vault.ErrNotFound, Error{Status: 404, Code: CodeNotFound, Message: "resource not found"}},
		{"other", fmt.Errorf("list: %w", errors.New("db exploded: password=hunter2")), Error{Status: 500, Code: CodeInternal, Message: "internal error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := toError(tt.err)
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("toError (-want +got):\n%s", diff)
			}
		})
	}
}
