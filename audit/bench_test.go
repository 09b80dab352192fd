package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

// discardStore accepts every batch and keeps nothing.
type discardStore struct{}

func (discardStore) InsertEvents(context.Context, []Event) error { return nil }
func (discardStore) ListEvents(context.Context, Query) ([]Event, error) {
	return nil, nil
}

// benchEvent is a call event of realistic size.
func benchEvent(i int) Event {
	return Event{
		ID: uuid.Must(uuid.NewV7()).String(), Time: t0.Add(time.Duration(i)), Kind: KindCall,
		RequestID: fmt.Sprintf("req-%08d", i), AppID: "app1", KeyID: "k1", AgentID: "agent1",
		Principal: "agent:mailer", GrantID: "0192f0c1-0000-7000-8000-000000000001",
		ProviderID: "openai", Method: "POST", Host: "api.openai.com",
		Path: "/v1/chat/completions?stream=REDACTED", Status: 200,
		UpstreamLatency: 120 * time.Millisecond, TotalLatency: 123 * time.Millisecond,
		BytesIn: 2048, BytesOut: 16384, Decision: DecisionAllow, ClientAddr: "127.0.0.1:50000",
	}
}

// BenchmarkSQLStoreInsert measures one default-size batch (256 events) per op.
func BenchmarkSQLStoreInsert(b *testing.B) {
	s := NewSQLStore(openDB(b))
	ctx := context.Background()
	n := 0
	for b.Loop() {
		batch := make([]Event, 256)
		for i := range batch {
			batch[i] = benchEvent(n)
			n++
		}
		if err := s.InsertEvents(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWriterRecord measures Record from parallel callers, the proxy's
// hot-path cost, with a store that never slows the writer down.
func BenchmarkWriterRecord(b *testing.B) {
	w := NewWriter(discardStore{}, WriterConfig{QueueSize: 1 << 16}, nil)
	e := benchEvent(0)
	e.ID, e.Time = "", time.Time{}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for w.Record(e) != nil { // queue momentarily full: the writer catches up
			}
		}
	})
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}
