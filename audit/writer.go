package audit

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// WriterConfig sizes the Writer. Zero or negative fields take their defaults.
type WriterConfig struct {
	QueueSize     int           // events buffered between Record and the store; default 16384
	BatchSize     int           // events per InsertEvents call; default 1024 (fewer commits)
	FlushInterval time.Duration // longest an accepted event waits for its batch to fill; default 200ms

	RetryMin      time.Duration // first backoff after a failed insert; default 100ms
	RetryMax      time.Duration // backoff cap (doubles from RetryMin); default 5s
	InsertTimeout time.Duration // bound on one InsertEvents call; default 10s

	Now func() time.Time // clock for Event.Time when the caller leaves it zero; default time.Now
}

// withDefaults returns c with every unset field filled.
func (c WriterConfig) withDefaults() WriterConfig {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.QueueSize <= 0 {
		// About a second of calls at the rates make bench reaches on two
		// cores (12-14k/s): a slow commit must not refuse calls. 4096 did
		// on a contended disk.
		c.QueueSize = 16384
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1024
	}
	def(&c.FlushInterval, 200*time.Millisecond)
	def(&c.RetryMin, 100*time.Millisecond)
	def(&c.RetryMax, 5*time.Second)
	def(&c.InsertTimeout, 10*time.Second)
	c.RetryMax = max(c.RetryMax, c.RetryMin)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Stats are the Writer's counters, for metrics. Counters only grow.
type Stats struct {
	Queued       uint64 // accepted but not yet written (gauge: Accepted - Written - Dropped)
	Accepted     uint64 // Record calls that queued an event
	Written      uint64 // events the store acknowledged
	Refused      uint64 // Record calls refused: ErrQueueFull or ErrClosed (each a refused proxy call)
	InsertErrors uint64 // failed InsertEvents attempts (each retried)
	Dropped      uint64 // events abandoned because Close's context ended first; must stay 0
}

// Writer records events asynchronously. Record puts the event on a bounded
// queue and returns at once; one goroutine takes events off the queue and
// writes them to the Store in batches, flushing when a batch is full or
// FlushInterval after its first event.
//
// A failed insert is retried with capped exponential backoff, the batch held
// in memory: while the Writer runs no batch is ever dropped. While the store
// stays down the queue fills and Record returns ErrQueueFull, which the proxy
// turns into audit_unavailable (fail closed). Close drains the queue.
//
// Durability limit: queued and in-flight events live only in memory until
// the store commits them, so a crash or kill loses them (at most QueueSize +
// BatchSize events). The fsynced local spool that closes this gap is a later
// issue.
type Writer struct {
	store Store
	cfg   WriterConfig
	log   *slog.Logger

	mu     sync.RWMutex // guards closed and the close of queue against sends
	closed bool
	queue  chan Event

	cancel context.CancelFunc // aborts retries and the in-flight insert; used by Close on timeout
	done   chan struct{}      // closed when run returns

	accepted, written, refused, insertErrors, dropped atomic.Uint64

	flushNow chan struct{} // Flush asks run to write its partial batch now
	pmu      sync.Mutex    // guards progress
	progress chan struct{} // closed and replaced whenever events are written or dropped
}

// NewWriter starts a Writer over store. log may be nil (discard). Close must
// be called to stop the writer's goroutine.
func NewWriter(store Store, cfg WriterConfig, log *slog.Logger) *Writer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		store:  store,
		cfg:    cfg,
		log:    log,
		queue:  make(chan Event, cfg.QueueSize),
		cancel: cancel,
		done:   make(chan struct{}),

		flushNow: make(chan struct{}, 1),
		progress: make(chan struct{}),
	}
	go w.run(ctx)
	return w
}

// Record queues e without blocking. It fills an empty ID with a UUIDv7 and a
// zero Time from the configured clock. It returns ErrQueueFull when the queue
// is full, ErrClosed after Close (both counted in Stats.Refused), and a wrapped
// ErrInvalidEvent for a Time no store can hold; in every error case the event
// was not recorded and the caller must refuse the call it describes.
func (w *Writer) Record(e Event) error {
	if e.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("audit: event id: %w", err)
		}
		e.ID = id.String()
	}
	if e.Time.IsZero() {
		e.Time = w.cfg.Now()
	}
	// Validate here, not in the store: a bad event reaching the writer's
	// batch would fail every retry and stall the whole audit pipeline.
	if err := validate(&e); err != nil {
		return fmt.Errorf("audit: record: %w", err)
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.refused.Add(1)
		return ErrClosed
	}
	select {
	case w.queue <- e:
		w.accepted.Add(1)
		return nil
	default:
		w.refused.Add(1)
		return ErrQueueFull
	}
}

// Saturated reports whether the queue is (nearly) full, so the proxy can
// refuse a new call with audit_unavailable before forwarding it instead of
// forwarding a call whose event could not be recorded. A reserve of 1/16 of
// the queue (at least one slot) is kept for the events of calls already in
// flight and of refusals.
func (w *Writer) Saturated() bool {
	reserve := max(cap(w.queue)/16, 1)
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.closed || len(w.queue) >= cap(w.queue)-reserve
}

