package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/eventstore/relay"
	"github.com/clavisiam/clavis/tenants"
)

// benchNATS is the NATS server the benchmarks share with the machine:
// CLAVIS_TEST_NATS_URL or the local one; each benchmark uses its own
// prefix and deletes its streams afterwards.
func benchNATS(b *testing.B) (url, prefix string) {
	b.Helper()
	url = "nats://127.0.0.1:4222"
	prefix = fmt.Sprintf("bench%d", time.Now().UnixNano()%1e9)
	nc, err := nats.Connect(url, nats.Timeout(3*time.Second))
	if err != nil {
		b.Fatalf("NATS at %s: %v", url, err)
	}
	b.Cleanup(func() {
		defer nc.Close()
		js, _ := jetstream.New(nc)
		names, _ := relay.NewNames(prefix)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, names.InternalStream())
		_ = js.DeleteStream(ctx, names.PublicStream())
		_ = js.DeleteKeyValue(ctx, names.LeaseBucket())
	})
	return url, prefix
}

// benchNode runs a node as serve does, on PostgreSQL schema dbURL and the
// NATS server at natsURL.
func benchNode(b *testing.B, dbURL, natsURL, prefix string) (*app, string) {
	b.Helper()
	cfg := defaultConfig()
	cfg.Addr, cfg.PublicURL = "127.0.0.1:0", "http://127.0.0.1:0"
	cfg.DataDir = b.TempDir()
	cfg.DatabaseURL, cfg.NATSURL, cfg.NATSPrefix = dbURL, natsURL, prefix
	cfg.RootToken = "bench-root-token-0123456789abcdefghijkl"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		b.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, ln) }()
	b.Cleanup(func() { cancel(); <-done })
	return a, "http://" + ln.Addr().String()
}

func benchDB(b *testing.B) string {
	b.Helper()
	u, drop, err := pgtest.CreateDatabase(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(drop)
	return u
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// BenchmarkPropagation appends client registrations at 200 commands/s
// through node A's command service (which, unlike its HTTP API, does not
// wait for the read model) and measures how long each takes to be
// readable through node B's read model: append, relay to NATS, feed,
// projection, until node B knows its read model has it. Both nodes run on
// one PostgreSQL and one NATS server, after two seconds of warm-up at the
// same rate. relay-p50/p99 are the relay's share: from the append's
// return to the event's arrival at a subscriber of the internal stream.
func BenchmarkPropagation(b *testing.B) {
	db := benchDB(b)
	natsURL, prefix := benchNATS(b)
	a, _ := benchNode(b, db, natsURL, prefix)
	nodeB, _ := benchNode(b, db, natsURL, prefix)
	ctx := context.Background()
	req := tenants.Request{Actor: "bench"}
	if _, err := a.admin.Tenants.Create(ctx, req, "prop", "Propagation"); err != nil {
		b.Fatal(err)
	}
	// Each event's arrival on the internal stream, to tell the relay's
	// share of the latency from the feed's and the projection's.
	onNATS := map[eventstore.Position]time.Time{}
	var natsMu sync.Mutex
	nc, err := nats.Connect(natsURL)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	names, _ := relay.NewNames(prefix)
	if _, err := nc.Subscribe(names.InternalFilter(), func(m *nats.Msg) {
		at := time.Now()
		if pos, err := relay.PositionOf(m.Header); err == nil {
			natsMu.Lock()
			onNATS[pos] = at
			natsMu.Unlock()
		}
	}); err != nil {
		b.Fatal(err)
	}
	const rate = 200 // commands per second
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	var mu sync.Mutex
	var lat, relayed []time.Duration
	var wg sync.WaitGroup
	var start time.Time
	// send registers client i and, when record is set, notes how long it
	// took to be readable at node B.
	send := func(i int, record bool) {
		s := client.DefaultSettings(client.TypeM2M)
		s.ClientName, s.Code = fmt.Sprintf("C%d", i), fmt.Sprintf("urn:prop/c%d", i)
		res, err := a.admin.Clients.Register(ctx, req, "prop", s)
		if err != nil {
			b.Error(err)
			return
		}
		committed := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		// Node B's projector says when its read model has passed the
		// event; one read then proves the client is there. (Polling the
		// read model per pending client instead loaded this 2-core
		// machine enough to slow what it measured.)
		if err := nodeB.projector.WaitFor(wctx, res.Position); err != nil {
			b.Errorf("client %s not visible at node B after 10s: %v", res.Client.ClientID, err)
			return
		}
		visible := time.Since(committed)
		if _, err := nodeB.admin.ReadModel.Client(ctx, "prop", res.Client.ClientID); err != nil {
			b.Errorf("node B passed position %s but does not show client %s: %v", res.Position, res.Client.ClientID, err)
			return
		}
		if !record {
			return
		}
		natsMu.Lock()
		at, ok := onNATS[res.Position]
		natsMu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		lat = append(lat, visible)
		if ok {
			relayed = append(relayed, max(at.Sub(committed), 0))
		}
	}
	// Warm up for two seconds at the same rate: the nodes have just
	// started (lease, consumers, connection pools, plans); the figure is
	// the steady state's.
	for i := range 2 * rate {
		<-tick.C
		wg.Go(func() { send(-1-i, false) })
	}
	wg.Wait()
	b.ResetTimer()
	start = time.Now()
	for i := range b.N {
		<-tick.C // open loop: a command every 5 ms, however long each takes
		wg.Go(func() { send(i, true) })
	}
	sent := time.Since(start)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/sent.Seconds(), "commands/s")
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	slices.Sort(relayed)
	b.ReportMetric(float64(percentile(relayed, 0.5).Microseconds())/1000, "relay-p50-ms")
	b.ReportMetric(float64(percentile(relayed, 0.99).Microseconds())/1000, "relay-p99-ms")
}

// BenchmarkAdminCreate creates clients over HTTP from 16 concurrent
// callers against one node on PostgreSQL + NATS and reports creations/s
// (each answer waits for the read model: read-your-writes).
func BenchmarkAdminCreate(b *testing.B) {
	db := benchDB(b)
	natsURL, prefix := benchNATS(b)
	a, url := benchNode(b, db, natsURL, prefix)
	token := a.rootToken
	post := func(path, body string) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, url+path, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode, nil
	}
	if code, err := post("/admin/tenants", `{"slug":"bench","name":"Bench"}`); err != nil || code != http.StatusCreated {
		b.Fatalf("create tenant: %d %v", code, err)
	}
	var n atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			i := n.Add(1)
			t0 := time.Now()
			code, err := post("/t/bench/admin/clients", fmt.Sprintf(`{"client_name":"C%d","code":"urn:bench/c%d","type":"m2m","grant_types":["client_credentials"]}`, i, i))
			if err != nil || code != http.StatusCreated {
				b.Errorf("create client: %d %v", code, err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "creations/s")
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
}
