package policy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWindowAcrossDST(t *testing.T) {
	business := func(zone string) Window {
		return Window{Zone: zone, Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "09:00", To: "18:00"}
	}
	utc := func(s string) time.Time {
		t.Helper()
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		w    Window
		at   string // UTC
		want bool
	}{
		// Europe/Berlin: 2025-03-30 02:00 CET -> 03:00 CEST; 2025-10-26 03:00 CEST -> 02:00 CET.
		{"berlin fri before spring change 09:30 CET", business("Europe/Berlin"), "2025-03-28T08:30:00Z", true},
		{"berlin fri before spring change 08:30 CET", business("Europe/Berlin"), "2025-03-28T07:30:00Z", false},
		{"berlin mon after spring change 09:30 CEST", business("Europe/Berlin"), "2025-03-31T07:30:00Z", true},
		{"berlin mon after spring change 18:30 CEST", business("Europe/Berlin"), "2025-03-31T16:30:00Z", false},
		{"berlin mon after spring change 17:59 CEST", business("Europe/Berlin"), "2025-03-31T15:59:00Z", true},
		{"berlin sunday of the change", business("Europe/Berlin"), "2025-03-30T10:00:00Z", false},
		{"berlin mon after autumn change 09:00 CET", business("Europe/Berlin"), "2025-10-27T08:00:00Z", true},
		{"berlin mon after autumn change 08:00 CET", business("Europe/Berlin"), "2025-10-27T07:00:00Z", false},
		{"berlin night window sat 22:30 CET", Window{Zone: "Europe/Berlin", Days: []string{"sat"}, From: "22:00", To: "06:00"}, "2025-03-29T21:30:00Z", true},
		{"berlin night window continues into 23h sunday 05:30 CEST", Window{Zone: "Europe/Berlin", Days: []string{"sat"}, From: "22:00", To: "06:00"}, "2025-03-30T03:30:00Z", true},
		{"berlin night window ends 06:30 CEST", Window{Zone: "Europe/Berlin", Days: []string{"sat"}, From: "22:00", To: "06:00"}, "2025-03-30T04:30:00Z", false},
		{"berlin night window sunday evening not listed", Window{Zone: "Europe/Berlin", Days: []string{"sat"}, From: "22:00", To: "06:00"}, "2025-03-30T21:30:00Z", false},
		{"berlin window over the skipped hour, 01:59 CET", Window{Zone: "Europe/Berlin", From: "02:30", To: "04:00"}, "2025-03-30T00:59:00Z", false},
		{"berlin window over the skipped hour, 03:00 CEST", Window{Zone: "Europe/Berlin", From: "02:30", To: "04:00"}, "2025-03-30T01:00:00Z", true},
		// America/New_York: 2025-03-09 02:00 EST -> 03:00 EDT; 2025-11-02 02:00 EDT -> 01:00 EST.
		{"new york fri before spring change 08:30 EST", business("America/New_York"), "2025-03-07T13:30:00Z", false},
		{"new york mon after spring change 09:30 EDT", business("America/New_York"), "2025-03-10T13:30:00Z", true},
		{"new york fri before autumn change 09:30 EDT", business("America/New_York"), "2025-10-31T13:30:00Z", true},
		{"new york mon after autumn change 08:30 EST", business("America/New_York"), "2025-11-03T13:30:00Z", false},
		{"new york mon after autumn change 09:30 EST", business("America/New_York"), "2025-11-03T14:30:00Z", true},
		{"new york repeated hour, first 01:30 EDT", Window{Zone: "America/New_York", Days: []string{"sun"}, From: "01:00", To: "02:00"}, "2025-11-02T05:30:00Z", true},
		{"new york repeated hour, second 01:30 EST", Window{Zone: "America/New_York", Days: []string{"sun"}, From: "01:00", To: "02:00"}, "2025-11-02T06:30:00Z", true},
		{"new york after repeated hour 02:30 EST", Window{Zone: "America/New_York", Days: []string{"sun"}, From: "01:00", To: "02:00"}, "2025-11-02T07:30:00Z", false},
		{"default zone is UTC, to 24:00", Window{From: "23:00", To: "24:00"}, "2025-01-01T23:59:00Z", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var problems []string
			w := compileWindow(&tt.w, func(f, msg string) { problems = append(problems, f+": "+msg) })
			if diff := cmp.Diff([]string(nil), problems); diff != "" {
				t.Fatalf("compile problems (-want +got):\n%s", diff)
			}
			if got := w.contains(utc(tt.at)); got != tt.want {
				t.Errorf("contains(%s) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"/api/chat.*", "/api/chat.postMessage", true},
		{"/api/chat.*", "/api/chat.", true},
		{"/api/chat.*", "/api/chat/x", false},
		{"/a/**", "/a/b/c/d", true},
		{"/a/**", "/a/", true},
		{"/a/**/z", "/a/z", false},
		{"/a/**/z", "/a/b/z", true},
		{"**", "anything/at/all", true},
		{"user:?ob", "user:bob", true},
		{"user:?ob", "user:/ob", false},
		{"[a-c]x", "bx", true},
		{"[^a-c]x", "bx", false},
		{"[^a-c]x", "dx", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{"é*", "éa", true},
		{"exact", "exact", true},
		{"exact", "exactly", false},
	}
	for _, tt := range tests {
		t.Run(tt.pat+" "+tt.s, func(t *testing.T) {
			g, err := compileGlob(tt.pat)
			if err != nil {
				t.Fatal(err)
			}
			if got := g.match(tt.s); got != tt.want {
				t.Errorf("match(%q, %q) = %v, want %v", tt.pat, tt.s, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"[abc", `abc\`, "[]"} {
		if _, err := compileGlob(bad); err == nil {
			t.Errorf("compileGlob(%q) succeeded, want an error", bad)
		}
	}
}