// Flush waits until every event accepted before the call has been written
// (or dropped by Close), asking the writer to skip its batching delay. The
// admin API uses it so an audit listing right after a call shows that call.
func (w *Writer) Flush(ctx context.Context) error {
	target := w.accepted.Load()
	for {
		w.pmu.Lock()
		progress := w.progress
		w.pmu.Unlock()
		if w.written.Load()+w.dropped.Load() >= target {
			return nil
		}
		select {
		case w.flushNow <- struct{}{}:
		default:
		}
		select {
		case <-progress:
		case <-w.done:
			if w.written.Load()+w.dropped.Load() >= target {
				return nil
			}
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("audit: flush: %w", ctx.Err())
		}
	}
}

// broadcast wakes every Flush waiting for progress.
func (w *Writer) broadcast() {
	w.pmu.Lock()
	close(w.progress)
	w.progress = make(chan struct{})
	w.pmu.Unlock()
}

// Stats returns the current counters.
func (w *Writer) Stats() Stats {
	written, dropped := w.written.Load(), w.dropped.Load()
	accepted := w.accepted.Load()
	// Record counts an event accepted just after handing it over, so the
	// goroutine may write it first: clamp instead of underflowing.
	var queued uint64
	if done := written + dropped; accepted > done {
		queued = accepted - done
	}
	return Stats{
		Queued:       queued,
		Accepted:     accepted,
		Written:      written,
		Refused:      w.refused.Load(),
		InsertErrors: w.insertErrors.Load(),
		Dropped:      dropped,
	}
}

// Close stops intake (Record returns ErrClosed from now on), then waits until
// every queued event is written and the writer's goroutine has exited. If ctx
// ends first, Close aborts the pending retries, waits for the goroutine, and
// returns an error wrapping ctx.Err() that counts the events not written
// (also in Stats.Dropped). Close may be called more than once.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()

	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
	}
	before := w.dropped.Load()
	w.cancel()
	<-w.done
	if lost := w.dropped.Load() - before; lost > 0 {
		return fmt.Errorf("audit: close: %d events not written: %w", lost, ctx.Err())
	}
	return nil
}

// run is the writer's goroutine: it batches queued events and writes them
// until the queue is closed and empty, or ctx is cancelled by Close.
func (w *Writer) run(ctx context.Context) {
	defer close(w.done)
	defer w.cancel() // release the context's resources

	batch := make([]Event, 0, w.cfg.BatchSize)
	timer := time.NewTimer(w.cfg.FlushInterval)
	timer.Stop()
	defer timer.Stop()

	// flush writes batch; false means Close gave up and the goroutine must
	// account for what is left and exit.
	flush := func() bool {
		timer.Stop()
		ok := w.insert(ctx, batch)
		batch = batch[:0]
		return ok
	}
	for {
		select {
		case e, open := <-w.queue:
			if !open {
				if len(batch) > 0 {
					flush()
				}
				return
			}
			if len(batch) == 0 {
				timer.Reset(w.cfg.FlushInterval)
			}
			batch = append(batch, e)
			if len(batch) >= w.cfg.BatchSize && !flush() {
				w.abandonQueue()
				return
			}
		case <-timer.C:
			if len(batch) > 0 && !flush() {
				w.abandonQueue()
				return
			}
		case <-w.flushNow:
			// Take what is already queued too, so one Flush needs one write.
		drain:
			for len(batch) < w.cfg.BatchSize {
				select {
				case e, open := <-w.queue:
					if !open {
						break drain
					}
					batch = append(batch, e)
				default:
					break drain
				}
			}
			if len(batch) > 0 && !flush() {
				w.abandonQueue()
				return
			}
		}
	}
}

// insert writes batch, retrying with backoff until it succeeds (true) or ctx
// is cancelled (false; the batch is then counted as dropped).
func (w *Writer) insert(ctx context.Context, batch []Event) bool {
	backoff := w.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		err := w.insertOnce(ctx, batch)
		if err == nil {
			w.written.Add(uint64(len(batch)))
			w.broadcast()
			if attempt > 1 {
				w.log.Info("audit insert recovered", "events", len(batch), "attempts", attempt)
			}
			return true
		}
		w.insertErrors.Add(1)
		if ctx.Err() != nil {
			w.drop(len(batch))
			return false
		}
		// Full jitter keeps replicas sharing one database from retrying in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		w.log.Warn("audit insert failed; retrying with the batch held in memory",
			"events", len(batch), "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			w.drop(len(batch))
			return false
		}
		backoff = min(backoff*2, w.cfg.RetryMax)
	}
}

// insertOnce is one InsertEvents call bounded by InsertTimeout.
func (w *Writer) insertOnce(ctx context.Context, batch []Event) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.InsertTimeout)
	defer cancel()
	return w.store.InsertEvents(ctx, batch)
}

// abandonQueue counts everything still queued as dropped. Only reached after
// Close cancelled the run, so the queue is already closed and range ends.
func (w *Writer) abandonQueue() {
	n := 0
	for range w.queue {
		n++
	}
	w.drop(n)
}

// drop counts n events lost and says so loudly.
func (w *Writer) drop(n int) {
	if n == 0 {
		return
	}
	w.dropped.Add(uint64(n))
	w.broadcast()
	w.log.Error("audit events dropped: writer closed before they could be written", "events", n)
}
