package tenants_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

func TestParseInstant(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, want string // want "" for an error
	}{
		{"12.34", "12.34"},
		{"0.0", "0.0"},
		{"007.1", "7.1"},
		{"2030-01-02T03:04:05Z", "2030-01-02T03:04:05Z"},
		{"2030-01-02T04:04:05.5+01:00", "2030-01-02T03:04:05.5Z"},
		{"2030-01-02T03:04:05.123456789Z", "2030-01-02T03:04:05.123456789Z"},
		{"", ""},
		{"12", ""},
		{"12.", ""},
		{".34", ""},
		{"+1.2", ""},
		{"-1.2", ""},
		{"1.2.3", ""},
		{"99999999999999999999.1", ""},
		{"2030-01-02T03:04:05", ""},
		{"2030-01-02", ""},
		{"2030-01-02 03:04:05Z", ""},
		{"yesterday", ""},
	} {
		t.Run(tt.in, func(t *testing.T) {
			at, err := tenants.ParseInstant(tt.in)
			if tt.want == "" {
				if !errors.Is(err, tenants.ErrInvalidInstant) {
					t.Errorf("ParseInstant(%q) = %v, %v; want ErrInvalidInstant", tt.in, at, err)
				}
				return
			}
			if err != nil || at.String() != tt.want {
				t.Errorf("ParseInstant(%q) = %v, %v; want %s", tt.in, at, err, tt.want)
			}
		})
	}
}

