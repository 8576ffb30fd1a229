package projectiontest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/projections"
)

// testFoldEqualsAggregate replays every stream the world writes through
// its domain aggregate and through the projection, in batches of every
// size, and compares the two states field by field: the read model folds
// with the aggregate's own Apply, from the state it stored.
func testFoldEqualsAggregate(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.rich()
	events := w.events()
	for _, size := range []int{1, 2, 4, len(events)} {
		t.Run(fmt.Sprintf("batches of %d", size), func(t *testing.T) {
			if err := env.Backend.Reset(t.Context(), projections.Name); err != nil {
				t.Fatal(err)
			}
			apply(t, t.Context(), projector(t, env.Backend, env.Store), events, size)
			for _, st := range streams(events) {
				sameState(t, env.Backend, st, decodeAll(t, events, st))
			}
		})
	}
}

// streams returns the tenant and client streams of events, in the order
// they first appear.
func streams(events []eventstore.Event) []eventstore.StreamID {
	var out []eventstore.StreamID
	seen := map[eventstore.StreamID]bool{}
	for _, e := range events {
		if !seen[e.Stream] {
			seen[e.Stream] = true
			out = append(out, e.Stream)
		}
	}
	return out
}

// decodeAll decodes the events of stream st.
func decodeAll(t testing.TB, events []eventstore.Event, st eventstore.StreamID) []domain.Event {
	t.Helper()
	var out []domain.Event
	for _, e := range events {
		if e.Stream != st {
			continue
		}
		d, err := decoder(st)(e.Type, e.Schema, e.Data)
		if err != nil {
			t.Fatalf("decode %s of %s: %v", e.Type, st, err)
		}
		out = append(out, d)
	}
	return out
}

func decoder(st eventstore.StreamID) aggregate.Decoder {
	if st.Type == "tenant" {
		return tenant.Decode
	}
	return client.Decode
}

// sameState fails unless the read model holds what the aggregate that
// replays history is: its state, field by field, or nothing for a
// deleted client.
func sameState(t testing.TB, rm projections.ReadModel, st eventstore.StreamID, history []domain.Event) {
	t.Helper()
	ctx := t.Context()
	switch st.Type {
	case "tenant":
		a, err := tenant.Replay(history)
		if err != nil {
			t.Fatalf("replay %s: %v", st, err)
		}
		v, err := rm.Tenant(ctx, st.ID)
		if a.Version() == 0 {
			if !isNotFound(err) {
				t.Errorf("%s: the read model holds %+v, the aggregate has no history", st, v)
			}
			return
		}
		if err != nil {
			t.Fatalf("read %s: %v", st, err)
		}
		if diff := cmp.Diff(a.State(), v.State()); diff != "" {
			t.Errorf("%s: read model state differs from the aggregate's (-aggregate +read model):\n%s", st, diff)
		}
	case "client":
		a, err := client.Replay(history)
		if err != nil {
			t.Fatalf("replay %s: %v", st, err)
		}
		v, err := rm.Client(ctx, st.Tenant, st.ID)
		if a.Version() == 0 || a.Deleted() {
			if !isNotFound(err) {
				t.Errorf("%s: the read model holds %s, the aggregate is deleted or has no history", st, describe(v))
			}
			return
		}
		if err != nil {
			t.Fatalf("read %s: %v", st, err)
		}
		if diff := cmp.Diff(a.State(), v.State()); diff != "" {
			t.Errorf("%s: read model state differs from the aggregate's (-aggregate +read model):\n%s", st, diff)
		}
		if v.Tenant != st.Tenant {
			t.Errorf("%s: read model holds it in tenant %s", st, v.Tenant)
		}
	}
}

// refusal is a stream whose last event the aggregate refuses. Such
// streams never come from a command; they are what a bug or a hand
// edit could store.
type refusal struct {
	name   string
	typ    string // stream type
	events func(id string, at time.Time) []domain.Event
}

