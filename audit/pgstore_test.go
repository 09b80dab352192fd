package audit

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/storetest"
)

// openPostgres migrates a fresh schema of the test database with the
// vault's PostgreSQL migrations (which create audit_events) and returns the
// store's database/sql handle, as serve wires it. Everything is closed and
// dropped when t ends.
func openPostgres(t testing.TB) *sql.DB {
	t.Helper()
	url, schema := storetest.PostgresSchema(t)
	opts := vault.PostgresOptions{Schema: schema, MaxConns: 4}
	if err := vault.MigratePostgres(t.Context(), url, opts); err != nil {
		t.Fatalf("MigratePostgres: %v", err)
	}
	p, err := vault.OpenPostgres(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p.DB()
}

// TestPostgresStore runs the shared Store suite on PostgreSQL.
func TestPostgresStore(t *testing.T) {
	storeSuite(t, func(t testing.TB) Store { return NewPostgresStore(openPostgres(t)) })
}

// TestPostgresStoreUnstorableText checks that strings PostgreSQL text
// cannot hold are stored as U+FFFD instead of failing the batch, and that
// a filter with the same raw bytes still finds the event.
func TestPostgresStoreUnstorableText(t *testing.T) {
	s := NewPostgresStore(openPostgres(t))
	in := []Event{
		{ID: "bad", Time: t0, Kind: KindCall, Principal: "user:\xff", Reason: "nul\x00here", Path: "/a\xc3(b"},
		{ID: "good", Time: t0.Add(time.Second), Kind: KindCall, Reason: "fine ü"},
	}
	if err := s.InsertEvents(t.Context(), in); err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	want := []Event{
		{ID: "bad", Time: t0.UTC(), Kind: KindCall, Principal: "user:\uFFFD", Reason: "nul\uFFFDhere", Path: "/a\uFFFD(b"},
		{ID: "good", Time: t0.Add(time.Second).UTC(), Kind: KindCall, Reason: "fine ü"},
	}
	if diff := gocmp.Diff(want, listAll(t, s, Query{})); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	got, err := s.ListEvents(t.Context(), Query{Principal: "user:\xff"})
	if err != nil {
		t.Fatalf("ListEvents with raw filter: %v", err)
	}
	if diff := gocmp.Diff([]string{"bad"}, ids(got)); diff != "" {
		t.Errorf("raw filter (-want +got):\n%s", diff)
	}
	if _, err := s.ListEvents(t.Context(), Query{AfterID: "\x00"}); err == nil || !strings.Contains(err.Error(), ErrCursorNotFound.Error()) {
		t.Errorf("unstorable cursor: %v, want ErrCursorNotFound", err)
	}
}

// TestPostgresStoreConcurrentOverlappingBatches inserts the same events
// from several goroutines at once, in different orders (a replay racing
// the original): every call succeeds and each event is stored once.
func TestPostgresStoreConcurrentOverlappingBatches(t *testing.T) {
	s := NewPostgresStore(openPostgres(t))
	const writers = 6
	start := make(chan struct{})
	errs := make([]error, writers)
	_, want := seqEvents("app1", 700) // two chunks each
	var wg sync.WaitGroup
	for i := range writers {
		batch := slices.Clone(want)
		if i%2 == 1 { // reversed: opposite lock order without the id sort
			for l, r := 0, len(batch)-1; l < r; l, r = l+1, r-1 {
				batch[l], batch[r] = batch[r], batch[l]
			}
		}
		wg.Go(func() {
			<-start
			errs[i] = s.InsertEvents(t.Context(), batch)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if diff := gocmp.Diff(want, listAll(t, s, Query{Limit: MaxLimit})); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
}

// TestPostgresStoreQueryPlans checks that every listing can be answered by
// an index scan already in (time_ns, id) order: with sequential scans and
// sorts priced out, the plan must use the expected index and no Sort node.
// A collation or column-order mismatch between ORDER BY and the indexes
// shows up here as a Sort.
func TestPostgresStoreQueryPlans(t *testing.T) {
	db := openPostgres(t)
	s := &pgStore{db: db}
	if err := s.InsertEvents(t.Context(), filterFixture()); err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	if _, err := db.ExecContext(t.Context(), "ANALYZE audit_events"); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, set := range []string{"SET enable_seqscan = off", "SET enable_sort = off", "SET enable_bitmapscan = off"} {
		if _, err := conn.ExecContext(t.Context(), set); err != nil {
			t.Fatal(err)
		}
	}
	window := func(q Query) Query {
		q.Since, q.Until, q.AfterID = t0, t0.Add(time.Hour), "e01"
		return q
	}
	tests := []struct {
		name  string
		q     Query
		index string
	}{
		{"everything", Query{}, "audit_events_time"},
		{"app", Query{AppID: "app1"}, "audit_events_app_time"},
		{"app agent", Query{AppID: "app1", AgentID: "agentA"}, "audit_events_app_agent_time"},
		{"app grant", Query{AppID: "app1", GrantID: "g1"}, "audit_events_app_grant_time"},
		{"app principal", Query{AppID: "app1", Principal: "agent:a"}, "audit_events_app_principal_time"},
		{"window", window(Query{}), "audit_events_time"},
		{"app window", window(Query{AppID: "app1"}), "audit_events_app_time"},
		{"app agent window", window(Query{AppID: "app1", AgentID: "agentA", Kind: KindCall}), "audit_events_app_agent_time"},
		{"app grant window", window(Query{AppID: "app1", GrantID: "g1"}), "audit_events_app_grant_time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			query, args, err := s.listSQL(t.Context(), tc.q)
			if err != nil {
				t.Fatalf("listSQL: %v", err)
			}
			rows, err := conn.QueryContext(t.Context(), "EXPLAIN "+query, args...)
			if err != nil {
				t.Fatalf("explain: %v", err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			text := strings.Join(plan, "\n")
			if strings.Contains(text, "Sort") || !strings.Contains(text, fmt.Sprintf("Index Scan using %s ", tc.index)) {
				t.Errorf("plan does not read %s in order:\n%s", tc.index, text)
			}
		})
	}
}
