package auditlogtest

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
)

// workload writes realistic history into an event store: every event
// comes from a domain command run by aggregate.Execute, as the API runs
// it, with metadata of several actors.
type workload struct {
	store eventstore.Store
	ticks atomic.Int64
	seq   atomic.Int64

	mu   sync.Mutex
	last eventstore.Position // of the newest event appended
}

func (w *workload) done(res aggregate.Result) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last.Less(res.Position) {
		w.last = res.Position
	}
}

// lastPosition is the position of the newest event appended.
func (w *workload) lastPosition() eventstore.Position {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func newWorkload(s eventstore.Store) *workload { return &workload{store: s} }

var epoch = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func (w *workload) now() time.Time {
	return epoch.Add(time.Duration(w.ticks.Add(1)) * 1234567 * time.Microsecond)
}

func (w *workload) meta(actor string) eventstore.Metadata {
	n := w.seq.Add(1)
	return eventstore.Metadata{Actor: actor, CorrelationID: fmt.Sprintf("req-%d", n), OccurredAt: w.now(),
		Reason: fmt.Sprintf("change %d", n), Source: "198.51.100.9", UserAgent: "clavis-test/1"}
}

func newEventID() string { return uuid.NewString() }

func tenantKey(kid string) tenant.NewKey {
	return tenant.NewKey{KID: kid, Alg: tenant.AlgES256, Sealed: "v1.test." + kid,
		PublicJWK: json.RawMessage(`{"kty":"EC","crv":"P-256","kid":"` + kid + `","alg":"ES256","use":"sig",` +
			`"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`)}
}

func (w *workload) onTenant(tb testing.TB, slug, actor string, decide func(*tenant.Tenant, time.Time) ([]domain.Event, error)) {
	tb.Helper()
	now := w.now()
	res, err := aggregate.Execute(tb.Context(), w.store, aggregate.Command[*tenant.Tenant]{
		Stream: eventstore.StreamID{Tenant: slug, Type: "tenant", ID: slug}, Decode: tenant.Decode, Replay: tenant.Replay,
		Decide: func(t *tenant.Tenant) ([]domain.Event, error) { return decide(t, now) },
		Meta:   w.meta(actor), NewID: newEventID,
	})
	if err != nil {
		tb.Errorf("tenant command on %s: %v", slug, err)
	}
	w.done(res)
}

func (w *workload) onClient(tb testing.TB, slug, id, actor string, decide func(*client.Client, time.Time) ([]domain.Event, error)) {
	tb.Helper()
	now := w.now()
	res, err := aggregate.Execute(tb.Context(), w.store, aggregate.Command[*client.Client]{
		Stream: eventstore.StreamID{Tenant: slug, Type: "client", ID: id}, Decode: client.Decode, Replay: client.Replay,
		Decide: func(c *client.Client) ([]domain.Event, error) { return decide(c, now) },
		Meta:   w.meta(actor), NewID: newEventID,
	})
	if err != nil {
		tb.Errorf("client command on %s/%s: %v", slug, id, err)
	}
	w.done(res)
}

// createTenant creates a tenant.
func (w *workload) createTenant(tb testing.TB, slug string) {
	w.onTenant(tb, slug, "root", func(_ *tenant.Tenant, now time.Time) ([]domain.Event, error) {
		return tenant.Create(slug, "Tenant "+slug, tenantKey(slug+"-k1"), now)
	})
}

// clientLife registers a client of a tenant and changes it a few times:
// renames, a second secret, a deactivation for every third one.
func (w *workload) clientLife(tb testing.TB, slug string, i int) {
	id := fmt.Sprintf("%s-client-%03d", slug, i)
	actor := fmt.Sprintf("user:admin-%d", i%3)
	w.onClient(tb, slug, id, actor, func(_ *client.Client, now time.Time) ([]domain.Event, error) {
		s := client.DefaultSettings(client.TypeConfidential)
		s.ClientName, s.Code = fmt.Sprintf("Client %d of %s", i, slug), fmt.Sprintf("urn:%s/client-%d", slug, i)
		s.DefaultScopes = []string{scope.OpenID}
		s.RedirectURIs = []string{"https://app.example.com/cb"}
		return client.Register(id, s, scope.NewCatalogue(), &client.Secret{ID: "s1", Hash: "sha256$" + id + "-s1"}, now)
	})
	for k := range 2 {
		w.onClient(tb, slug, id, actor, func(c *client.Client, now time.Time) ([]domain.Event, error) {
			name := fmt.Sprintf("Client %d of %s, take %d", i, slug, k+2)
			return c.Update(client.Patch{ClientName: &name}, scope.NewCatalogue(), now)
		})
	}
	w.onClient(tb, slug, id, "client:"+slug+"-ops", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		return c.AddSecret(client.Secret{ID: "s2", Hash: "sha256$" + id + "-s2"}, now)
	})
	if i%3 == 0 {
		w.onClient(tb, slug, id, "root", func(c *client.Client, now time.Time) ([]domain.Event, error) {
			return c.Deactivate("audit test", now)
		})
	}
}

// run writes the history of clients clients for each tenant (created
// first if new), from several goroutines at once, so that appends of
// different tenants interleave (and, on PostgreSQL, commit out of the
// order their positions were taken in).
func (w *workload) run(tb testing.TB, tenants []string, create bool, first, clients int) {
	tb.Helper()
	if create {
		for _, t := range tenants {
			w.createTenant(tb, t)
		}
	}
	var wg sync.WaitGroup
	for _, t := range tenants {
		for g := range 2 {
			wg.Go(func() {
				for i := first + g; i < first+clients; i += 2 {
					w.clientLife(tb, t, i)
				}
			})
		}
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
}
