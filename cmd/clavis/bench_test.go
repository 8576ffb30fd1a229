package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/message"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/internal/node"
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
		names, _ := subject.NewNames(prefix)
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
func benchNode(b *testing.B, dbURL, natsURL, prefix string) (*node.Node, string) {
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
	a, err := node.New(context.Background(), cfg.Config, log)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
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
	if _, err := a.Admin.Tenants.Create(ctx, req, "prop", "Propagation"); err != nil {
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
	names, _ := subject.NewNames(prefix)
	if _, err := nc.Subscribe(names.InternalFilter(), func(m *nats.Msg) {
		at := time.Now()
		if pos, err := message.PositionOf(m.Header); err == nil {
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
		res, err := a.Admin.Clients.Register(ctx, req, "prop", s)
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
		if err := nodeB.Projector.WaitFor(wctx, res.Position); err != nil {
			b.Errorf("client %s not visible at node B after 10s: %v", res.Client.ClientID, err)
			return
		}
		visible := time.Since(committed)
		if _, err := nodeB.Admin.ReadModel.Client(ctx, "prop", res.Client.ClientID); err != nil {
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
	token := a.RootToken
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

// BenchmarkServerMemory reports the memory of a `clavis serve` process
// (the embedded default) holding 100,000 clients across 1,000 tenants,
// after every client got a token (so the token path's cache holds them
// all): its RSS, read from /proc. The data is written first through the
// command services of a node in this process, which publishes every
// event to the streams before it stops; then the binary serves it. b.N
// is ignored: run it with -benchtime 1x.
func BenchmarkServerMemory(b *testing.B) {
	const tenantCount, clientsPerTenant = 1000, 99 // and each tenant's admin client: 100,000
	dataDir := b.TempDir()
	cfg := defaultConfig()
	cfg.DataDir, cfg.NATSListen, cfg.PublicURL = dataDir, "off", "http://127.0.0.1"
	cfg.RootToken, cfg.MasterKey = e2eToken, e2eMasterKey
	log := slog.New(slog.DiscardHandler)
	a, err := node.New(context.Background(), cfg.Config, log)
	if err != nil {
		b.Fatal(err)
	}
	// The writing node runs (its relay publishing as it goes), so that
	// the node measured starts on streams that hold every event, as a
	// restarted node does, rather than publishing them all first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx, ln) }()
	type cred struct{ tenant, id, secret string }
	creds := make(chan cred, 1024)
	var all []cred
	collected := make(chan struct{})
	go func() {
		for c := range creds {
			all = append(all, c)
		}
		close(collected)
	}()
	ctx := context.Background()
	req := tenants.Request{Actor: "bench"}
	start := time.Now()
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				slug := fmt.Sprintf("mem%04d", i)
				t, err := a.Admin.Tenants.Create(ctx, req, slug, "Tenant "+slug)
				if err != nil {
					b.Error(err)
					return
				}
				creds <- cred{slug, t.AdminClient.ClientID, t.AdminSecret.Value}
				for j := range clientsPerTenant {
					s := client.DefaultSettings(client.TypeM2M)
					s.ClientName, s.Code = fmt.Sprintf("C%d", j), fmt.Sprintf("urn:%s/c%d", slug, j)
					res, err := a.Admin.Clients.Register(ctx, req, slug, s)
					if err != nil {
						b.Error(err)
						return
					}
					creds <- cred{slug, res.Client.ClientID, res.Secret.Value}
				}
			}
		})
	}
	for i := range tenantCount {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(creds)
	<-collected
	head, err := a.Store.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	waiting := time.Now()
	for st := a.Relay.Status(); st.Internal.Less(head) || st.Public.Less(head); st = a.Relay.Status() {
		if time.Since(waiting) > 5*time.Minute {
			stop()
			b.Fatalf("the relay published up to %s and %s of %s", st.Internal, st.Public, head)
		}
		select {
		case err := <-ran:
			b.Fatalf("the writing node stopped before publishing everything: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	stop()
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
	b.Logf("wrote and published %d clients in %s", len(all), time.Since(start).Round(time.Second))

	n := startServe(b, "memory", "CLAVIS_DATA_DIR="+dataDir, "CLAVIS_DATABASE_URL=")
	// rss reads the server's resident set in MiB.
	rss := func() float64 {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
				return float64(kb) / 1024
			}
		}
		b.Fatal("no VmRSS")
		return 0
	}
	b.ReportMetric(rss(), "RSS-started-MiB") // the data on disk, nothing cached yet
	var failed atomic.Int64
	var next atomic.Int64
	start = time.Now()
	var tw sync.WaitGroup
	for range 32 {
		tw.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(all) {
					return
				}
				c := all[i]
				r, err := http.NewRequest(http.MethodPost, "http://"+n.addr+"/t/"+c.tenant+"/oauth2/token",
					bytes.NewBufferString("grant_type=client_credentials"))
				if err != nil {
					b.Error(err)
					return
				}
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.SetBasicAuth(c.id, c.secret)
				res, err := http.DefaultClient.Do(r)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	tw.Wait()
	if failed.Load() > 0 {
		b.Fatalf("%d of %d token requests failed", failed.Load(), len(all))
	}
	b.Logf("one token for each of %d clients in %s", len(all), time.Since(start).Round(time.Second))
	b.ReportMetric(rss(), "RSS-MiB")
	b.ReportMetric(float64(len(all)), "clients")
}
