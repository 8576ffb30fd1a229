package projectiontest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/projections"
)

// Sizes of the rebuild benchmark's history.
const (
	benchTenants = 100
	benchClients = 10_000
	benchUpdates = 9 // per client, after its registration
)

// BenchRebuild measures [projections.Projector.Rebuild] over 100,100
// events: 100 tenants and 10,000 confidential clients (each with a
// secret) of 100 tenants, each registered and then renamed 9 times, every
// client's 10 events appended in one batch. It reports events/s.
func BenchRebuild(b *testing.B, newEnv func(t testing.TB) Env) {
	env := newEnv(b)
	total := seed(b, env.Store)
	p, err := projections.NewProjector(env.Backend, env.Store, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	for b.Loop() {
		if _, err := p.Rebuild(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")

	st, err := p.Status(ctx)
	if err != nil || !st.CaughtUp {
		b.Fatalf("after the rebuild: %+v, %v", st, err)
	}
	v, err := env.Backend.Client(ctx, "t042", "client-04242")
	if err != nil || v.Version != 1+benchUpdates || v.Settings.ClientName != fmt.Sprintf("Client 4242, take %d", benchUpdates) {
		b.Fatalf("client-04242 after the rebuild: %+v, %v", v, err)
	}
}

// seed writes the benchmark's history and returns how many events it
// wrote.
func seed(b *testing.B, s eventstore.Store) int {
	b.Helper()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	meta := eventstore.Metadata{Actor: "root", OccurredAt: now}
	for i := range benchTenants {
		slug := fmt.Sprintf("t%03d", i)
		events, err := tenant.Create(slug, "Tenant "+slug, testKey(slug+"-k1"), now)
		if err != nil {
			b.Fatal(err)
		}
		appendEvents(b, s, tenantStream(slug), events, meta)
	}

	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				slug := fmt.Sprintf("t%03d", i%benchTenants)
				id := fmt.Sprintf("client-%05d", i)
				appendEvents(b, s, clientStream(slug, id), clientHistory(b, i, id, now), meta)
			}
		})
	}
	for i := range benchClients {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return benchTenants + benchClients*(1+benchUpdates)
}

// clientHistory returns a client's registration and its renames.
func clientHistory(b *testing.B, i int, id string, now time.Time) []domain.Event {
	s := settings(client.TypeConfidential, fmt.Sprintf("Client %d", i), fmt.Sprintf("urn:t%03d/client-%05d", i%benchTenants, i))
	s.Description = "A client of the rebuild benchmark, with a description of a realistic length."
	s.APIScopes = []string{"read", "write"}
	s.AllowedCORSOrigins = []string{"https://app.example.com"}
	s.PostLogoutRedirectURIs = []string{"https://app.example.com/bye"}
	s.Metadata = map[string]string{"team": "benchmarks", "cost_center": "42"}
	events, err := client.Register(id, s, scope.NewCatalogue(), &client.Secret{ID: "s1", Hash: "sha256$" + id}, now)
	if err != nil {
		b.Error(err)
		return nil
	}
	c, err := client.Replay(events)
	if err != nil {
		b.Error(err)
		return nil
	}
	for k := 1; k <= benchUpdates; k++ {
		name := fmt.Sprintf("Client %d, take %d", i, k)
		update, err := c.Update(client.Patch{ClientName: &name}, scope.NewCatalogue(), now.Add(time.Duration(k)*time.Second))
		if err != nil {
			b.Error(err)
			return nil
		}
		for _, e := range update {
			if err := c.Apply(e); err != nil {
				b.Error(err)
				return nil
			}
		}
		events = append(events, update...)
	}
	return events
}

func appendEvents(b *testing.B, s eventstore.Store, st eventstore.StreamID, events []domain.Event, meta eventstore.Metadata) {
	if len(events) == 0 {
		return
	}
	envelopes, claims, err := aggregate.Envelopes(events, meta, newID)
	if err != nil {
		b.Error(err)
		return
	}
	if _, err := s.Append(b.Context(), st, eventstore.NoStream, envelopes, claims...); err != nil {
		b.Errorf("append to %s: %v", st, err)
	}
}
