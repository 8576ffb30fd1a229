package deliver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/tenants"
)

// BenchmarkFanOut measures deliveries per second on one node (SQLite or
// PostgreSQL, in-process NATS) to a local receiver: fanOutEndpoints
// endpoints each receive the same fanOutEvents events, replayed from
// the start at each iteration, signed, posted and recorded as in
// production.
//
//	go test -run '^$' -bench FanOut -benchtime 3x ./projections/webhooks/deliver/
func BenchmarkFanOut(b *testing.B) {
	for name, db := range backends() {
		b.Run(name, func(b *testing.B) { benchFanOut(b, db) })
	}
}

func benchFanOut(b *testing.B, db string) {
	const fanOutEndpoints, fanOutEvents = 10, 500
	w := startBench(b, db)
	var hits atomic.Int64
	// The receiver holds the first requests of an iteration until every
	// endpoint has been replayed, so that what is timed is delivering,
	// not the replay commands.
	var gate atomic.Pointer[chan struct{}]
	open := make(chan struct{})
	close(open)
	gate.Store(&open)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-*gate.Load()
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
	}))
	defer srv.Close()
	if _, err := w.Admin.Tenants.Create(b.Context(), tenants.Request{Actor: "bench"}, "acme", "Acme"); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, fanOutEndpoints)
	for i := range ids {
		ids[i] = benchEndpoint(b, w, "acme", srv.URL)
	}
	// Deliveries stopped while the events are written: each iteration
	// replays them all.
	for _, id := range ids {
		benchExecute(b, w, "acme", id, func(wh *webhook.Webhook) ([]domain.Event, error) { return wh.Deactivate("bench", false, time.Now()) })
	}
	benchClients(b, w, "acme", fanOutEvents)
	total := int64(fanOutEndpoints * fanOutEvents)
	for i := range ids {
		benchExecute(b, w, "acme", ids[i], func(wh *webhook.Webhook) ([]domain.Event, error) { return wh.Activate(time.Now()) })
	}
	waitHits(b, &hits, total)
	b.ResetTimer()
	var elapsed time.Duration
	for b.Loop() {
		closed := make(chan struct{})
		gate.Store(&closed)
		hits.Store(0)
		for _, id := range ids {
			benchExecute(b, w, "acme", id, func(wh *webhook.Webhook) ([]domain.Event, error) { return wh.Replay("", time.Now()) })
		}
		start := time.Now()
		close(closed)
		waitHits(b, &hits, total)
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(total)*float64(b.N)/elapsed.Seconds(), "deliveries/s")
}

// BenchmarkAppendToDelivered measures, on one node (SQLite or PostgreSQL,
// in-process NATS), how long an
// event takes from its append's return to its arrival at a local
// receiver, at 200 events per second for five seconds, with one
// endpoint; it reports the median and the 99th percentile.
//
//	go test -run '^$' -bench AppendToDelivered -benchtime 1x ./projections/webhooks/deliver/
func BenchmarkAppendToDelivered(b *testing.B) {
	for name, db := range backends() {
		b.Run(name, func(b *testing.B) { benchAppendToDelivered(b, db) })
	}
}

func benchAppendToDelivered(b *testing.B, db string) {
	const rate, seconds = 200, 5
	w := startBench(b, db)
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(r.Body)
		var ce struct {
			Pos string `json:"clavisposition"`
		}
		_ = json.Unmarshal(body, &ce)
		mu.Lock()
		arrived[ce.Pos] = at
		mu.Unlock()
	}))
	defer srv.Close()
	if _, err := w.Admin.Tenants.Create(b.Context(), tenants.Request{Actor: "bench"}, "acme", "Acme"); err != nil {
		b.Fatal(err)
	}
	benchEndpoint(b, w, "acme", srv.URL, "client.*")
	var lat []time.Duration
	for b.Loop() {
		committed := map[string]time.Time{}
		tick := time.NewTicker(time.Second / rate)
		for i := 0; i < rate*seconds; i++ {
			<-tick.C
			pos := benchClients(b, w, "acme", 1)
			committed[pos.String()] = time.Now()
		}
		tick.Stop()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := 0
			for p := range committed {
				if _, ok := arrived[p]; ok {
					n++
				}
			}
			mu.Unlock()
			if n == len(committed) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d events delivered", n, len(committed))
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		for p, c := range committed {
			lat = append(lat, arrived[p].Sub(c))
		}
		mu.Unlock()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func startBench(b *testing.B, db string) *world {
	b.Helper()
	return startOn(b, db, true, fastDelivery())
}

func benchEndpoint(b *testing.B, w *world, tenant, url string, types ...string) string {
	b.Helper()
	id, _ := w.endpoint(b, tenant, url, types...)
	return id
}

func benchExecute(b *testing.B, w *world, tenant, id string, decide func(*webhook.Webhook) ([]domain.Event, error)) {
	b.Helper()
	w.execute(b, tenant, id, decide)
}

func benchClients(b *testing.B, w *world, tenant string, n int) eventstore.Position {
	b.Helper()
	var pos eventstore.Position
	for range n {
		s := client.DefaultSettings(client.TypeM2M)
		s.ClientName, s.Code = "bench", "urn:bench/"+uuid.NewString()
		res, err := w.Admin.Clients.Register(b.Context(), tenants.Request{Actor: "bench"}, tenant, s)
		if err != nil {
			b.Fatal(err)
		}
		pos = res.Position
	}
	return pos
}

func waitHits(b *testing.B, hits *atomic.Int64, n int64) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for hits.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d deliveries", hits.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
