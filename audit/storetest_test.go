package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// storeSuite is the behaviour every Store implementation shares, run by
// TestSQLStore and TestPostgresStore. open returns a fresh, empty store
// whose resources are released when the test ends.
func storeSuite(t *testing.T, open func(testing.TB) Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, func(testing.TB) Store)
	}{
		{"Roundtrip", testStoreRoundtrip},
		{"Filters", testStoreFilters},
		{"ListErrors", testStoreListErrors},
		{"Pagination", testStorePagination},
		{"Limits", testStoreLimits},
		{"Idempotent", testStoreIdempotent},
		{"RejectsInvalid", testStoreRejectsInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// t0 is the base time of the fixtures: nanosecond precision, not UTC, so a
// lossy or zone-dependent encoding shows up.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("UTC+2", 2*3600))

// listAll pages through every event matching q (q.Limit per page).
func listAll(t *testing.T, s Store, q Query) []Event {
	t.Helper()
	var all []Event
	for {
		page, err := s.ListEvents(context.Background(), q)
		if err != nil {
			t.Fatalf("ListEvents(%+v): %v", q, err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		q.AfterID = page[len(page)-1].ID
	}
}

// ids returns the events' ids in order (nil for none).
func ids(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

func testStoreRoundtrip(t *testing.T, open func(testing.TB) Store) {
	ctx := context.Background()
	s := open(t)
	in := []Event{
		{
			ID: "0192f0c1-0000-7000-8000-000000000001", Time: t0, Kind: KindCall,
			RequestID: "req-1", AppID: "app1", KeyID: "key1", AgentID: "agent1",
			Principal: "user:ü-42", GrantID: "grant1", ProviderID: "openai", Method: "POST",
			Host: "api.openai.com", Path: "/v1/chat/completions?stream=REDACTED", Status: 200,
			UpstreamLatency: 1234567 * time.Nanosecond, TotalLatency: 3 * time.Hour,
			BytesIn: 1 << 40, BytesOut: 7, Decision: DecisionAllow, Rule: "r1",
			ErrorCode: "", Reason: "summarise 'inbox'; \"quoted\"", Context: "tool=mail run=9",
			ClientAddr: "[::1]:53211", DecisionReason: `denied by policy rule "r1"`,
		},
		{
			ID: "0192f0c1-0000-7000-8000-000000000002", Time: t0.Add(time.Nanosecond),
			Kind: KindAdmin, AppID: "app1", Action: "grant.revoke", Actor: "admin-token",
			Decision: DecisionDeny, ErrorCode: "grant_revoked", Status: 403,
		},
		{ID: "0192f0c1-0000-7000-8000-000000000003", Time: time.Unix(0, 0)}, // all else zero
	}
	if err := s.InsertEvents(ctx, in); err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	got, err := s.ListEvents(ctx, Query{})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	want := []Event{in[2], in[0], in[1]} // ordered by time
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("roundtrip (-want +got):\n%s", diff)
	}
	for _, e := range got {
		if e.Time.Location() != time.UTC {
			t.Errorf("event %s: time location %v, want UTC", e.ID, e.Time.Location())
		}
	}
}

// filterFixture is a small dataset covering every filter; e03 and e08 share
// a time so the id tie-break is visible.
func filterFixture() []Event {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	call := func(id string, s int, app, agent, principal, grant, provider, decision string) Event {
		return Event{ID: id, Time: at(s), Kind: KindCall, AppID: app, AgentID: agent,
			Principal: principal, GrantID: grant, ProviderID: provider, Decision: decision}
	}
	return []Event{
		call("e01", 0, "app1", "agentA", "agent:a", "g1", "openai", DecisionAllow),
		call("e02", 1, "app1", "agentB", "user:u1", "g2", "slack", DecisionDeny),
		call("e03", 2, "app1", "", "system", "g3", "openai", DecisionAllow),
		call("e04", 3, "app1", "agentA", "agent:a", "g1", "openai", DecisionDeny),
		{ID: "e05", Time: at(4), Kind: KindAdmin, AppID: "app1", Action: "key.create", Actor: "admin"},
		call("e06", 5, "app2", "agentA", "agent:a", "g1", "openai", DecisionAllow),
		call("e07", 6, "app2", "agentC", "user:u1", "g4", "slack", DecisionTunnel),
		call("e08", 2, "app1", "agentB", "user:u1", "g2", "slack", DecisionAllow),
	}
}

func testStoreFilters(t *testing.T, open func(testing.TB) Store) {
	ctx := context.Background()
	s := open(t)
	fx := filterFixture()
	rand.Shuffle(len(fx), func(i, j int) { fx[i], fx[j] = fx[j], fx[i] })
	if err := s.InsertEvents(ctx, fx); err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"everything", Query{}, []string{"e01", "e02", "e03", "e08", "e04", "e05", "e06", "e07"}},
		{"app", Query{AppID: "app1"}, []string{"e01", "e02", "e03", "e08", "e04", "e05"}},
		{"other app", Query{AppID: "app2"}, []string{"e06", "e07"}},
		{"unknown app", Query{AppID: "app3"}, nil},
		{"app agent", Query{AppID: "app1", AgentID: "agentA"}, []string{"e01", "e04"}},
		{"agent across apps", Query{AgentID: "agentA"}, []string{"e01", "e04", "e06"}},
		{"app principal", Query{AppID: "app1", Principal: "user:u1"}, []string{"e02", "e08"}},
		{"principal across apps", Query{Principal: "user:u1"}, []string{"e02", "e08", "e07"}},
		{"app grant", Query{AppID: "app1", GrantID: "g1"}, []string{"e01", "e04"}},
		{"grant of other app", Query{AppID: "app2", GrantID: "g1"}, []string{"e06"}},
		{"provider", Query{ProviderID: "slack"}, []string{"e02", "e08", "e07"}},
		{"decision deny", Query{Decision: DecisionDeny}, []string{"e02", "e04"}},
		{"decision tunnel", Query{Decision: DecisionTunnel}, []string{"e07"}},
		{"kind admin", Query{Kind: KindAdmin}, []string{"e05"}},
		{"kind call in app2", Query{AppID: "app2", Kind: KindCall}, []string{"e06", "e07"}},
		{"since inclusive", Query{Since: at(2)}, []string{"e03", "e08", "e04", "e05", "e06", "e07"}},
		{"until exclusive", Query{Until: at(2)}, []string{"e01", "e02"}},
		{"since and until", Query{Since: at(1), Until: at(4)}, []string{"e02", "e03", "e08", "e04"}},
		{"since one ns late", Query{Since: at(2).Add(time.Nanosecond)}, []string{"e04", "e05", "e06", "e07"}},
		{"bounds beyond int64 nanos", Query{
			Since: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
			Until: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		}, []string{"e01", "e02", "e03", "e08", "e04", "e05", "e06", "e07"}},
		{"combined", Query{AppID: "app1", ProviderID: "openai", Decision: DecisionAllow}, []string{"e01", "e03"}},
		{"limit", Query{Limit: 3}, []string{"e01", "e02", "e03"}},
		{"cursor", Query{AppID: "app1", AfterID: "e03"}, []string{"e08", "e04", "e05"}},
		{"cursor on time tie", Query{AfterID: "e08"}, []string{"e04", "e05", "e06", "e07"}},
		{"cursor and limit", Query{AfterID: "e01", Limit: 2}, []string{"e02", "e03"}},
		{"cursor with filter", Query{AppID: "app1", AgentID: "agentA", AfterID: "e01"}, []string{"e04"}},
		{"cursor at end", Query{AfterID: "e07"}, nil},
		{"cursor before since", Query{AfterID: "e01", Since: at(3)}, []string{"e04", "e05", "e06", "e07"}},
		{"cursor after since", Query{AfterID: "e04", Since: at(1)}, []string{"e05", "e06", "e07"}},
		{"cursor on since", Query{AfterID: "e03", Since: at(2)}, []string{"e08", "e04", "e05", "e06", "e07"}},
		{"cursor past until", Query{AfterID: "e05", Until: at(4)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListEvents(ctx, tc.q)
			if err != nil {
				t.Fatalf("ListEvents(%+v): %v", tc.q, err)
			}
			if diff := gocmp.Diff(tc.want, ids(got)); diff != "" {
				t.Errorf("ListEvents(%+v) ids (-want +got):\n%s", tc.q, diff)
			}
		})
	}
}

func testStoreListErrors(t *testing.T, open func(testing.TB) Store) {
	ctx := context.Background()
	s := open(t)
	if err := s.InsertEvents(ctx, filterFixture()); err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	tests := []struct {
		name string
		q    Query
		want error // nil: any non-nil error
	}{
		{"unknown cursor", Query{AfterID: "nope"}, ErrCursorNotFound},
		{"other app's cursor", Query{AppID: "app2", AfterID: "e01"}, ErrCursorNotFound},
		{"negative limit", Query{Limit: -1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListEvents(ctx, tc.q)
			if err == nil {
				t.Fatalf("ListEvents(%+v) = %d events, want error", tc.q, len(got))
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("ListEvents(%+v) error %v, want %v", tc.q, err, tc.want)
			}
		})
	}
}

// seqEvents returns n events of app spread over n/3 distinct times (ties
// broken by id) with random (not time-ordered) ids, in shuffled order, and
// the same events in the expected (Time, ID) order.
func seqEvents(app string, n int) (shuffled, ordered []Event) {
	for i := range n {
		ordered = append(ordered, Event{
			ID: uuid.NewString(), Time: t0.Add(time.Duration(i/3) * time.Millisecond),
			Kind: KindCall, AppID: app, RequestID: fmt.Sprintf("r%04d", i),
		})
	}
	slices.SortFunc(ordered, func(a, b Event) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
	})
	shuffled = slices.Clone(ordered)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	return shuffled, ordered
}

func testStorePagination(t *testing.T, open func(testing.TB) Store) {
	ctx := context.Background()
	s := open(t)
	shuffled, want := seqEvents("app1", 250)
	other, _ := seqEvents("app2", 40) // interleaved in time, must never show up
	if err := s.InsertEvents(ctx, append(shuffled, other...)); err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	q := Query{AppID: "app1", Limit: 100}
	var got []Event
	var sizes []int
	for {
		page, err := s.ListEvents(ctx, q)
		if err != nil {
			t.Fatalf("ListEvents(%+v): %v", q, err)
		}
		sizes = append(sizes, len(page))
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		q.AfterID = page[len(page)-1].ID
	}
	if diff := gocmp.Diff([]int{100, 100, 50, 0}, sizes); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("paged events (-want +got):\n%s", diff)
	}
}