// lifecycle runs a client through every kind of change and returns its
// id and its stored events.
func (e *env) lifecycle(t *testing.T, slug string) (string, []eventstore.Event) {
	t.Helper()
	ctx := t.Context()
	res, err := e.clients.Register(ctx, req, slug, webApp("urn:"+slug+"/web"))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Client.ClientID
	steps := []func() (tenants.ClientResult, error){
		func() (tenants.ClientResult, error) {
			return e.clients.Update(ctx, req, slug, id, client.Patch{ClientName: ptr("Renamed")}, 0)
		},
		func() (tenants.ClientResult, error) { return e.clients.RotateSecret(ctx, req, slug, id, time.Hour) },
		func() (tenants.ClientResult, error) { return e.clients.Deactivate(ctx, req, slug, id, "paused") },
		func() (tenants.ClientResult, error) { return e.clients.Activate(ctx, req, slug, id) },
		func() (tenants.ClientResult, error) { return e.clients.Delete(ctx, req, slug, id) },
	}
	for _, step := range steps {
		e.clock.Advance(time.Minute)
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	e.settle(t)
	events, err := e.store.ReadStream(ctx, tenants.ClientStream(slug, id), 0)
	if err != nil {
		t.Fatal(err)
	}
	return id, events
}

// replayed is the client after its first n events, replayed by the
// domain: what At must answer.
func replayed(t *testing.T, slug string, events []eventstore.Event, n int) projections.ClientView {
	t.Helper()
	agg := new(client.Client)
	for _, e := range events[:n] {
		d, err := client.Decode(e.Type, e.Schema, e.Data)
		if err != nil {
			t.Fatal(err)
		}
		if err := agg.Apply(d); err != nil {
			t.Fatal(err)
		}
	}
	return projections.NewClientView(slug, agg)
}

func TestClientsAt(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createTenant(t, "acme")
		e.createTenant(t, "beta")
		id, events := e.lifecycle(t, "acme")
		ctx := t.Context()
		t.Run("at each event's position and recording time, the client after it", func(t *testing.T) {
			for i, ev := range events {
				for _, at := range []tenants.Instant{tenants.AtPosition(ev.Position), tenants.AtTime(ev.RecordedAt)} {
					got, err := e.clients.At(ctx, "acme", id, at)
					if err != nil {
						t.Fatalf("at %s: %v", at, err)
					}
					if diff := cmp.Diff(replayed(t, "acme", events, i+1), got); diff != "" {
						t.Errorf("at %s, after event %d (-replay +At):\n%s", at, i+1, diff)
					}
				}
			}
		})
		t.Run("a long stream, decoded in parallel, folds in order", func(t *testing.T) {
			res, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/long"))
			if err != nil {
				t.Fatal(err)
			}
			long := res.Client.ClientID
			// The updates go to the store in one append: through the
			// commands they would take far longer, to the same effect.
			settings := e.loadClient(t, "acme", long).Settings()
			var updates []domain.Event
			for i := 2; i <= 300; i++ {
				settings.ClientName = fmt.Sprintf("Long %d", i)
				updates = append(updates, client.ClientUpdated{Settings: settings, Changed: []string{"client_name"}, At: e.clock.Now().Add(time.Duration(i) * time.Second)})
			}
			envs, _, err := aggregate.Envelopes(updates, eventstore.Metadata{Actor: "root"}, counter("long-"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.Append(ctx, tenants.ClientStream("acme", long), 1, envs); err != nil {
				t.Fatal(err)
			}
			e.settle(t)
			stored, err := e.store.ReadStream(ctx, tenants.ClientStream("acme", long), 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 129, 257, 299, 300} {
				got, err := e.clients.At(ctx, "acme", long, tenants.AtPosition(stored[n-1].Position))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(replayed(t, "acme", stored, n), got); diff != "" {
					t.Errorf("after event %d (-replay +At):\n%s", n, diff)
				}
			}
		})
		t.Run("deleted by then: as when deleted, marked", func(t *testing.T) {
			got, err := e.clients.At(ctx, "acme", id, tenants.AtTime(time.Now().Add(time.Hour)))
			if err != nil || !got.Deleted || got.Version != int64(len(events)) {
				t.Errorf("At after the deletion = %+v, %v; want the deleted client at version %d", got, err, len(events))
			}
		})
		t.Run("not found: before its creation, before the tenant's, in another tenant, an unknown tenant", func(t *testing.T) {
			tenantHistory, err := e.store.ReadStream(ctx, tenants.TenantStream("acme"), 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				tenant, id string
				at         tenants.Instant
			}{
				{"acme", id, tenants.AtTime(events[0].RecordedAt.Add(-time.Microsecond))},
				{"acme", id, tenants.AtPosition(tenantHistory[len(tenantHistory)-1].Position)},
				{"acme", id, tenants.AtTime(tenantHistory[0].RecordedAt.Add(-time.Microsecond))},
				{"acme", id, tenants.AtPosition(eventstore.Position{})},
				{"beta", id, tenants.AtTime(time.Now().Add(time.Hour))},
				{"nope", id, tenants.AtTime(time.Now().Add(time.Hour))},
				{"acme", "nope", tenants.AtTime(time.Now().Add(time.Hour))},
				{"acme", "", tenants.AtTime(time.Now().Add(time.Hour))},
				{"", id, tenants.AtTime(time.Now().Add(time.Hour))},
			} {
				if v, err := e.clients.At(ctx, c.tenant, c.id, c.at); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("At(%q, %q, %s) = %+v, %v; want not found", c.tenant, c.id, c.at, v, err)
				}
			}
		})
	})
}

