package projectiontest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/projections"
)

// UsedSecretIDsMigration is the version of the migration that gives
// client rows their used secret ids.
const UsedSecretIDsMigration = 6

// RunUpgrade checks that rows written before the migration
// [UsedSecretIDsMigration] come out of it as the fold would have written
// them: redo takes the database of env down to the version before it and
// up again, as an upgrade from there does.
func RunUpgrade(t *testing.T, env Env, redo func(t testing.TB)) {
	ctx := t.Context()
	w := newWorld(t, env.Store)
	w.register("acme", "orders", settings(client.TypeConfidential, "Orders", "urn:acme/orders"))
	w.register("acme", "spa", settings(client.TypePublic, "SPA", "urn:acme/spa"))
	w.onClient("acme", "orders", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		return c.AddSecret(client.Secret{ID: "s2", Hash: "sha256$s2"}, now)
	})
	w.onClient("acme", "orders", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		return c.RevokeSecret("s2", now)
	})
	w.events()
	p := projector(t, env.Backend, env.Store)
	if err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	// An event the projection has not applied when the upgrade runs.
	w.onClient("acme", "orders", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		return c.RotateSecret(client.Secret{ID: "s3", Hash: "sha256$s3"}, time.Hour, now)
	})
	w.events()

	redo(t)
	used := func(id string, want ...string) {
		t.Helper()
		v, err := env.Backend.Client(ctx, "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(v.UsedSecretIDs, want) {
			t.Fatalf("%s: used secret ids %q, want %q", id, v.UsedSecretIDs, want)
		}
	}
	used("orders", "s1", "s2")
	used("spa")

	if err := p.CatchUp(ctx); err != nil {
		t.Fatalf("catch up after the upgrade: %v", err)
	}
	used("orders", "s1", "s2", "s3")

	// The upgraded row refuses what the aggregate refuses.
	reused := client.SecretAdded{Secret: client.Secret{ID: "s2", Hash: "sha256$again", CreatedAt: w.tick()}, At: w.now}
	envelopes, _, err := aggregate.Envelopes([]domain.Event{reused}, w.meta(), newID)
	if err != nil {
		t.Fatal(err)
	}
	if w.last, err = env.Store.Append(ctx, clientStream("acme", "orders"), 4, envelopes); err != nil {
		t.Fatal(err)
	}
	w.events()
	var ee *projections.EventError
	if err := p.CatchUp(ctx); !errors.As(err, &ee) || !errors.Is(err, domain.ErrCorruptEvent) || ee.EventID != envelopes[0].ID {
		t.Fatalf("catch up over a reused secret id: err = %v, want an *EventError for it", err)
	}
}
