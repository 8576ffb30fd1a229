package aggregate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/eventstore/sqlite"
)

var dbURL string

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &dbURL)) }

// backends runs fn against a fresh store of each backend.
func backends(t *testing.T, fn func(t *testing.T, s eventstore.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		s, err := postgres.Open(t.Context(), pgtest.Schema(t, dbURL))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		fn(t, s)
	})
}

var seq atomic.Int64

func newID() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", seq.Add(1)) }

var (
	now  = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cat  = scope.NewCatalogue()
	meta = eventstore.Metadata{Actor: "root", CorrelationID: "req-1", OccurredAt: now}
)

// signingKey is a valid key for a new tenant.
var signingKey = tenant.NewKey{
	KID:       "k1",
	Alg:       tenant.AlgES256,
	PublicJWK: json.RawMessage(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1","alg":"ES256","use":"sig"}`),
	Sealed:    "v1.test.sealed",
}

func clientStream(tenant, id string) eventstore.StreamID {
	return eventstore.StreamID{Tenant: tenant, Type: "client", ID: id}
}

func settings(code string) client.Settings {
	s := client.DefaultSettings(client.TypeConfidential)
	s.ClientName = "Orders"
	s.Code = code
	s.RedirectURIs = []string{"https://orders.example.com/cb"}
	s.DefaultScopes = []string{"openid"}
	return s
}

func register(ctx context.Context, s eventstore.Store, tenant, id string, st client.Settings) (aggregate.Result, error) {
	secret := &client.Secret{ID: "s1", Hash: "sha256$abc"}
	return aggregate.Execute(ctx, s, aggregate.Command[*client.Client]{
		Stream: clientStream(tenant, id),
		Decode: client.Decode,
		Replay: client.Replay,
		Decide: func(*client.Client) ([]domain.Event, error) { return client.Register(id, st, cat, secret, now) },
		Meta:   meta,
		NewID:  newID,
	})
}

func update(ctx context.Context, s eventstore.Store, tenant, id string, decide func(*client.Client) ([]domain.Event, error)) (aggregate.Result, error) {
	return aggregate.Execute(ctx, s, aggregate.Command[*client.Client]{
		Stream: clientStream(tenant, id), Decode: client.Decode, Replay: client.Replay,
		Decide: decide, Meta: meta, NewID: newID,
	})
}

func load(t *testing.T, s eventstore.Store, tenant, id string) *client.Client {
	t.Helper()
	events, _, err := aggregate.Load(t.Context(), s, clientStream(tenant, id), client.Decode)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func assertEmpty(t *testing.T, s eventstore.Store, st eventstore.StreamID) {
	t.Helper()
	got, err := s.ReadStream(t.Context(), st, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("%s has %d events, want none", st, len(got))
	}
}

func TestRegisterAndReload(t *testing.T) {
	backends(t, func(t *testing.T, s eventstore.Store) {
		res, err := register(t.Context(), s, "acme", "c1", settings("urn:acme/orders"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Version != 1 || len(res.Events) != 1 || res.Events[0].Type != "client.registered" {
			t.Fatalf("result = %+v", res)
		}
		if res.Events[0].Meta.Actor != "root" || res.Events[0].Meta.CorrelationID != "req-1" {
			t.Fatalf("metadata = %+v", res.Events[0].Meta)
		}
		c := load(t, s, "acme", "c1")
		if c.ID() != "c1" || c.Settings().Code != "urn:acme/orders" || c.Version() != 1 || !c.Active() {
			t.Fatalf("reloaded client = %s %s v%d active=%v", c.ID(), c.Settings().Code, c.Version(), c.Active())
		}
		// An idempotent command appends nothing.
		res, err = update(t.Context(), s, "acme", "c1", func(c *client.Client) ([]domain.Event, error) { return c.Activate(now) })
		if err != nil || len(res.Events) != 0 || res.Version != 1 {
			t.Fatalf("activate an active client: %+v, %v", res, err)
		}
	})
}

func TestInvalidCommandAppendsNothing(t *testing.T) {
	backends(t, func(t *testing.T, s eventstore.Store) {
		bad := settings("not-a-urn")
		bad.RedirectURIs = []string{"http://evil.example.com/cb#frag"}
		_, err := register(t.Context(), s, "acme", "c1", bad)
		var ve *domain.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("err = %v, want a *domain.ValidationError", err)
		}
		fields := map[string]bool{}
		for _, f := range ve.Fields {
			fields[f.Field] = true
		}
		for _, want := range []string{"code", "redirect_uris[0]"} {
			if !fields[want] {
				t.Errorf("validation error %v does not name %s", err, want)
			}
		}
		assertEmpty(t, s, clientStream("acme", "c1"))

		if _, err := register(t.Context(), s, "acme", "c2", settings("urn:acme/ok")); err != nil {
			t.Fatal(err)
		}
		_, err = update(t.Context(), s, "acme", "c2", func(c *client.Client) ([]domain.Event, error) {
			return c.Update(client.Patch{AccessTokenLifetime: ptrTo(5)}, cat, now)
		})
		if !errors.As(err, &ve) || ve.Fields[0].Field != "access_token_lifetime" {
			t.Fatalf("err = %v, want a validation error on access_token_lifetime", err)
		}
		if c := load(t, s, "acme", "c2"); c.Version() != 1 {
			t.Fatalf("refused update left the client at version %d", c.Version())
		}
	})
}

func ptrTo[T any](v T) *T { return &v }

func TestCodeIsUniquePerTenantAndReleasedOnDelete(t *testing.T) {
	backends(t, func(t *testing.T, s eventstore.Store) {
		ctx := t.Context()
		if _, err := register(ctx, s, "acme", "c1", settings("urn:acme/orders")); err != nil {
			t.Fatal(err)
		}
		_, err := register(ctx, s, "acme", "c2", settings("urn:acme/orders"))
		var ce *eventstore.ClaimError
		if !errors.As(err, &ce) || ce.Kind != client.ClaimKindClientCode {
			t.Fatalf("second client with the same code: err = %v, want a client_code claim error", err)
		}
		assertEmpty(t, s, clientStream("acme", "c2"))
		// Another tenant may use the same code, but never the same client id.
		if _, err := register(ctx, s, "globex", "c2", settings("urn:acme/orders")); err != nil {
			t.Fatal(err)
		}
		_, err = register(ctx, s, "globex", "c1", settings("urn:globex/other"))
		if !errors.As(err, &ce) || ce.Kind != client.ClaimKindClientID {
			t.Fatalf("reused client id: err = %v, want a client_id claim error", err)
		}
		// Deleting releases the code, not the id.
		if _, err := update(ctx, s, "acme", "c1", func(c *client.Client) ([]domain.Event, error) { return c.Delete(now) }); err != nil {
			t.Fatal(err)
		}
		if _, err := register(ctx, s, "acme", "c3", settings("urn:acme/orders")); err != nil {
			t.Fatalf("code of a deleted client: %v", err)
		}
		_, err = update(ctx, s, "acme", "c1", func(c *client.Client) ([]domain.Event, error) { return c.Activate(now) })
		if !errors.Is(err, domain.ErrDeleted) {
			t.Fatalf("command on a deleted client: err = %v, want ErrDeleted", err)
		}
	})
}

func TestConcurrentChangeConflicts(t *testing.T) {
	backends(t, func(t *testing.T, s eventstore.Store) {
		ctx := t.Context()
		if _, err := register(ctx, s, "acme", "c1", settings("urn:acme/orders")); err != nil {
			t.Fatal(err)
		}
		// While this command decides, another one commits.
		_, err := update(ctx, s, "acme", "c1", func(c *client.Client) ([]domain.Event, error) {
			if _, err := update(ctx, s, "acme", "c1", func(c *client.Client) ([]domain.Event, error) {
				return c.Deactivate("incident", now)
			}); err != nil {
				t.Fatal(err)
			}
			return c.Update(client.Patch{ClientName: ptrTo("Renamed")}, cat, now)
		})
		if !errors.Is(err, eventstore.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
		c := load(t, s, "acme", "c1")
		if c.Version() != 2 || c.Settings().ClientName != "Orders" || c.Active() {
			t.Fatalf("client = v%d %q active=%v; want v2, unrenamed, inactive", c.Version(), c.Settings().ClientName, c.Active())
		}
	})
}

func TestTenantSlugIsUnique(t *testing.T) {
	backends(t, func(t *testing.T, s eventstore.Store) {
		create := func(slug string) error {
			_, err := aggregate.Execute(t.Context(), s, aggregate.Command[*tenant.Tenant]{
				Stream: eventstore.StreamID{Tenant: slug, Type: "tenant", ID: slug},
				Decode: tenant.Decode, Replay: tenant.Replay,
				Decide: func(*tenant.Tenant) ([]domain.Event, error) { return tenant.Create(slug, "Acme", signingKey, now) },
				Meta:   meta, NewID: newID,
			})
			return err
		}
		if err := create("acme"); err != nil {
			t.Fatal(err)
		}
		// A new tenant is created with its first signing key.
		got, err := s.ReadStream(t.Context(), eventstore.StreamID{Tenant: "acme", Type: "tenant", ID: "acme"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Type != tenant.EventTypeCreated || got[1].Type != tenant.EventTypeSigningKeyAdded || got[1].Version != 2 {
			t.Fatalf("tenant acme has %d events, want tenant.created and tenant.signing_key_added at version 2", len(got))
		}
		if err := create("acme"); !errors.Is(err, eventstore.ErrConflict) && !errors.Is(err, eventstore.ErrClaimTaken) {
			t.Fatalf("second tenant acme: err = %v, want a conflict", err)
		}
		var ve *domain.ValidationError
		if err := create("Not A Slug"); !errors.As(err, &ve) {
			t.Fatalf("bad slug: err = %v, want a validation error", err)
		}
	})
}

func TestUndecodableEventsFailTheLoad(t *testing.T) {
	backends(t, func(t *testing.T, s eventstore.Store) {
		ctx := t.Context()
		cases := []struct {
			name, typ, data string
			schema          int
			want            error
		}{
			{"unknown type", "client.teleported", `{}`, 1, domain.ErrUnknownEvent},
			{"unknown schema version", "client.registered", `{}`, 99, domain.ErrUnknownEvent},
			{"payload of the wrong shape", "client.registered", `{"client_id": 42}`, 1, domain.ErrCorruptEvent},
			{"unknown field", "client.activated", `{"at":"2026-11-23T12:00:00Z","extra":1}`, 1, domain.ErrCorruptEvent},
			{"not an object", "client.activated", `[1,2]`, 1, domain.ErrCorruptEvent},
		}
		for i, c := range cases {
			st := clientStream("acme", fmt.Sprintf("bad%d", i))
			e := eventstore.Event{ID: newID(), Type: c.typ, Schema: c.schema, Data: json.RawMessage(c.data), Meta: meta}
			if _, err := s.Append(ctx, st, 0, []eventstore.Event{e}); err != nil {
				t.Fatal(err)
			}
			_, _, err := aggregate.Load(ctx, s, st, client.Decode)
			var le *aggregate.LoadError
			if !errors.Is(err, c.want) || !errors.As(err, &le) || le.EventID != e.ID || le.Version != 1 {
				t.Errorf("%s: err = %v, want a *LoadError for %s wrapping %v", c.name, err, e.ID, c.want)
			}
		}
	})
}
