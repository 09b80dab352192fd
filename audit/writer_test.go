package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// memStore is an in-memory Store that records every InsertEvents call and
// can fail, block or report calls on demand.
type memStore struct {
	mu       sync.Mutex
	events   map[string]Event
	batches  []int // size of every successful insert
	failures int   // attempts that failed
	failNext int   // fail this many more calls
	failAll  bool  // fail every call

	entered chan struct{} // if set, receives once per call before anything else
	release chan struct{} // if set, a call waits for it to close (or its ctx) first
	written chan int      // if set, receives the size of every successful insert
}

func newMemStore() *memStore { return &memStore{events: map[string]Event{}} }

var errStoreDown = errors.New("store down")

func (m *memStore) InsertEvents(ctx context.Context, events []Event) error {
	if m.entered != nil {
		m.entered <- struct{}{}
	}
	if m.release != nil {
		select {
		case <-m.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	if m.failAll || m.failNext > 0 {
		m.failNext--
		m.failures++
		m.mu.Unlock()
		return errStoreDown
	}
	for _, e := range events {
		if _, dup := m.events[e.ID]; !dup {
			m.events[e.ID] = e
		}
	}
	m.batches = append(m.batches, len(events))
	m.mu.Unlock()
	if m.written != nil {
		m.written <- len(events)
	}
	return nil
}

func (m *memStore) ListEvents(context.Context, Query) ([]Event, error) {
	return nil, errors.New("memStore: ListEvents not implemented")
}

// requestIDs returns the stored events' request ids, sorted.
func (m *memStore) requestIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.events {
		out = append(out, e.RequestID)
	}
	slices.Sort(out)
	return out
}

// fastRetry keeps backoffs short so retry tests finish quickly.
func fastRetry(cfg WriterConfig) WriterConfig {
	cfg.RetryMin, cfg.RetryMax = time.Millisecond, 4*time.Millisecond
	return cfg
}

// record records n events with request ids prefix-0000… and returns the ids.
func record(t *testing.T, w *Writer, prefix string, n int) []string {
	t.Helper()
	var want []string
	for i := range n {
		id := fmt.Sprintf("%s-%04d", prefix, i)
		if err := w.Record(Event{Kind: KindCall, RequestID: id}); err != nil {
			t.Fatalf("Record %s: %v", id, err)
		}
		want = append(want, id)
	}
	return want
}

func closeWriter(t *testing.T, w *Writer) {
	t.Helper()
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestWriterConcurrentSQLite(t *testing.T) {
	const goroutines, perGoroutine = 16, 625 // 10,000 events
	store := NewSQLStore(openDB(t))
	w := NewWriter(store, WriterConfig{QueueSize: goroutines * perGoroutine}, nil)

	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				if err := w.Record(Event{Kind: KindCall, AppID: "app1", RequestID: fmt.Sprintf("g%02d-%04d", g, i)}); err != nil {
					errs <- fmt.Errorf("goroutine %d event %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	closeWriter(t, w)

	var want []string
	for g := range goroutines {
		for i := range perGoroutine {
			want = append(want, fmt.Sprintf("g%02d-%04d", g, i))
		}
	}
	got := listAll(t, store, Query{AppID: "app1", Limit: MaxLimit})
	var gotReqs []string
	seen := map[string]bool{}
	for _, e := range got {
		gotReqs = append(gotReqs, e.RequestID)
		if seen[e.ID] {
			t.Errorf("event id %s listed twice", e.ID)
		}
		seen[e.ID] = true
		if u, err := uuid.Parse(e.ID); err != nil || u.Version() != 7 {
			t.Errorf("event id %q is not a UUIDv7 (err %v)", e.ID, err)
		}
	}
	slices.Sort(gotReqs)
	if diff := gocmp.Diff(want, gotReqs); diff != "" {
		t.Errorf("stored request ids (-want +got):\n%s", diff)
	}
	wantStats := Stats{Accepted: goroutines * perGoroutine, Written: goroutines * perGoroutine}
	if diff := gocmp.Diff(wantStats, w.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestWriterQueueFull(t *testing.T) {
	store := newMemStore()
	store.entered = make(chan struct{}, 16)
	store.release = make(chan struct{})
	w := NewWriter(store, WriterConfig{QueueSize: 4, BatchSize: 1}, nil)

	want := record(t, w, "first", 1)
	<-store.entered // the goroutine holds event 1 in a blocked insert; the queue is empty
	if w.Saturated() {
		t.Fatal("Saturated with an empty queue")
	}
	want = append(want, record(t, w, "queued", 3)...)
	if !w.Saturated() {
		t.Fatal("not Saturated with 3 of 4 slots used (reserve is 1)")
	}
	want = append(want, record(t, w, "queued", 1)...)

	for i := range 3 {
		if err := w.Record(Event{Kind: KindCall, RequestID: "refused"}); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("Record %d on a full queue = %v, want ErrQueueFull", i, err)
		}
	}
	if diff := gocmp.Diff(Stats{Queued: 5, Accepted: 5, Refused: 3}, w.Stats()); diff != "" {
		t.Errorf("Stats while full (-want +got):\n%s", diff)
	}

	close(store.release)
	closeWriter(t, w)
	slices.Sort(want)
	if diff := gocmp.Diff(want, store.requestIDs()); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(Stats{Accepted: 5, Written: 5, Refused: 3}, w.Stats()); diff != "" {
		t.Errorf("Stats after Close (-want +got):\n%s", diff)
	}
}

func TestWriterRetriesWithoutLoss(t *testing.T) {
	tests := []struct {
		name  string
		fails int
	}{
		{"no failure", 0},
		{"one failure", 1},
		{"three failures", 3},
		{"twenty failures", 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemStore()
			store.failNext = tc.fails
			w := NewWriter(store, fastRetry(WriterConfig{BatchSize: 16}), nil)
			want := record(t, w, "ev", 100)
			closeWriter(t, w)

			if diff := gocmp.Diff(want, store.requestIDs()); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
			wantStats := Stats{Accepted: 100, Written: 100, InsertErrors: uint64(tc.fails)}
			if diff := gocmp.Diff(wantStats, w.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriterFlushTriggers(t *testing.T) {
	tests := []struct {
		name   string
		cfg    WriterConfig
		events int
	}{
		// Only a full batch can trigger the insert: the interval is an hour.
		{"batch size", WriterConfig{BatchSize: 10, FlushInterval: time.Hour}, 10},
		// Only the interval can: the batch never fills.
		{"interval", WriterConfig{BatchSize: 1000, FlushInterval: time.Millisecond}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemStore()
			store.written = make(chan int, tc.events)
			w := NewWriter(store, tc.cfg, nil)
			want := record(t, w, "ev", tc.events)
			for n := 0; n < tc.events; n += <-store.written {
			}
			if diff := gocmp.Diff(want, store.requestIDs()); diff != "" {
				t.Errorf("stored before Close (-want +got):\n%s", diff)
			}
			closeWriter(t, w)
		})
	}
}

func TestWriterCloseDrains(t *testing.T) {
	store := newMemStore()
	store.entered = make(chan struct{}, 16)
	store.release = make(chan struct{})
	// The interval never fires, so only full batches are written before
	// Close, and the final partial batch can only be written by Close.
	w := NewWriter(store, WriterConfig{QueueSize: 1000, BatchSize: 400, FlushInterval: time.Hour}, nil)
	want := record(t, w, "ev", 1000)
	<-store.entered // first batch of 400 taken, its insert blocked
	if diff := gocmp.Diff(Stats{Queued: 1000, Accepted: 1000}, w.Stats()); diff != "" {
		t.Errorf("Stats before Close (-want +got):\n%s", diff)
	}
	close(store.release)
	closeWriter(t, w)
	if diff := gocmp.Diff(want, store.requestIDs()); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]int{400, 400, 200}, store.batches); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(Stats{Accepted: 1000, Written: 1000}, w.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestWriterRecordAfterClose(t *testing.T) {
	store := newMemStore()
	w := NewWriter(store, WriterConfig{}, nil)
	want := record(t, w, "ev", 3)
	closeWriter(t, w)
	for i := range 2 {
		if err := w.Record(Event{Kind: KindCall, RequestID: "late"}); !errors.Is(err, ErrClosed) {
			t.Errorf("Record %d after Close = %v, want ErrClosed", i, err)
		}
	}
	closeWriter(t, w) // a second Close is harmless
	if diff := gocmp.Diff(want, store.requestIDs()); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(Stats{Accepted: 3, Written: 3, Refused: 2}, w.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestWriterCloseDeadline(t *testing.T) {
	tests := []struct {
		name  string
		store func() *memStore
	}{
		{"store keeps failing", func() *memStore {
			s := newMemStore()
			s.failAll = true
			return s
		}},
		{"store hangs", func() *memStore {
			s := newMemStore()
			s.release = make(chan struct{}) // never closed
			return s
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.store()
			w := NewWriter(store, fastRetry(WriterConfig{BatchSize: 4}), nil)
			record(t, w, "ev", 10)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := w.Close(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Close with a cancelled context = %v, want context.Canceled", err)
			}
			// goleak (TestMain) checks the goroutine is gone.
			st := w.Stats()
			if diff := gocmp.Diff(Stats{Accepted: 10, Dropped: 10, InsertErrors: st.InsertErrors}, st); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			if err := w.Record(Event{Kind: KindCall}); !errors.Is(err, ErrClosed) {
				t.Errorf("Record after Close = %v, want ErrClosed", err)
			}
		})
	}
}

func TestWriterFillsIDAndTime(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	given := time.Date(2025, 1, 1, 0, 0, 0, 1, time.UTC)
	tests := []struct {
		name     string
		in       Event
		keepID   bool
		wantTime time.Time
	}{
		{"fills both", Event{RequestID: "a"}, false, now},
		{"keeps id", Event{RequestID: "b", ID: "caller-id"}, true, now},
		{"keeps time", Event{RequestID: "c", Time: given}, false, given},
		{"keeps both", Event{RequestID: "d", ID: "caller-id-2", Time: given}, true, given},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemStore()
			w := NewWriter(store, WriterConfig{Now: func() time.Time { return now }}, nil)
			if err := w.Record(tc.in); err != nil {
				t.Fatalf("Record: %v", err)
			}
			closeWriter(t, w)
			if len(store.events) != 1 {
				t.Fatalf("stored %d events, want 1", len(store.events))
			}
			for _, got := range store.events {
				if tc.keepID {
					if got.ID != tc.in.ID {
						t.Errorf("ID = %q, want caller's %q", got.ID, tc.in.ID)
					}
				} else if u, err := uuid.Parse(got.ID); err != nil || u.Version() != 7 {
					t.Errorf("ID = %q, want a UUIDv7 (err %v)", got.ID, err)
				}
				if !got.Time.Equal(tc.wantTime) {
					t.Errorf("Time = %v, want %v", got.Time, tc.wantTime)
				}
				if got.RequestID != tc.in.RequestID {
					t.Errorf("RequestID = %q, want %q", got.RequestID, tc.in.RequestID)
				}
			}
		})
	}
}

func TestWriterRejectsInvalidTime(t *testing.T) {
	store := newMemStore()
	w := NewWriter(store, WriterConfig{}, nil)
	err := w.Record(Event{Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)})
	if !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("Record(year 2300) = %v, want ErrInvalidEvent", err)
	}
	closeWriter(t, w)
	if diff := gocmp.Diff(Stats{}, w.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

// TestWriterFlush: Flush returns once everything recorded before it is in
// the store, without waiting for the batching interval.
func TestWriterFlush(t *testing.T) {
	store := newMemStore()
	// An hour-long interval: only Flush can make these events land.
	w := NewWriter(store, WriterConfig{FlushInterval: time.Hour, BatchSize: 1000}, nil)
	want := record(t, w, "flushed", 5)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if diff := gocmp.Diff(want, store.requestIDs()); diff != "" {
		t.Errorf("stored after Flush (-want +got):\n%s", diff)
	}
	closeWriter(t, w)
	if err := w.Flush(ctx); err != nil {
		t.Errorf("Flush after Close with nothing pending = %v", err)
	}
}
