package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// columns lists the audit_events columns in Event field order; insert
// arguments (eventArgs) and scans (scanEvent) follow the same order.
const columns = "id, time_ns, kind, request_id, app_id, key_id, agent_id, principal, grant_id, " +
	"provider_id, method, host, path, status, upstream_latency_ns, total_latency_ns, bytes_in, " +
	"bytes_out, decision, rule, error_code, action, actor, reason, context, client_addr, decision_reason"

// numColumns is the number of entries in columns.
const numColumns = 27

// rowsPerInsert bounds one multi-row INSERT: 500 rows × 27 columns = 13,500
// bound parameters, well under SQLite's limit of 32,766 and small enough that
// the statement text stays cheap to build and parse.
const rowsPerInsert = 500

// sqlStore is the SQLite Store over the audit_events table, which the vault's
// goose migrations create (vault/migrations/sqlite/00002_audit_events.sql).
type sqlStore struct {
	db *sql.DB

	// Prepared once and reused: re-parsing a multi-row INSERT for every
	// batch was a fifth of the writer's CPU (bench profile).
	prepOnce  sync.Once
	prepErr   error
	stmtChunk *sql.Stmt // preparedRows rows
	stmtOne   *sql.Stmt // one row
}

// preparedRows is the row count of the reusable multi-row INSERT; batches
// are written in chunks of this size, then row by row.
const preparedRows = 32

func (s *sqlStore) prepare(ctx context.Context) error {
	s.prepOnce.Do(func() {
		if s.stmtChunk, s.prepErr = s.db.PrepareContext(ctx, insertSQL(preparedRows)); s.prepErr != nil {
			return
		}
		s.stmtOne, s.prepErr = s.db.PrepareContext(ctx, insertSQL(1))
	})
	return s.prepErr
}

// NewSQLStore returns a Store over db, typically the vault's SQLite handle
// (vault.SQLite.DB()). It does not create the table.
func NewSQLStore(db *sql.DB) Store {
	return &sqlStore{db: db}
}