func TestClientsAllAt(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		admin := e.createTenant(t, "acme").AdminClient.ClientID
		e.createTenant(t, "beta")
		var ids []string
		for i := range 12 {
			res, err := e.clients.Register(ctx, req, "acme", webApp(fmt.Sprintf("urn:acme/c%02d", i)))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, res.Client.ClientID)
			if _, err := e.clients.Register(ctx, req, "beta", webApp(fmt.Sprintf("urn:beta/c%02d", i))); err != nil {
				t.Fatal(err)
			}
		}
		mid := e.head(t)
		for i, id := range ids {
			var err error
			switch i % 3 {
			case 0:
				_, err = e.clients.Delete(ctx, req, "acme", id)
			case 1:
				_, err = e.clients.Update(ctx, req, "acme", id, client.Patch{ClientName: ptr("Later")}, 0)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		later, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/later"))
		if err != nil {
			t.Fatal(err)
		}
		end := e.head(t)

		for _, at := range []tenants.Instant{tenants.AtPosition(mid), tenants.AtPosition(end), tenants.AtTime(time.Now().Add(time.Hour))} {
			// Every client created by then, each as At shows it.
			var want []projections.ClientView
			for _, id := range append(append([]string{admin}, ids...), later.Client.ClientID) {
				v, err := e.clients.At(ctx, "acme", id, at)
				if errors.Is(err, domain.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, v)
			}
			slices.SortFunc(want, func(a, b projections.ClientView) int { return strings.Compare(a.ClientID, b.ClientID) })
			for _, limit := range []int{1, 2, 5, 500} {
				t.Run(fmt.Sprintf("at %s by %d", at, limit), func(t *testing.T) {
					var got []projections.ClientView
					after := ""
					for pages := 0; ; pages++ {
						if pages > len(want)+1 {
							t.Fatal("the pages do not end")
						}
						page, next, err := e.clients.AllAt(ctx, "acme", at, after, limit)
						if err != nil {
							t.Fatal(err)
						}
						if len(page) > limit {
							t.Fatalf("a page of %d, limit %d", len(page), limit)
						}
						got = append(got, page...)
						if next == "" {
							break
						}
						after = next
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("(-At of each +AllAt):\n%s", diff)
					}
				})
			}
		}
		t.Run("the tenant did not exist yet, or does not, or the limit is out of range", func(t *testing.T) {
			if _, _, err := e.clients.AllAt(ctx, "acme", tenants.AtPosition(eventstore.Position{}), "", 10); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("before the tenant: %v", err)
			}
			if _, _, err := e.clients.AllAt(ctx, "nope", tenants.AtPosition(end), "", 10); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("an unknown tenant: %v", err)
			}
			for _, limit := range []int{0, -1, projections.MaxPage + 1} {
				if _, _, err := e.clients.AllAt(ctx, "acme", tenants.AtPosition(end), "", limit); !errors.Is(err, eventstore.ErrInvalid) {
					t.Errorf("limit %d: %v", limit, err)
				}
			}
		})
	})
}

