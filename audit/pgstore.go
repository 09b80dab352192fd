package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// pgStore is the PostgreSQL Store over the audit_events table, which the
// vault's PostgreSQL migrations create
// (vault/migrations/postgres/00002_audit_events.sql). It has the SQLite
// store's semantics; the SQL differs only in placeholders and in leaving
// the index choice to PostgreSQL's planner, which keeps statistics.
type pgStore struct {
	db *sql.DB
}

// NewPostgresStore returns a Store over db, a database/sql handle on the
// pgx driver (vault.Postgres.DB()) whose search_path holds audit_events. It
// does not create the table.
//
// PostgreSQL text cannot hold NUL bytes or invalid UTF-8, which SQLite
// stores as given; such bytes in an event's strings (a client-sent reason
// or context header) are stored as U+FFFD rather than failing the batch and
// with it every other event. Filter values are mapped the same way.
func NewPostgresStore(db *sql.DB) Store {
	return &pgStore{db: db}
}

// InsertEvents writes events in one transaction, as multi-row INSERTs of at
// most rowsPerInsert rows (13,000 parameters, within PostgreSQL's 65,535).
// It is idempotent by Event.ID: an event whose ID is already stored (or
// repeated within events) is skipped, and the stored row is kept as it was.
// Invalid events fail the whole call before anything is written.
func (s *pgStore) InsertEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	for i := range events {
		if err := validate(&events[i]); err != nil {
			return fmt.Errorf("audit: insert event %d: %w", i, err)
		}
	}
	// Rows go in id order (stable, so the first of two duplicates still
	// wins): concurrent batches that overlap, such as a replay racing the
	// original, then take their unique-index locks in the same order and
	// cannot deadlock.
	rows := make([]Event, len(events))
	for i := range events {
		rows[i] = pgEvent(events[i])
	}
	slices.SortStableFunc(rows, func(a, b Event) int { return strings.Compare(a.ID, b.ID) })
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit: insert: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	args := make([]any, 0, min(len(rows), rowsPerInsert)*numColumns)
	for start := 0; start < len(rows); start += rowsPerInsert {
		chunk := rows[start:min(start+rowsPerInsert, len(rows))]
		args = args[:0]
		for i := range chunk {
			args = appendEventArgs(args, &chunk[i])
		}
		if _, err := tx.ExecContext(ctx, pgInsertSQL(len(chunk)), args...); err != nil {
			return fmt.Errorf("audit: insert %d events: %w", len(chunk), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit: insert: commit: %w", err)
	}
	return nil
}

// pgInsertSQL returns the INSERT statement for n rows with numbered
// placeholders.
func pgInsertSQL(n int) string {
	var b strings.Builder
	b.Grow(64 + len(columns) + n*numColumns*7 + 32)
	b.WriteString("INSERT INTO audit_events (")
	b.WriteString(columns)
	b.WriteString(") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range numColumns {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(i*numColumns + j + 1))
		}
		b.WriteByte(')')
	}
	b.WriteString(" ON CONFLICT (id) DO NOTHING")
	return b.String()
}

// pgEvent returns e with every string made storable as PostgreSQL text.
func pgEvent(e Event) Event {
	for _, f := range []*string{
		&e.ID, &e.Kind, &e.RequestID, &e.AppID, &e.KeyID, &e.AgentID, &e.Principal, &e.GrantID,
		&e.ProviderID, &e.Method, &e.Host, &e.Path, &e.Decision, &e.Rule, &e.ErrorCode, &e.Action,
		&e.Actor, &e.Reason, &e.Context, &e.ClientAddr, &e.DecisionReason,
	} {
		*f = pgText(*f)
	}
	return e
}

// pgText replaces NUL bytes and invalid UTF-8 with U+FFFD.
func pgText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

// ListEvents returns the events matching q ordered by (Time, ID); see Query
// for the filter, cursor and limit rules.
func (s *pgStore) ListEvents(ctx context.Context, q Query) ([]Event, error) {
	query, args, err := s.listSQL(ctx, q)
	if err != nil {
		return nil, err
	}
	return queryEvents(ctx, s.db, query, args)
}

// listSQL builds the SELECT for q, as the SQLite store's listSQL does.
func (s *pgStore) listSQL(ctx context.Context, q Query) (string, []any, error) {
	limit, err := listLimit(q.Limit)
	if err != nil {
		return "", nil, err
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	for _, f := range []struct{ col, v string }{
		{"app_id", q.AppID}, {"agent_id", q.AgentID}, {"grant_id", q.GrantID},
		{"principal", q.Principal}, {"provider_id", q.ProviderID}, {"decision", q.Decision},
		{"kind", q.Kind},
	} {
		if f.v != "" {
			where = append(where, f.col+" = "+arg(pgText(f.v)))
		}
	}
	// One lower bound only, the tighter of Since and the cursor, so the
	// index range starts at the right place whichever the planner uses.
	since, hasSince := clampNanos(q.Since), !q.Since.IsZero()
	if q.AfterID != "" {
		t, err := s.cursorTime(ctx, pgText(q.AppID), pgText(q.AfterID))
		if err != nil {
			return "", nil, err
		}
		if !hasSince || t >= since {
			where = append(where, "(time_ns, id) > ("+arg(t)+", "+arg(pgText(q.AfterID))+")")
			hasSince = false
		}
		// else: every row with time_ns >= since is after the cursor.
	}
	if hasSince {
		where = append(where, "time_ns >= "+arg(since))
	}
	if !q.Until.IsZero() {
		where = append(where, "time_ns < "+arg(clampNanos(q.Until)))
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(columns)
	b.WriteString(" FROM audit_events")
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY time_ns, id LIMIT ")
	b.WriteString(arg(limit))
	return b.String(), args, nil
}

// cursorTime returns the stored time of event id, scoped to appID when set,
// so another app's event id is indistinguishable from an unknown one.
func (s *pgStore) cursorTime(ctx context.Context, appID, id string) (int64, error) {
	query := "SELECT time_ns FROM audit_events WHERE id = $1"
	args := []any{id}
	if appID != "" {
		query += " AND app_id = $2"
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