// InsertEvents writes events in one transaction, through prepared INSERTs of
// preparedRows rows and then of one row. It is idempotent by Event.ID: an event whose ID is
// already stored (or repeated within events) is skipped, and the stored row
// is kept as it was. Invalid events fail the whole call before anything is
// written.
func (s *sqlStore) InsertEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		if err := validate(&events[i]); err != nil {
			return fmt.Errorf("audit: insert event %d: %w", i, err)
		}
	}
	if err := s.prepare(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("audit: insert: prepare: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit: insert: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	chunk, one := tx.StmtContext(ctx, s.stmtChunk), tx.StmtContext(ctx, s.stmtOne)
	args := make([]any, 0, preparedRows*numColumns)
	for start := 0; start < len(events); {
		n, stmt := preparedRows, chunk
		if len(events)-start < preparedRows {
			n, stmt = 1, one
		}
		args = args[:0]
		for i := start; i < start+n; i++ {
			args = appendEventArgs(args, &events[i])
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("audit: insert %d events: %w", n, err)
		}
		start += n
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit: insert: commit: %w", err)
	}
	return nil
}

// insertSQL returns the INSERT statement for n rows.
func insertSQL(n int) string {
	row := "(" + strings.Repeat("?,", numColumns-1) + "?)"
	var b strings.Builder
	b.Grow(64 + len(columns) + n*(len(row)+1) + 32)
	b.WriteString("INSERT INTO audit_events (")
	b.WriteString(columns)
	b.WriteString(") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(" ON CONFLICT(id) DO NOTHING")
	return b.String()
}

// appendEventArgs appends e's column values in the order of columns.
func appendEventArgs(args []any, e *Event) []any {
	return append(args,
		e.ID, e.Time.UnixNano(), e.Kind, e.RequestID, e.AppID, e.KeyID, e.AgentID, e.Principal,
		e.GrantID, e.ProviderID, e.Method, e.Host, e.Path, e.Status, int64(e.UpstreamLatency),
		int64(e.TotalLatency), e.BytesIn, e.BytesOut, e.Decision, e.Rule, e.ErrorCode, e.Action,
		e.Actor, e.Reason, e.Context, e.ClientAddr, e.DecisionReason)
}

// validate reports why e cannot be stored, or nil.
func validate(e *Event) error {
	if e.ID == "" {
		return fmt.Errorf("%w: empty id", ErrInvalidEvent)
	}
	if _, ok := unixNanos(e.Time); !ok {
		return fmt.Errorf("%w: time out of range", ErrInvalidEvent)
	}
	return nil
}

// nanosRange returns the first and last instants representable as int64
// Unix nanoseconds.
func nanosRange() (lo, hi time.Time) {
	return time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
}

// unixNanos returns t as Unix nanoseconds and whether it fits in an int64
// (time.Time.UnixNano is undefined outside that range).
func unixNanos(t time.Time) (int64, bool) {
	if lo, hi := nanosRange(); t.Before(lo) || t.After(hi) {
		return 0, false
	}
	return t.UnixNano(), true
}

// clampNanos is unixNanos for query bounds: out-of-range times clamp to the
// nearest representable value, which selects the same rows.
func clampNanos(t time.Time) int64 {
	lo, hi := nanosRange()
	switch {
	case t.Before(lo):
		return math.MinInt64
	case t.After(hi):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// ListEvents returns the events matching q ordered by (Time, ID); see Query
// for the filter, cursor and limit rules.
func (s *sqlStore) ListEvents(ctx context.Context, q Query) ([]Event, error) {
	query, args, err := s.listSQL(ctx, q)
	if err != nil {
		return nil, err
	}
	return queryEvents(ctx, s.db, query, args)
}

// listSQL builds the SELECT for q. Resolving the cursor needs one lookup:
// events are immutable, so the cursor's (time, id) cannot change between that
// lookup and the listing.
func (s *sqlStore) listSQL(ctx context.Context, q Query) (string, []any, error) {
	limit, err := listLimit(q.Limit)
	if err != nil {
		return "", nil, err
	}
	var (
		where []string
		args  []any
	)
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("app_id", q.AppID)
	eq("agent_id", q.AgentID)
	eq("grant_id", q.GrantID)
	eq("principal", q.Principal)
	eq("provider_id", q.ProviderID)
	eq("decision", q.Decision)
	eq("kind", q.Kind)
	// One lower bound only, the tighter of Since and the cursor: given two,
	// SQLite ranges the index on Since and filters the cursor row by row, so
	// every page would rescan all the pages before it.
	since, hasSince := clampNanos(q.Since), !q.Since.IsZero()
	if q.AfterID != "" {
		t, err := s.cursorTime(ctx, q.AppID, q.AfterID)
		if err != nil {
			return "", nil, err
		}
		if !hasSince || t >= since {
			where = append(where, "(time_ns, id) > (?, ?)")
			args = append(args, t, q.AfterID)
			hasSince = false
		}
		// else: every row with time_ns >= since is after the cursor.
	}
	if hasSince {
		where = append(where, "time_ns >= ?")
		args = append(args, since)
	}
	if !q.Until.IsZero() {
		where = append(where, "time_ns < ?")
		args = append(args, clampNanos(q.Until))
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(columns)
	b.WriteString(" FROM audit_events")
	if idx := listIndex(q); idx != "" {
		b.WriteString(" INDEXED BY ")
		b.WriteString(idx)
	}
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY time_ns, id LIMIT ?")
	args = append(args, limit)
	return b.String(), args, nil
}

// listIndex names the index ListEvents reads for q: the most selective one
// whose leading columns q pins by equality, so the rows come out in
// (time_ns, id) order from a range scan. It is forced (INDEXED BY) because
// without ANALYZE statistics SQLite's planner prefers the (app_id, time_ns)
// index whenever a time range or cursor is present, turning a per-agent or
// per-grant listing into a scan of the app's whole history.
func listIndex(q Query) string {
	switch {
	case q.AppID == "":
		// Listings across apps are operator-only and rare: no index of
		// their own (one index less on every insert); SQLite scans and sorts.
		return ""
	case q.GrantID != "":
		return "audit_events_app_grant_time"
	case q.AgentID != "":
		return "audit_events_app_agent_time"
	case q.Principal != "":
		return "audit_events_app_principal_time"
	default:
		return "audit_events_app_time"
	}
}

// cursorTime returns the stored time of event id, scoped to appID when set,
// so another app's event id is indistinguishable from an unknown one.
func (s *sqlStore) cursorTime(ctx context.Context, appID, id string) (int64, error) {
	query := "SELECT time_ns FROM audit_events WHERE id = ?"
	args := []any{id}
	if appID != "" {
		query += " AND app_id = ?"
		args = append(args, appID)
	}
	var t int64
	err := s.db.QueryRowContext(ctx, query, args...).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("audit: list events: %w", ErrCursorNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("audit: list events: cursor: %w", err)
	}
	return t, nil
}

// scanEvent reads one row selected with columns.
func scanEvent(rows *sql.Rows) (Event, error) {
	var (
		e                  Event
		t, upstream, total int64
	)
	err := rows.Scan(&e.ID, &t, &e.Kind, &e.RequestID, &e.AppID, &e.KeyID, &e.AgentID,
		&e.Principal, &e.GrantID, &e.ProviderID, &e.Method, &e.Host, &e.Path, &e.Status,
		&upstream, &total, &e.BytesIn, &e.BytesOut, &e.Decision, &e.Rule, &e.ErrorCode,
		&e.Action, &e.Actor, &e.Reason, &e.Context, &e.ClientAddr, &e.DecisionReason)
	if err != nil {
		return Event{}, err
	}
	e.Time = time.Unix(0, t).UTC()
	e.UpstreamLatency = time.Duration(upstream)
	e.TotalLatency = time.Duration(total)
	return e, nil
}

// queryEvents runs a listing query and scans its rows; both stores use it.
func queryEvents(ctx context.Context, db *sql.DB, query string, args []any) ([]Event, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: list events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: list events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: list events: %w", err)
	}
	return out, nil
}

// listLimit applies the Query.Limit rules: 0 means DefaultLimit, larger
// than MaxLimit means MaxLimit, negative is an error.
func listLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, fmt.Errorf("audit: list events: negative limit %d", limit)
	case limit == 0:
		return DefaultLimit, nil
	case limit > MaxLimit:
		return MaxLimit, nil
	}
	return limit, nil
}
