package webhookstest

import (
	"testing"
	"time"

	"github.com/clavisiam/clavis/projections/webhooks"
)

// BenchRecord measures what a deliverer's bookkeeping costs: one Record
// of one successful attempt, the cursor moving one event each time, on
// one of 10 endpoints in turn.
func BenchRecord(b *testing.B, newStore func(t testing.TB) webhooks.Store) {
	s := newStore(b)
	const endpoints = 10
	var cs []webhooks.Change
	for i := range endpoints {
		cs = append(cs, created("acme", endpointID(i), pos(i+1)))
	}
	apply(b, s, pos(endpoints), cs...)
	held, err := s.Acquire(b.Context(), "node-1", t0, t0.Add(time.Hour), endpoints)
	if err != nil || len(held) != endpoints {
		b.Fatalf("Acquire = %d, %v", len(held), err)
	}
	b.ResetTimer()
	n := 0
	for b.Loop() {
		e := held[n%endpoints]
		d := e.Delivery
		d.Cursor = pos(endpoints + n + 1)
		d.LastAttempt, d.LastStatus = t0, 204
		a := attempt("acme", e.State.ID, endpoints+n+1, t0, 204)
		if err := s.Record(b.Context(), "node-1", "acme", e.State.ID, t0, d, []webhooks.Attempt{a}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

func endpointID(i int) string { return "w" + string(rune('a'+i)) }
