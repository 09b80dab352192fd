package audit

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // driver "sqlite"
)

// migrationFiles are the audit migrations, shipped in the vault's migration
// set.
var migrationFiles = []string{
	"../vault/migrations/sqlite/00002_audit_events.sql",
	"../vault/migrations/sqlite/00005_audit_decision_reason.sql",
}

// migrator returns a goose provider over only the audit migrations, read from
// the vault's migration directory (the other vault migrations are not ours
// to depend on).
func migrator(t testing.TB, db *sql.DB) *goose.Provider {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, f := range migrationFiles {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read migration: %v", err)
		}
		fsys[filepath.Base(f)] = &fstest.MapFile{Data: src}
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		t.Fatalf("goose provider: %v", err)
	}
	return p
}

// openDB opens a fresh SQLite file in t.TempDir with the audit migration
// applied, configured like the vault's store (WAL, busy timeout).
func openDB(t testing.TB) *sql.DB {
	t.Helper()
	dsn := "file:" + filepath.Join(t.TempDir(), "audit.db") +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := migrator(t, db).Up(context.Background()); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	return db
}

func TestMigration(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	objects := func() []string {
		rows, err := db.QueryContext(ctx,
			"SELECT name FROM sqlite_master WHERE tbl_name = 'audit_events' AND name NOT LIKE 'sqlite_%' ORDER BY name")
		if err != nil {
			t.Fatalf("sqlite_master: %v", err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatalf("scan: %v", err)
			}
			names = append(names, n)
		}
		return names
	}
	want := []string{
		"audit_events", "audit_events_app_agent_time", "audit_events_app_grant_time",
		"audit_events_app_principal_time", "audit_events_app_time",
	}
	p := migrator(t, db)
	steps := []struct {
		name string
		run  func() error
		want []string
	}{
		{"up", func() error { return nil }, want}, // applied by openDB
		{"down", func() error { _, err := p.DownTo(ctx, 0); return err }, nil},
		{"up again", func() error { _, err := p.Up(ctx); return err }, want},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.run(); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if diff := gocmp.Diff(st.want, objects()); diff != "" {
				t.Errorf("schema objects (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSQLStore runs the shared Store suite on SQLite.
func TestSQLStore(t *testing.T) {
	storeSuite(t, func(t testing.TB) Store { return NewSQLStore(openDB(t)) })
}

// TestSQLStoreQueryPlans checks that listings are index range scans already
// in (time, id) order: the filter's equality prefix is used, the time bounds
// and cursor narrow the range, and there is no table scan or sort step.
func TestSQLStoreQueryPlans(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	s := &sqlStore{db: db}
	if err := s.InsertEvents(ctx, filterFixture()); err != nil {
		t.Fatalf("InsertEvents: %v", err)
	}
	window := func(q Query) Query {
		q.Since, q.Until, q.AfterID = t0, t0.Add(time.Hour), "e01"
		return q
	}
	tests := []struct {
		name string
		q    Query
		want string // the plan's single line
	}{
		// Across apps there is no index on purpose (one less per insert).
		{"everything", Query{},
			"SCAN audit_events\nUSE TEMP B-TREE FOR ORDER BY"},
		{"app", Query{AppID: "app1"},
			"SEARCH audit_events USING INDEX audit_events_app_time (app_id=?)"},
		{"app agent", Query{AppID: "app1", AgentID: "agentA"},
			"SEARCH audit_events USING INDEX audit_events_app_agent_time (app_id=? AND agent_id=?)"},
		{"app grant", Query{AppID: "app1", GrantID: "g1"},
			"SEARCH audit_events USING INDEX audit_events_app_grant_time (app_id=? AND grant_id=?)"},
		{"app principal", Query{AppID: "app1", Principal: "agent:a"},
			"SEARCH audit_events USING INDEX audit_events_app_principal_time (app_id=? AND principal=?)"},
		{"window", window(Query{}),
			"SCAN audit_events\nUSE TEMP B-TREE FOR ORDER BY"},
		{"app window", window(Query{AppID: "app1"}),
			"SEARCH audit_events USING INDEX audit_events_app_time (app_id=? AND (time_ns,id)>(?,?) AND time_ns<?)"},
		{"app agent window", window(Query{AppID: "app1", AgentID: "agentA", Kind: KindCall}),
			"SEARCH audit_events USING INDEX audit_events_app_agent_time (app_id=? AND agent_id=? AND (time_ns,id)>(?,?) AND time_ns<?)"},
		{"app grant window", window(Query{AppID: "app1", AgentID: "agentA", GrantID: "g1"}),
			"SEARCH audit_events USING INDEX audit_events_app_grant_time (app_id=? AND grant_id=? AND (time_ns,id)>(?,?) AND time_ns<?)"},
		{"since after cursor", Query{AppID: "app1", AfterID: "e01", Since: t0.Add(time.Minute)},
			"SEARCH audit_events USING INDEX audit_events_app_time (app_id=? AND time_ns>?)"},
		{"app principal window", window(Query{AppID: "app1", Principal: "agent:a", Decision: DecisionAllow}),
			"SEARCH audit_events USING INDEX audit_events_app_principal_time (app_id=? AND principal=? AND (time_ns,id)>(?,?) AND time_ns<?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			query, args, err := s.listSQL(ctx, tc.q)
			if err != nil {
				t.Fatalf("listSQL: %v", err)
			}
			rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatalf("explain: %v", err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatalf("scan plan: %v", err)
				}
				plan = append(plan, detail)
			}
			if diff := gocmp.Diff(strings.Split(tc.want, "\n"), plan); diff != "" {
				t.Errorf("query plan (-want +got):\n%s", diff)
			}
		})
	}
}