func testStoreLimits(t *testing.T, open func(testing.TB) Store) {
	ctx := context.Background()
	s := open(t)
	// 1201 events in one call: three INSERT chunks in one transaction.
	in, ordered := seqEvents("app1", 2*rowsPerInsert+201)
	if err := s.InsertEvents(ctx, in); err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	if diff := gocmp.Diff(ordered, listAll(t, s, Query{Limit: MaxLimit})); diff != "" {
		t.Errorf("all events (-want +got):\n%s", diff)
	}
	tests := []struct {
		limit, want int
	}{
		{0, DefaultLimit},
		{1, 1},
		{MaxLimit, MaxLimit},
		{MaxLimit + 1, MaxLimit},
		{1 << 30, MaxLimit},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("limit %d", tc.limit), func(t *testing.T) {
			got, err := s.ListEvents(ctx, Query{Limit: tc.limit})
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			if diff := gocmp.Diff(ordered[:tc.want], got); diff != "" {
				t.Errorf("first %d events (-want +got):\n%s", tc.want, diff)
			}
		})
	}
}

func testStoreIdempotent(t *testing.T, open func(testing.TB) Store) {
	ctx := context.Background()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	a := Event{ID: "a", Time: at(0), Kind: KindCall, Path: "/first"}
	b := Event{ID: "b", Time: at(1), Kind: KindCall}
	c := Event{ID: "c", Time: at(2), Kind: KindCall}
	aChanged := a
	aChanged.Path = "/second"
	tests := []struct {
		name    string
		batches [][]Event
		want    []Event
	}{
		{"same batch twice", [][]Event{{a, b}, {a, b}}, []Event{a, b}},
		{"duplicate inside a batch", [][]Event{{a, b, a}}, []Event{a, b}},
		{"replay with new events", [][]Event{{a}, {a, b, c}}, []Event{a, b, c}},
		{"stored row wins", [][]Event{{a}, {aChanged, b}}, []Event{a, b}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			for i, batch := range tc.batches {
				if err := s.InsertEvents(ctx, batch); err != nil {
					t.Fatalf("InsertEvents batch %d: %v", i, err)
				}
			}
			if diff := gocmp.Diff(tc.want, listAll(t, s, Query{})); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
		})
	}
}

func testStoreRejectsInvalid(t *testing.T, open func(testing.TB) Store) {
	ctx := context.Background()
	good := Event{ID: "good", Time: t0}
	tests := []struct {
		name string
		bad  Event
	}{
		{"empty id", Event{Time: t0}},
		{"zero time", Event{ID: "zero"}},
		{"after 2262", Event{ID: "late", Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"before 1678", Event{ID: "early", Time: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			err := s.InsertEvents(ctx, []Event{good, tc.bad})
			if !errors.Is(err, ErrInvalidEvent) {
				t.Fatalf("InsertEvents error %v, want ErrInvalidEvent", err)
			}
			if got := listAll(t, s, Query{}); len(got) != 0 {
				t.Errorf("stored %v after a rejected batch, want nothing", ids(got))
			}
		})
	}
	t.Run("empty batch", func(t *testing.T) {
		if err := open(t).InsertEvents(ctx, nil); err != nil {
			t.Errorf("InsertEvents(nil) = %v, want nil", err)
		}
	})
}
