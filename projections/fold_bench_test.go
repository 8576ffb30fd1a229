package projections

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
)

// BenchmarkFold folds pages of client events in memory, as a rebuild and
// the NATS feed do: the CPU side of applying events, without a database.
// Each client is registered, updated, given and rotated a secret, and
// deactivated; a page of 1,000 events touches 200 clients.
func BenchmarkFold(b *testing.B) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	var stored []eventstore.Event
	var pos int64
	for i := range 200 {
		id := fmt.Sprintf("c%03d", i)
		s := client.DefaultSettings(client.TypeConfidential)
		s.ClientName, s.Code = "Client "+id, "urn:acme/"+id
		s.RedirectURIs = []string{"https://app.example.com/cb"}
		s.DefaultScopes = []string{"openid"}
		s.Metadata = map[string]string{"team": "orders"}
		var history []domain.Event
		step := func(events []domain.Event, err error) *client.Client {
			if err != nil {
				b.Fatal(err)
			}
			history = append(history, events...)
			c, err := client.Replay(history)
			if err != nil {
				b.Fatal(err)
			}
			return c
		}
		c := step(client.Register(id, s, cat, &client.Secret{ID: "s1", Hash: "sha256$s1"}, now))
		name := "Renamed " + id
		c = step(c.Update(client.Patch{ClientName: &name}, cat, now))
		c = step(c.AddSecret(client.Secret{ID: "s2", Hash: "sha256$s2"}, now))
		c = step(c.RotateSecret(client.Secret{ID: "s3", Hash: "sha256$s3"}, time.Hour, now))
		step(c.Deactivate("audit", now))
		for v, e := range history {
			data, err := json.Marshal(e)
			if err != nil {
				b.Fatal(err)
			}
			pos++
			stored = append(stored, eventstore.Event{ID: fmt.Sprintf("e%d", pos),
				Stream:  eventstore.StreamID{Tenant: "acme", Type: streamClient, ID: id},
				Version: int64(v + 1), Type: e.EventType(), Schema: e.SchemaVersion(), Data: data,
				Position: eventstore.Position{Commit: uint64(pos), Seq: pos}})
		}
	}
	events := make([]decoded, len(stored))
	for i, e := range stored {
		if events[i] = decode(e); events[i].err != nil {
			b.Fatal(events[i].err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m := newMemory()
		for from := 0; from < len(events); from += 100 {
			c, err := foldEvents(b.Context(), m, events[from:min(from+100, len(events))])
			if err != nil {
				b.Fatal(err)
			}
			for _, v := range c.Clients {
				m.clients[v.ClientID], _ = json.Marshal(v)
			}
		}
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
}