// BenchmarkClientAt asks for a client whose stream holds 1,000 events
// (updates, rotations, revocations, deactivations and activations) at its
// last position and at the one before (99 events after the nearest
// snapshot), with snapshots and without.
//
//	go test -run '^$' -bench BenchmarkClientAt -benchtime 200x ./tenants/
func BenchmarkClientAt(b *testing.B) {
	for _, backend := range []struct {
		name  string
		dbURL func() string
	}{{"sqlite", func() string { return "" }}, {"postgres", func() string { return dbURL }}} {
		b.Run(backend.name, func(b *testing.B) {
			ctx := b.Context()
			store := testnode.Store(b, backend.dbURL())
			ts, err := tenants.NewTenants(store, testnode.Keyring(b))
			if err != nil {
				b.Fatal(err)
			}
			cs, err := tenants.NewClients(store)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ts.Create(ctx, req, "acme", "Acme"); err != nil {
				b.Fatal(err)
			}
			res, err := cs.Register(ctx, req, "acme", webApp("urn:acme/web"))
			if err != nil {
				b.Fatal(err)
			}
			id, last := res.Client.ClientID, res
			var at999 tenants.Instant
			for i := 2; i <= 1000; i++ {
				if i == 1000 {
					at999 = tenants.AtPosition(last.Position)
				}
				last, err = changeLongStream(ctx, cs, id, i, last)
				if err != nil {
					b.Fatalf("event %d: %v", i, err)
				}
			}
			if last.Client.Version != 1000 {
				b.Fatalf("the stream is at version %d", last.Client.Version)
			}
			// The same store read without snapshots, for comparison.
			plain, err := tenants.NewClients(store, tenants.WithSnapshotEvery(0))
			if err != nil {
				b.Fatal(err)
			}
			at := tenants.AtPosition(last.Position)
			for _, sub := range []struct {
				name    string
				cs      *tenants.Clients
				at      tenants.Instant
				version int64
			}{
				{"at", cs, at, 1000},
				// 99 events after the nearest snapshot: the most At folds.
				{"at 999", cs, at999, 999},
				{"at, no snapshots", plain, at, 1000},
				{"at 999, no snapshots", plain, at999, 999},
			} {
				b.Run(sub.name, func(b *testing.B) {
					for b.Loop() {
						v, err := sub.cs.At(ctx, "acme", id, sub.at)
						if err != nil || v.Version != sub.version {
							b.Fatalf("At = version %d, %v", v.Version, err)
						}
					}
				})
			}
			// What the store's read alone costs, for comparison.
			b.Run("stream read", func(b *testing.B) {
				for b.Loop() {
					if _, err := store.ReadStream(ctx, tenants.ClientStream("acme", id), 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkClientsAllAt lists the first page (50) of a tenant of 1,000
// clients with 5 events each as they were at its last position, and at
// a time after it (which reads the whole history: recording times do not
// follow the store's order across streams).
//
//	go test -run '^$' -bench BenchmarkClientsAllAt -benchtime 20x ./tenants/
func BenchmarkClientsAllAt(b *testing.B) {
	for _, backend := range []struct {
		name  string
		dbURL func() string
	}{{"sqlite", func() string { return "" }}, {"postgres", func() string { return dbURL }}} {
		b.Run(backend.name, func(b *testing.B) {
			ctx := b.Context()
			store := testnode.Store(b, backend.dbURL())
			ts, err := tenants.NewTenants(store, testnode.Keyring(b))
			if err != nil {
				b.Fatal(err)
			}
			cs, err := tenants.NewClients(store)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ts.Create(ctx, req, "acme", "Acme"); err != nil {
				b.Fatal(err)
			}
			// The clients go to the store directly, each in one append of
			// its registration and four updates, as the domain decides
			// them: through the commands the setup would take minutes.
			now := time.Now()
			ids := counter("evt-")
			var last eventstore.Position
			for i := range 1000 {
				id := fmt.Sprintf("client-%04d", i)
				s := spa(fmt.Sprintf("urn:acme/c%04d", i))
				events, err := client.Register(id, s, scope.Catalogue{}, nil, now)
				if err != nil {
					b.Fatal(err)
				}
				agg, err := client.Replay(events)
				if err != nil {
					b.Fatal(err)
				}
				for j := range 4 {
					name := fmt.Sprintf("SPA %d.%d", i, j)
					more, err := agg.Update(client.Patch{ClientName: &name}, scope.Catalogue{}, now)
					if err != nil {
						b.Fatal(err)
					}
					for _, ev := range more {
						if err := agg.Apply(ev); err != nil {
							b.Fatal(err)
						}
					}
					events = append(events, more...)
				}
				envs, claims, err := aggregate.Envelopes(events, eventstore.Metadata{Actor: "root", OccurredAt: now}, ids)
				if err != nil {
					b.Fatal(err)
				}
				if last, err = store.Append(ctx, tenants.ClientStream("acme", id), eventstore.NoStream, envs, claims...); err != nil {
					b.Fatal(err)
				}
			}
			for name, at := range map[string]tenants.Instant{"position": tenants.AtPosition(last), "time": tenants.AtTime(time.Now().Add(time.Hour))} {
				b.Run(name, func(b *testing.B) {
					for b.Loop() {
						page, next, err := cs.AllAt(ctx, "acme", at, "", 50)
						if err != nil || len(page) != 50 || next == "" {
							b.Fatalf("AllAt = %d clients, next %q, %v", len(page), next, err)
						}
					}
				})
			}
		})
	}
}
