package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestActionFor(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		provider, method, path, want string
	}{
		{"slack", "POST", "/api/chat.postMessage", "slack.chat.postMessage"},
		{"slack", "GET", "/api/chat.postMessage", ""},
		{"slack", "POST", "/api/chat.postMessage/", ""},
		{"google", "POST", "/gmail/v1/users/me/messages/send", "google.gmail.send"},
		{"openai", "POST", "/v1/chat/completions", ""},
	}
	for _, tt := range tests {
		t.Run(tt.provider+" "+tt.method+" "+tt.path, func(t *testing.T) {
			p, ok := c.Get(tt.provider)
			if !ok {
				t.Fatalf("no provider %s", tt.provider)
			}
			if got := p.ActionFor(tt.method, tt.path); got != tt.want {
				t.Errorf("ActionFor = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestActionValidation(t *testing.T) {
	tests := []struct {
		name, actions, want string
	}{
		{"lower-case method", "  send: {method: post, path: /send}\n", "actions.send: method \"post\""},
		{"relative path", "  send: {method: POST, path: send}\n", "actions.send: path \"send\""},
		{"query in path", "  send: {method: POST, path: \"/send?x=1\"}\n", "actions.send: path"},
		{"wildcard name", "  \"se*nd\": {method: POST, path: /send}\n", "actions.se*nd: action names"},
		{"same request twice", "  a: {method: POST, path: /send}\n  b: {method: POST, path: /send}\n", "actions.b: POST /send is already the action x.a"},
		{"unknown field", "  a: {method: POST, path: /send, host: x}\n", "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			doc := "id: x\nname: X\ncredentials: [api_key]\nhosts: [api.x-actions.example]\n" +
				"inject: {header: Authorization, value: \"Bearer {{.Token}}\"}\nactions:\n" + tt.actions
			if err := os.WriteFile(filepath.Join(dir, "x.yaml"), []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestActionForDoesNotAllocate: ActionFor runs for every call under a
// policy.
func TestActionForDoesNotAllocate(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Get("slack")
	path := "/api/" + strings.Repeat("x", 64) // longer than the runtime's stack buffer for concatenation
	if n := testing.AllocsPerRun(100, func() { _ = p.ActionFor("POST", path) }); n != 0 {
		t.Errorf("ActionFor allocates %v times per call, want 0", n)
	}
}