// refusals are the ways a stream can break what the aggregates allow.
var refusals = []refusal{
	{"client secret id reused after revocation", "client", func(id string, at time.Time) []domain.Event {
		return append(registered(id, at),
			client.SecretAdded{Secret: client.Secret{ID: "s2", Hash: "sha256$s2", CreatedAt: at}, At: at},
			client.SecretRevoked{SecretID: "s2", At: at},
			client.SecretAdded{Secret: client.Secret{ID: "s2", Hash: "sha256$again", CreatedAt: at}, At: at})
	}},
	{"client rotation to a secret id used before", "client", func(id string, at time.Time) []domain.Event {
		return append(registered(id, at),
			client.SecretAdded{Secret: client.Secret{ID: "s2", Hash: "sha256$s2", CreatedAt: at}, At: at},
			client.SecretRevoked{SecretID: "s1", At: at},
			client.SecretRotated{New: client.Secret{ID: "s1", Hash: "sha256$again", CreatedAt: at}, At: at})
	}},
	{"client secret id added twice", "client", func(id string, at time.Time) []domain.Event {
		return append(registered(id, at),
			client.SecretAdded{Secret: client.Secret{ID: "s1", Hash: "sha256$again", CreatedAt: at}, At: at})
	}},
	{"client secret revoked that it does not hold", "client", func(id string, at time.Time) []domain.Event {
		return append(registered(id, at), client.SecretRevoked{SecretID: "s9", At: at})
	}},
	{"client secret expired that it does not hold", "client", func(id string, at time.Time) []domain.Event {
		return append(registered(id, at), client.SecretRotated{
			New:      client.Secret{ID: "s2", Hash: "sha256$s2", CreatedAt: at},
			Expiring: []client.SecretExpiry{{SecretID: "s9", ExpiresAt: at.Add(time.Hour)}}, At: at})
	}},
	{"client registered twice", "client", func(id string, at time.Time) []domain.Event {
		return append(registered(id, at), registered(id, at)...)
	}},
	{"client updated before registration", "client", func(id string, at time.Time) []domain.Event {
		return []domain.Event{client.ClientActivated{At: at}}
	}},
	{"client activated after deletion", "client", func(id string, at time.Time) []domain.Event {
		return append(registered(id, at), client.ClientDeleted{Code: "urn:acme/" + id, At: at}, client.ClientActivated{At: at})
	}},
	{"client registered again after deletion", "client", func(id string, at time.Time) []domain.Event {
		return append(append(registered(id, at), client.ClientDeleted{Code: "urn:acme/" + id, At: at}), registered(id, at)...)
	}},
	{"tenant created twice", "tenant", func(slug string, at time.Time) []domain.Event {
		return []domain.Event{tenant.TenantCreated{Slug: slug, Name: "A", At: at}, tenant.TenantCreated{Slug: slug, Name: "B", At: at}}
	}},
	{"tenant renamed before creation", "tenant", func(slug string, at time.Time) []domain.Event {
		return []domain.Event{tenant.TenantRenamed{Name: "B", At: at}}
	}},
	{"tenant signing key added twice", "tenant", func(slug string, at time.Time) []domain.Event {
		k := keyAdded(slug+"-k1", at)
		return []domain.Event{tenant.TenantCreated{Slug: slug, Name: "A", At: at}, k, k}
	}},
	{"tenant signing key retired twice", "tenant", func(slug string, at time.Time) []domain.Event {
		r := tenant.SigningKeyRetired{KID: slug + "-k1", SignsUntil: at, PublishedUntil: at.Add(time.Hour), At: at}
		return []domain.Event{tenant.TenantCreated{Slug: slug, Name: "A", At: at}, keyAdded(slug+"-k1", at), r, r}
	}},
	{"tenant signing key published for less time than it signs", "tenant", func(slug string, at time.Time) []domain.Event {
		return []domain.Event{tenant.TenantCreated{Slug: slug, Name: "A", At: at}, keyAdded(slug+"-k1", at),
			tenant.SigningKeyRetired{KID: slug + "-k1", SignsUntil: at.Add(time.Hour), PublishedUntil: at, At: at}}
	}},
	{"tenant audit key added twice", "tenant", func(slug string, at time.Time) []domain.Event {
		k := testAuditKey(slug)
		e := tenant.AuditKeyAdded{Name: k.Name, Verifier: k.Verifier, Sealed: k.Sealed, AddedAt: at}
		return []domain.Event{tenant.TenantCreated{Slug: slug, Name: "A", At: at}, e, e}
	}},
	{"tenant audit key added before creation", "tenant", func(slug string, at time.Time) []domain.Event {
		k := testAuditKey(slug)
		return []domain.Event{tenant.AuditKeyAdded{Name: k.Name, Verifier: k.Verifier, Sealed: k.Sealed, AddedAt: at}}
	}},
}

