package storetest

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore"
)

// Bench runs the store benchmarks against a backend; newStore returns a
// fresh, empty store for each one.
//
//   - Append: single-event appends to distinct streams from 16 concurrent
//     writers; reports events/s.
//   - LoadStream1000: reading one 1,000-event stream, as loading an
//     aggregate does; ns/op is the load time.
//   - ReadAll100k: reading 100,000 events from a position in pages of
//     1,000; reports events/s.
func Bench(b *testing.B, newStore func(b *testing.B) eventstore.Store) {
	b.Run("Append16Writers", func(b *testing.B) { benchAppend(b, newStore(b)) })
	b.Run("LoadStream1000", func(b *testing.B) { benchLoad(b, newStore(b)) })
	b.Run("ReadAll100k", func(b *testing.B) { benchReadAll(b, newStore(b)) })
}

// payload is the size of a typical client.updated event.
var payload = json.RawMessage(`{"settings":{"client_name":"Orders service","redirect_uris":["https://orders.example.com/callback"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"client_secret_basic","default_scopes":["openid","profile"],"access_token_lifetime":3600},"changed":["client_name"],"at":"2026-11-23T12:00:00Z"}`)

func benchEvents(n int) []eventstore.Event {
	events := ev("client.updated", n)
	for i := range events {
		events[i].Data = payload
	}
	return events
}

func benchAppend(b *testing.B, s eventstore.Store) {
	defer s.Close()
	const writers = 16
	var next atomic.Int64
	b.SetParallelism((writers + 1) / 2) // GOMAXPROCS is 2 on the reference machine
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			st := eventstore.StreamID{Tenant: fmt.Sprintf("t%d", n%50), Type: "client", ID: fmt.Sprintf("c%d", n)}
			if _, err := s.Append(b.Context(), st, eventstore.NoStream, benchEvents(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func benchLoad(b *testing.B, s eventstore.Store) {
	defer s.Close()
	st := eventstore.StreamID{Tenant: "acme", Type: "client", ID: "long"}
	for v := int64(0); v < 1000; v += 250 {
		if _, err := s.Append(b.Context(), st, v, benchEvents(250)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := s.ReadStream(b.Context(), st, 0)
		if err != nil || len(got) != 1000 {
			b.Fatalf("read %d events, %v", len(got), err)
		}
	}
}

func benchReadAll(b *testing.B, s eventstore.Store) {
	defer s.Close()
	const total, page = 100_000, 1000
	var last eventstore.Position
	for i := range total / page {
		st := eventstore.StreamID{Tenant: fmt.Sprintf("t%d", i%10), Type: "client", ID: fmt.Sprintf("c%d", i)}
		pos, err := s.Append(b.Context(), st, eventstore.NoStream, benchEvents(page))
		if err != nil {
			b.Fatal(err)
		}
		last = pos
	}
	for {
		head, err := s.Head(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if !head.Less(last) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		var after eventstore.Position
		n := 0
		for n < total {
			got, err := s.ReadAll(b.Context(), after, page)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) == 0 {
				b.Fatalf("read stopped after %d events", n)
			}
			n += len(got)
			after = got[len(got)-1].Position
		}
	}
	b.ReportMetric(float64(b.N*total)/time.Since(start).Seconds(), "events/s")
}
