package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/tenants"
)

// eventsBenchNode runs a node as serve does, logging nothing, on
// backend (SQLite, or a schema of the package's PostgreSQL database)
// with its embedded NATS server.
func eventsBenchNode(b *testing.B, backend string, opts ...node.Option) (*node.Node, string) {
	b.Helper()
	db := ""
	if backend == node.Postgres {
		db = dbURL
	}
	cfg := testnode.Config(b, db)
	cfg.RootToken = "bench-root-token-0123456789abcdefghijkl"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	n, err := node.New(context.Background(), cfg, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, ln) }()
	b.Cleanup(func() { cancel(); <-done })
	return n, "http://" + ln.Addr().String()
}

// benchCall sends a request with the root token and decodes a 2xx answer.
func benchCall(b *testing.B, base, method, path string, body any, out any) {
	b.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer bench-root-token-0123456789abcdefghijkl")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		b.Fatalf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			b.Fatal(err)
		}
	}
}

// seedEvents gives tenant slug n events: it makes one client and one
// change through the API, then appends copies of their events, as other
// clients, straight to the store, a thousand to a stream.
func seedEvents(b *testing.B, nd *node.Node, base, slug string, n int) {
	b.Helper()
	ctx := context.Background()
	var c map[string]any
	benchCall(b, base, "POST", "/t/"+slug+"/admin/clients", newClientBody("urn:seed/template"), &c)
	id := c["client_id"].(string)
	benchCall(b, base, "PATCH", "/t/"+slug+"/admin/clients/"+id, map[string]string{"client_name": "Renamed"}, nil)
	tmpl, err := nd.Store.ReadStream(ctx, tenants.ClientStream(slug, id), 0)
	if err != nil || len(tmpl) != 2 || tmpl[0].Type != client.EventTypeRegistered || tmpl[1].Type != client.EventTypeUpdated {
		b.Fatalf("template events %v %v", tmpl, err)
	}
	const perStream = 1000
	for done := 0; done < n; {
		k := min(perStream, n-done)
		newID := uuid.NewString()
		swap := func(data []byte) []byte {
			data = bytes.ReplaceAll(data, []byte(id), []byte(newID))
			return bytes.ReplaceAll(data, []byte("urn:seed/template"), []byte("urn:seed/"+newID))
		}
		events := make([]eventstore.Event, k)
		for i := range events {
			t := tmpl[1]
			if i == 0 {
				t = tmpl[0]
			}
			events[i] = eventstore.Event{ID: uuid.NewString(), Type: t.Type, Schema: t.Schema, Data: swap(t.Data), Meta: t.Meta}
		}
		if _, err := nd.Store.Append(ctx, tenants.ClientStream(slug, newID), eventstore.NoStream, events); err != nil {
			b.Fatal(err)
		}
		done += k
	}
	// Let the node's pipeline (relay, projector, audit log) take them in
	// before measuring: the read model, both NATS streams and the audit
	// log reach the store's head.
	head, err := nd.Store.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	all, err := nd.Store.ReadTenant(ctx, slug, eventstore.Position{}, eventstore.MaxRead)
	if err != nil {
		b.Fatal(err)
	}
	want := int64(len(all))
	for p := all[len(all)-1].Position; len(all) == eventstore.MaxRead; {
		if all, err = nd.Store.ReadTenant(ctx, slug, p, eventstore.MaxRead); err != nil {
			b.Fatal(err)
		}
		want += int64(len(all))
		if len(all) > 0 {
			p = all[len(all)-1].Position
		}
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		st, err := nd.Projector.Status(ctx)
		rs := nd.Relay.Status()
		size, _ := nd.Audit.Size(ctx, slug)
		if err == nil && st.CaughtUp && !rs.Public.Less(head) && !rs.Internal.Less(head) && size >= want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the pipeline did not catch up: read model %+v %v, relay %+v, audit log %d of %d", st, err, rs, size, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// BenchmarkEventsPaging pages one client through a tenant of 100,000
// events, a thousand a page, over HTTP, and reports the events read per
// second and the bytes per event. Each iteration reads the whole feed.
// With decode=json the client decodes every page (encoding/json, each
// event to a json.RawMessage), as a Go consumer would; with decode=none
// it takes each page's bytes, counts its events and finds its next
// cursor without parsing it, which shows what the node serves when the
// client is not the bottleneck (both share the machine's processors).
func BenchmarkEventsPaging(b *testing.B) {
	const total = 100_000
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			n, base := eventsBenchNode(b, backend)
			slug := uniqueSlug("page")
			benchCall(b, base, "POST", "/admin/tenants", map[string]string{"slug": slug, "name": "Paging"}, nil)
			seedEvents(b, n, base, slug, total)
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			for _, decode := range []string{"json", "none"} {
				b.Run("decode="+decode, func(b *testing.B) {
					read, size := 0, 0
					page := func(after string) (int, string) {
						req, _ := http.NewRequest("GET", base+"/t/"+slug+"/events?limit=1000&after="+after, nil)
						if after == "" {
							req.URL.RawQuery = "limit=1000"
						}
						req.Header.Set("Authorization", "Bearer bench-root-token-0123456789abcdefghijkl")
						res, err := hc.Do(req)
						if err != nil {
							b.Fatal(err)
						}
						body, err := io.ReadAll(res.Body)
						res.Body.Close()
						if err != nil || res.StatusCode != 200 {
							b.Fatalf("page: %d %v", res.StatusCode, err)
						}
						size += len(body)
						if decode == "json" {
							var p struct {
								Events []json.RawMessage `json:"events"`
								Next   string            `json:"next"`
							}
							if err := json.Unmarshal(body, &p); err != nil {
								b.Fatal(err)
							}
							return len(p.Events), p.Next
						}
						// The page ends with "next":"<cursor>"}.
						k := bytes.LastIndex(body, []byte(`"next":"`))
						if k < 0 {
							b.Fatalf("no next in %.200s", body)
						}
						next := string(body[k+8 : len(body)-2])
						return bytes.Count(body, []byte(`{"specversion":`)), next
					}
					b.ResetTimer()
					start := time.Now()
					for b.Loop() {
						after := ""
						for {
							got, next := page(after)
							read += got
							if got == 0 {
								break
							}
							after = next
						}
					}
					elapsed := time.Since(start)
					if read < total*b.N {
						b.Fatalf("read %d events, want %d", read, total*b.N)
					}
					b.ReportMetric(float64(read)/elapsed.Seconds(), "events/s")
					b.ReportMetric(float64(size)/float64(read), "bytes/event")
				})
			}
		})
	}
}

