package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// requestTimeout bounds the tail of a slice: a request still running this
// long after the slice ended is abandoned (and counted as an error).
const requestTimeout = 10 * time.Second

// maxWorkerErrors stops a worker that keeps failing within a slice, so a
// broken path ends quickly instead of spinning on errors.
const maxWorkerErrors = 20

// expectedRate sizes the per-worker latency slices (requests/s across all
// workers); a faster path just grows them, amortised.
const expectedRate = 40000

// dialFunc is http.Transport.DialContext.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// path is one way of reaching the upstream.
type path struct {
	name string
	// transport builds one worker's client transport around dial, the
	// worker's connection-counting dialer for the first hop.
	transport func(dial dialFunc) *http.Transport
}

// result is one path's measurement.
type result struct {
	Path     string        `json:"path"`
	Requests int           `json:"requests"` // measured (after warm-up)
	Sent     int           `json:"sent"`     // completed, warm-up included
	Window   time.Duration `json:"window_ns"`
	RPS      float64       `json:"rps"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	Errors   int           `json:"errors"`
	FirstErr string        `json:"first_error,omitempty"`
	Conns    int64         `json:"conns"` // client connections opened
}

// worker is one client: its own transport (one keep-alive connection, kept
// across slices) and what it measured so far. Only its goroutine writes it
// while a slice runs.
type worker struct {
	tr       *http.Transport
	client   *http.Client
	dials    atomic.Int64
	lat      []time.Duration
	sent     int
	errs     int
	firstErr error
	last     time.Time // completion of the last request of the current slice
}

// runner loads one path with conc workers, one slice at a time.
type runner struct {
	path    path
	workers []*worker
	window  time.Duration // sum of the measured windows of all slices
}

func newRunner(p path, conc int, dur time.Duration) *runner {
	r := &runner{path: p, workers: make([]*worker, conc)}
	capacity := int(dur.Seconds()*expectedRate)/conc + 1024
	for i := range r.workers {
		w := &worker{lat: make([]time.Duration, 0, capacity)}
		d := &net.Dialer{Timeout: requestTimeout}
		w.tr = p.transport(func(ctx context.Context, network, addr string) (net.Conn, error) {
			w.dials.Add(1)
			return d.DialContext(ctx, network, addr)
		})
		w.client = &http.Client{Transport: w.tr}
		r.workers[i] = w
	}
	return r
}

// slice runs every worker for warmup (unmeasured) then dur. Worker
// goroutines carry the pprof label role=client.
func (r *runner) slice(ctx context.Context, warmup, dur time.Duration) {
	runtime.GC() // start each slice from a comparable heap state
	warmEnd := time.Now().Add(warmup)
	end := warmEnd.Add(dur)
	ctx, cancel := context.WithDeadline(ctx, end.Add(requestTimeout))
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range r.workers {
		w.last = time.Time{}
		wg.Go(func() {
			pprof.Do(ctx, pprof.Labels("role", "client"), func(ctx context.Context) {
				w.work(ctx, warmEnd, end)
			})
		})
	}
	wg.Wait()
	last := warmEnd
	for _, w := range r.workers {
		if w.last.After(last) {
			last = w.last
		}
	}
	r.window += last.Sub(warmEnd)
}

// work sends sequential requests on the worker's connection until end.
// Latencies of requests started after warmEnd are appended to w.lat, sized
// up front so the loop takes no lock and rarely allocates.
func (w *worker) work(ctx context.Context, warmEnd, end time.Time) {
	for errs := 0; errs < maxWorkerErrors && ctx.Err() == nil; {
		t0 := time.Now()
		if !t0.Before(end) {
			return
		}
		err := once(ctx, w.client)
		t1 := time.Now()
		if err != nil {
			errs++
			w.errs++
			if w.firstErr == nil {
				w.firstErr = err
			}
			continue
		}
		w.sent++
		if !t0.Before(warmEnd) {
			w.lat = append(w.lat, t1.Sub(t0))
			w.last = t1
		}
	}
}

// probe sends one request on the first worker, counted like warm-up.
func (r *runner) probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	w := r.workers[0]
	if err := once(ctx, w.client); err != nil {
		w.errs++
		w.firstErr = err
		return
	}
	w.sent++
}

// close drops the workers' connections.
func (r *runner) close() {
	for _, w := range r.workers {
		w.tr.CloseIdleConnections()
	}
}

// result aggregates every slice.
func (r *runner) result() result {
	res := result{Path: r.path.name, Window: r.window}
	var all []time.Duration
	for _, w := range r.workers {
		all = append(all, w.lat...)
		res.Sent += w.sent
		res.Errors += w.errs
		if w.firstErr != nil && res.FirstErr == "" {
			res.FirstErr = w.firstErr.Error()
		}
		res.Conns += w.dials.Load()
	}
	slices.Sort(all)
	res.Requests = len(all)
	if r.window > 0 {
		res.RPS = float64(res.Requests) / r.window.Seconds()
	}
	res.P50, res.P99 = percentile(all, 0.50), percentile(all, 0.99)
	return res
}

// once sends one GET and checks the answer is the upstream's body.
func once(ctx context.Context, c *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, targetURL, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	switch {
	case err != nil:
		return fmt.Errorf("read body: %w", err)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d (Gatehouse-Error %q)", resp.StatusCode, resp.Header.Get("Gatehouse-Error"))
	case n != int64(len(responseBody)):
		return errors.New("body is not the upstream's")
	}
	return nil
}

// percentile is the nearest-rank percentile of sorted latencies (0 if none).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}