func registered(id string, at time.Time) []domain.Event {
	events, err := client.Register(id, settings(client.TypeConfidential, "Client "+id, "urn:acme/"+id), scope.NewCatalogue(),
		&client.Secret{ID: "s1", Hash: "sha256$" + id + "-s1"}, at)
	if err != nil {
		panic(fmt.Sprintf("register %s: %v", id, err))
	}
	return events
}

func keyAdded(kid string, at time.Time) tenant.SigningKeyAdded {
	k := testKey(kid)
	return tenant.SigningKeyAdded{KID: k.KID, Alg: k.Alg, PublicJWK: k.PublicJWK, Sealed: k.Sealed, ActiveFrom: at, At: at}
}

// testFoldRefusesWhatTheAggregateRefuses stores each refused stream and
// has the projection apply it, event by event and as one batch: the
// projection stops at the event the aggregate refuses, with the
// aggregate's error, and holds the state the events before it give.
func testFoldRefusesWhatTheAggregateRefuses(t *testing.T, env Env) {
	ctx := t.Context()
	w := newWorld(t, env.Store)
	for i, r := range refusals {
		for _, page := range []int{1, eventstore.MaxRead} {
			t.Run(fmt.Sprintf("%s/pages of %d", r.name, page), func(t *testing.T) {
				id := fmt.Sprintf("refused%d-%d", i, page)
				st := clientStream("acme", id)
				if r.typ == "tenant" {
					st = tenantStream(id)
				}
				history := r.events(id, w.tick())
				envelopes, _, err := aggregate.Envelopes(history, w.meta(), newID)
				if err != nil {
					t.Fatal(err)
				}
				// No claims: they would refuse a second registration
				// before the projection sees it.
				if w.last, err = env.Store.Append(ctx, st, eventstore.NoStream, envelopes); err != nil {
					t.Fatal(err)
				}
				stored := w.events()
				bad := stored[len(stored)-1]

				n := len(history) - 1
				_, replayErr := replay(st, history)
				if replayErr == nil {
					t.Fatalf("the aggregate accepts the stream")
				}
				err = projector(t, env.Backend, env.Store, projections.WithPageSize(page)).CatchUp(ctx)
				var ee *projections.EventError
				if !errors.As(err, &ee) || ee.EventID != bad.ID {
					t.Fatalf("catch up: err = %v, want an *EventError for event %s (version %d)", err, bad.ID, n+1)
				}
				if want := errors.Unwrap(replayErr); ee.Err.Error() != want.Error() || !errors.Is(ee, domain.ErrCorruptEvent) {
					t.Errorf("the projection refuses with\n  %v\nthe aggregate with\n  %v", ee.Err, want)
				}
				if page == 1 {
					// Every event before the refused one was applied.
					sameState(t, env.Backend, st, history[:n])
				}
				// Step over the refused event, as an operator would, so
				// that the next stream starts from a projection that runs.
				err = env.Backend.Update(ctx, projections.Name, func(_ context.Context, _ eventstore.Position, _ projections.Loader) (*projections.Changes, error) {
					return &projections.Changes{Checkpoint: bad.Position, RecordedAt: bad.RecordedAt}, nil
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func replay(st eventstore.StreamID, history []domain.Event) (any, error) {
	if st.Type == "tenant" {
		return tenant.Replay(history)
	}
	return client.Replay(history)
}