// BenchmarkEventsStreamLatency holds 100 streams of one tenant open and
// appends client changes through the node's command service at 200 a
// second (each iteration one change, each append on its own goroutine);
// it reports how long after each append committed (its call returned)
// every stream received the event: p50, p99 and max over all streams and
// events, in milliseconds; p99-from-call counts from the call instead,
// the command's own time included; appends/s is the rate achieved.
func BenchmarkEventsStreamLatency(b *testing.B) {
	const (
		streams = 100
		rate    = 200
		clients = 400
	)
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			n, base := eventsBenchNode(b, backend, node.WithEvents(func(e *httpapi.Events) { e.MaxReadersPerTenant = 2 * streams }))
			slug := uniqueSlug("sse")
			benchCall(b, base, "POST", "/admin/tenants", map[string]string{"slug": slug, "name": "SSE"}, nil)
			ctx := context.Background()
			req := tenants.Request{Actor: "bench"}
			ids := make([]string, clients)
			for i := range ids {
				s := client.Settings{ClientName: fmt.Sprintf("Bench %d", i), Code: fmt.Sprintf("urn:sse/%d", i), Type: client.TypeM2M,
					GrantTypes: []string{"client_credentials"}}
				res, err := n.Admin.Clients.Register(ctx, req, slug, s)
				if err != nil {
					b.Fatal(err)
				}
				ids[i] = res.Client.ClientID
			}

			// Every stream records when each event's id arrived.
			type arrival struct {
				id string
				at time.Time
			}
			type record struct {
				mu   sync.Mutex
				list []arrival
			}
			arrivals := make([]record, streams)
			sctx, stop := context.WithCancel(ctx)
			defer stop()
			var wg sync.WaitGroup
			opened := make(chan struct{}, streams)
			for s := range streams {
				r, _ := http.NewRequestWithContext(sctx, "GET", base+"/t/"+slug+"/events/stream", nil)
				r.Header.Set("Authorization", "Bearer bench-root-token-0123456789abcdefghijkl")
				res, err := http.DefaultClient.Do(r)
				if err != nil || res.StatusCode != 200 {
					b.Fatalf("stream %d: %v %v", s, res, err)
				}
				wg.Go(func() {
					defer res.Body.Close()
					sc := bufio.NewScanner(res.Body)
					sc.Buffer(make([]byte, 1<<20), 1<<20)
					first := true
					for sc.Scan() {
						line := sc.Bytes()
						if first {
							first = false
							opened <- struct{}{}
						}
						if id, ok := bytes.CutPrefix(line, []byte("id: ")); ok {
							at := time.Now()
							arrivals[s].mu.Lock()
							arrivals[s].list = append(arrivals[s].list, arrival{string(id), at})
							arrivals[s].mu.Unlock()
						}
					}
				})
			}
			for range streams {
				<-opened
			}

			// Each append runs on its own, so that a slow one does not hold
			// the rate down.
			var (
				mu      sync.Mutex
				sent    = map[string]time.Time{} // when the append returned: the event committed
				began   = map[string]time.Time{} // when it was called
				appends sync.WaitGroup
				failed  error
			)
			tick := time.NewTicker(time.Second / rate)
			defer tick.Stop()
			b.ResetTimer()
			loopStart := time.Now()
			i := 0
			for b.Loop() {
				<-tick.C
				id, name := ids[i%clients], fmt.Sprintf("Renamed %d", i)
				i++
				appends.Go(func() {
					start := time.Now()
					res, err := n.Admin.Clients.Update(ctx, req, slug, id, client.Patch{ClientName: ptrTo(name)}, 0)
					for try := 0; errors.Is(err, eventstore.ErrConflict) && try < 5; try++ {
						// A slow append of this client is still in flight.
						res, err = n.Admin.Clients.Update(ctx, req, slug, id, client.Patch{ClientName: ptrTo(name)}, 0)
					}
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						failed = err
						return
					}
					sent[res.Position.String()], began[res.Position.String()] = time.Now(), start
				})
			}
			appends.Wait()
			rateGot := float64(i) / time.Since(loopStart).Seconds()
			b.StopTimer()
			if failed != nil {
				b.Fatal(failed)
			}
			// Wait until every stream has the last event, then stop them.
			var lastID string
			var lastPos eventstore.Position
			for id := range sent {
				if p, _ := eventstore.ParsePosition(id); lastPos.Less(p) {
					lastID, lastPos = id, p
				}
			}
			deadline := time.Now().Add(30 * time.Second)
			for s := 0; s < streams; {
				arrivals[s].mu.Lock()
				has := slices.ContainsFunc(arrivals[s].list, func(a arrival) bool { return a.id == lastID })
				arrivals[s].mu.Unlock()
				if has {
					s++
					continue
				}
				if time.Now().After(deadline) {
					b.Fatalf("stream %d never received %s", s, lastID)
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			wg.Wait()
			var lat, fromCall []time.Duration
			for s := range streams {
				got := 0
				for _, a := range arrivals[s].list {
					if t0, ok := sent[a.id]; ok {
						lat = append(lat, a.at.Sub(t0))
						fromCall = append(fromCall, a.at.Sub(began[a.id]))
						got++
					}
				}
				if got != len(sent) {
					have := map[string]bool{}
					for _, a := range arrivals[s].list {
						have[a.id] = true
					}
					var missing []string
					for id := range sent {
						if !have[id] {
							missing = append(missing, id)
						}
					}
					b.Fatalf("stream %d received %d of %d events (%d arrivals); missing %v; last %s", s, got, len(sent), len(arrivals[s].list), missing, lastID)
				}
			}
			slices.Sort(lat)
			slices.Sort(fromCall)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
			b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
			b.ReportMetric(ms(percentile(fromCall, 0.99)), "p99-from-call-ms")
			b.ReportMetric(rateGot, "appends/s")
		})
	}
}

func ptrTo[T any](v T) *T { return &v }
