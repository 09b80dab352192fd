package admin

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/google/go-cmp/cmp"
)

func TestApps(t *testing.T) {
	e := newEnv(t)
	demo := e.createApp("demo")
	if demo.ID == "" || demo.Name != "demo" || demo.EgressAllow == nil || demo.CreatedAt.IsZero() {
		t.Fatalf("created app = %+v", demo)
	}
	if ev := e.rec.last(t); ev.Action != "app.create" || ev.AppID != demo.ID || ev.Actor != Actor || ev.Kind != "admin" {
		t.Errorf("audit event = %+v", ev)
	}
	other := e.createApp("other")

	e.wantErr(http.StatusConflict, CodeConflict, "POST", "/v1/apps", map[string]string{"name": "demo"})
	got := e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "POST", "/v1/apps", map[string]string{"name": "Not Valid"})
	if got.Message == "" {
		t.Error("empty validation message")
	}
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "POST", "/v1/apps", map[string]string{})

	for _, ref := range []string{"demo", demo.ID} {
		var a vault.App
		e.must(http.StatusOK, "GET", "/v1/apps/"+ref, nil, &a)
		if diff := cmp.Diff(demo, a); diff != "" {
			t.Errorf("GET app %s (-want +got):\n%s", ref, diff)
		}
	}
	for _, ref := range []string{"missing", "0190b5b2-0000-7000-8000-000000000000", "BAD%20NAME"} {
		e.wantErr(http.StatusNotFound, CodeNotFound, "GET", "/v1/apps/"+ref, nil)
	}

	var list []vault.App
	e.must(http.StatusOK, "GET", "/v1/apps", nil, &list)
	if diff := cmp.Diff([]vault.App{demo, other}, list); diff != "" {
		t.Errorf("list apps (-want +got):\n%s", diff)
	}
}

func TestEgress(t *testing.T) {
	e := newEnv(t)
	demo := e.createApp("demo")
	var a vault.App
	e.must(http.StatusOK, "PUT", "/v1/apps/demo/egress",
		map[string][]string{"allow": {"Example.COM", "*.pypi.org", "example.com", "git.example.org:8443"}}, &a)
	want := []string{"example.com", "*.pypi.org", "git.example.org:8443"}
	if diff := cmp.Diff(want, a.EgressAllow); diff != "" {
		t.Errorf("egress answer (-want +got):\n%s", diff)
	}
	stored, err := e.store.GetApp(t.Context(), demo.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, stored.EgressAllow); diff != "" {
		t.Errorf("stored egress (-want +got):\n%s", diff)
	}
	if ev := e.rec.last(t); ev.Action != "egress.set" || ev.AppID != demo.ID {
		t.Errorf("audit event = %+v", ev)
	}
	e.wantErr(http.StatusBadRequest, CodeInvalidRequest, "PUT", "/v1/apps/demo/egress", map[string][]string{"allow": {"not a host"}})
	e.wantErr(http.StatusNotFound, CodeNotFound, "PUT", "/v1/apps/nope/egress", map[string][]string{"allow": {}})

	e.must(http.StatusOK, "PUT", "/v1/apps/demo/egress", map[string][]string{"allow": {}}, &a)
	if len(a.EgressAllow) != 0 || a.EgressAllow == nil {
		t.Errorf("cleared egress = %#v, want []", a.EgressAllow)
	}
}

func TestProviders(t *testing.T) {
	e := newEnv(t)
	var ps []struct {
		ID          string   `json:"id"`
		Credentials []string `json:"credentials"`
		Hosts       []string `json:"hosts"`
	}
	e.must(http.StatusOK, "GET", "/v1/providers", nil, &ps)
	found := false
	for i, p := range ps {
		if i > 0 && ps[i-1].ID >= p.ID {
			t.Errorf("providers not sorted: %q before %q", ps[i-1].ID, p.ID)
		}
		if p.ID == "openai" {
			found = true
			if diff := cmp.Diff([]string{"api.openai.com"}, p.Hosts); diff != "" {
				t.Errorf("openai hosts (-want +got):\n%s", diff)
			}
		}
	}
	if !found {
		t.Fatalf("openai missing from %d providers", len(ps))
	}
}
