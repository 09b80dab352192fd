package vault_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// TestRedaction checks security invariant 6 for the secret types: no
// formatting path shows the material.
func TestRedaction(t *testing.T) {
	m := vault.Material{Token: "tok-" + secretMarker, Username: "user-" + secretMarker, Password: "pw-" + secretMarker}
	type holder struct {
		Name     string
		Material vault.Material
		Ptr      *vault.Material
	}
	h := holder{Name: "visible", Material: m, Ptr: &m}
	keyring := newKeyring(t, "k1", map[string][]byte{"k1": bytes.Repeat([]byte{0xAB}, vault.KEKSize)})

	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		outputs["material "+verb] = fmt.Sprintf(verb, m)
		outputs["*material "+verb] = fmt.Sprintf(verb, &m)
		outputs["holder "+verb] = fmt.Sprintf(verb, h)
		outputs["keyring "+verb] = fmt.Sprintf(verb, keyring)
		outputs["keyring value "+verb] = fmt.Sprintf(verb, *keyring)
	}
	for name, handler := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		slog.New(handler(&buf)).Info("secret", "material", m, "holder", h, "ptr", &m, "keyring", keyring)
		outputs["slog "+name] = buf.String()
	}
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json holder"] = string(js)

	for name, out := range outputs {
		if strings.Contains(out, secretMarker) {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if strings.Contains(strings.ToLower(out), "abab") || strings.Contains(out, "171") {
			t.Errorf("%s may show key bytes: %s", name, out)
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s shows no redaction marker: %s", name, out)
		}
	}
	if !strings.Contains(outputs["slog json"], "visible") {
		t.Error("slog json dropped the non-secret field; the test would not see a leak")
	}
}
