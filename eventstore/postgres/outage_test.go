package postgres

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
)

// events builds n events with fresh ids.
func events(n int) []eventstore.Event {
	out := make([]eventstore.Event, n)
	for i := range out {
		out[i] = eventstore.Event{
			ID: "e-" + rand.Text(), Type: "client.renamed", Schema: 1, Data: json.RawMessage(`{}`),
			Meta: eventstore.Metadata{Actor: "test", OccurredAt: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)},
		}
	}
	return out
}

// proxied opens a store whose connections go through a proxy the test
// can cut.
func proxied(t *testing.T) (*Store, *pgtest.Proxy) {
	t.Helper()
	proxy := pgtest.StartProxy(t, dbURL)
	s, err := Open(t.Context(), proxy.URL(pgtest.Schema(t, dbURL)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, proxy
}

// TestUnreachable cuts the store off PostgreSQL: appends and reads fail
// with ErrUnavailable; once PostgreSQL is back the first of each
// succeeds, also when the pool's connections broke unseen.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	s, proxy := proxied(t)
	st := eventstore.StreamID{Tenant: "acme", Type: "client", ID: "c1"}
	version := int64(0)
	appendOne := func() error {
		_, err := s.Append(t.Context(), st, version, events(1))
		if err == nil {
			version++
		}
		return err
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"append", appendOne},
		{"read stream", func() error { _, err := s.ReadStream(t.Context(), st, 0); return err }},
		{"read all", func() error { _, err := s.ReadAll(t.Context(), eventstore.Position{}, 10); return err }},
		{"read tenant", func() error { _, err := s.ReadTenant(t.Context(), "acme", eventstore.Position{}, 10); return err }},
		{"head", func() error { _, err := s.Head(t.Context()); return err }},
	}
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Fatalf("%s before the cut: %v", c.name, err)
		}
	}

	proxy.Cut()
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, eventstore.ErrUnavailable) {
			t.Errorf("%s while cut: %v, want ErrUnavailable", c.name, err)
		}
	}
	proxy.Restore()
	for _, c := range calls {
		if err := c.call(); err != nil {
			t.Errorf("%s once restored: %v", c.name, err)
		}
	}
	// Cut and restored with nobody noticing: the pool holds connections
	// that are broken and were used less than a second ago, so it hands
	// them out unchecked.
	for _, c := range calls {
		proxy.Cut()
		proxy.Restore()
		if err := c.call(); err != nil {
			t.Errorf("%s after an unseen cut: %v", c.name, err)
		}
	}
}

// TestAppendAnswerLost breaks the connection after PostgreSQL committed
// an append and before its answer arrived: Append succeeds once, with
// what the store assigned, and the stream holds the events once.
func TestAppendAnswerLost(t *testing.T) {
	t.Parallel()
	s, proxy := proxied(t)
	st := eventstore.StreamID{Tenant: "acme", Type: "client", ID: "c1"}
	if _, err := s.Append(t.Context(), st, 0, events(1)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 3} {
		evs := events(n)
		proxy.LoseReply(evs[0].ID)
		lost := proxy.Lost()
		pos, err := s.Append(t.Context(), st, streamVersion(t, s, st), evs)
		if err != nil {
			t.Fatalf("append of %d whose answer was lost: %v", n, err)
		}
		if proxy.Lost() != lost+1 {
			t.Fatalf("the proxy lost %d answers, want 1: the test did not test", proxy.Lost()-lost)
		}
		got, err := s.ReadStream(t.Context(), st, 0)
		if err != nil {
			t.Fatal(err)
		}
		stored := got[len(got)-n:]
		for i, e := range stored {
			if e.ID != evs[i].ID || e.Version != evs[i].Version || e.Position != evs[i].Position || !e.RecordedAt.Equal(evs[i].RecordedAt) {
				t.Errorf("event %d: stored %s v%d at %s, Append said %s v%d at %s", i, e.ID, e.Version, e.Position, evs[i].ID, evs[i].Version, evs[i].Position)
			}
		}
		if pos != stored[n-1].Position {
			t.Errorf("Append returned %s, the last event is at %s", pos, stored[n-1].Position)
		}
		seen := map[string]int{}
		for _, e := range got {
			seen[e.ID]++
		}
		for _, e := range evs {
			if seen[e.ID] != 1 {
				t.Errorf("event %s is stored %d times, want once", e.ID, seen[e.ID])
			}
		}
	}
}

// streamVersion is st's current version.
func streamVersion(t *testing.T, s *Store, st eventstore.StreamID) int64 {
	t.Helper()
	got, err := s.ReadStream(t.Context(), st, 0)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(got))
}
