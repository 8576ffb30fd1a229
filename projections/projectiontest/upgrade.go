package projectiontest

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/migrations"
	"github.com/clavisiam/clavis/projections"
)

// UsedSecretIDsMigration is the version of the migration that gives
// client rows their used secret ids; the next one keeps tombstones of
// deleted clients.
const UsedSecretIDsMigration = 6

// RunUpgrade checks that rows written before the migration
// [UsedSecretIDsMigration] and the next come out of them as the fold
// would have written them: it takes db, the database of env, down to the
// version before them and up again, as an upgrade from there does.
func RunUpgrade(t *testing.T, env Env, d migrations.Dialect, db *sql.DB) {
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
	w.register("acme", "gone", settings(client.TypePublic, "Gone", "urn:acme/gone"))
	w.onClient("acme", "gone", func(c *client.Client, now time.Time) ([]domain.Event, error) { return c.Delete(now) })
	w.register("acme", "late", settings(client.TypePublic, "Late", "urn:acme/late"))
	w.events()
	p := projector(t, env.Backend, env.Store)
	if err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Events the projection has not applied when the upgrade runs.
	w.onClient("acme", "orders", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		return c.RotateSecret(client.Secret{ID: "s3", Hash: "sha256$s3"}, time.Hour, now)
	})
	w.onClient("acme", "late", func(c *client.Client, now time.Time) ([]domain.Event, error) { return c.Delete(now) })
	w.events()

	remigrate(t, d, db)
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
	if _, err := env.Backend.Client(ctx, "acme", "late"); !isNotFound(err) {
		t.Fatalf("a client deleted during the upgrade: %v", err)
	}

	// The upgraded rows refuse what the aggregates refuse.
	for _, bad := range []struct {
		id      string
		version int64
		event   domain.Event
		why     string
	}{
		{"orders", 4, client.SecretAdded{Secret: client.Secret{ID: "s2", Hash: "sha256$again", CreatedAt: w.tick()}, At: w.now}, "already used"},
		{"gone", 2, client.ClientActivated{At: w.tick()}, "already deleted"},
	} {
		envelopes, _, err := aggregate.Envelopes([]domain.Event{bad.event}, w.meta(), newID)
		if err != nil {
			t.Fatal(err)
		}
		if w.last, err = env.Store.Append(ctx, clientStream("acme", bad.id), bad.version, envelopes); err != nil {
			t.Fatal(err)
		}
		w.events()
		var ee *projections.EventError
		err = p.CatchUp(ctx)
		if !errors.As(err, &ee) || !errors.Is(err, domain.ErrCorruptEvent) || ee.EventID != envelopes[0].ID || !strings.Contains(err.Error(), bad.why) {
			t.Fatalf("catch up over %s of %s: err = %v, want an *EventError for it, %s", bad.event.EventType(), bad.id, err, bad.why)
		}
		// Step over it, as an operator would.
		err = env.Backend.Update(ctx, projections.Name, func(context.Context, eventstore.Position, projections.Loader) (*projections.Changes, error) {
			return &projections.Changes{Checkpoint: w.last}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// remigrate takes db down to the version before [UsedSecretIDsMigration]
// and up again.
func remigrate(t *testing.T, d migrations.Dialect, db *sql.DB) {
	t.Helper()
	fsys, err := migrations.FS(d)
	if err != nil {
		t.Fatal(err)
	}
	dialect := goose.DialectSQLite3
	if d == migrations.Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(t.Context(), UsedSecretIDsMigration-1); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
}
