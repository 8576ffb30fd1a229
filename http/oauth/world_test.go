package oauth_test

import (
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/projections"
	projsqlite "github.com/clavisiam/clavis/projections/sqlite"
	"github.com/clavisiam/clavis/tenants"
	"github.com/clavisiam/clavis/tenants/signing"
)

// world is what the provider reads, as a node has it: an event store in
// SQLite, its read model kept by a projector, a keyring, and the
// command services that write them.
type world struct {
	store     *sqlite.Store
	rm        *projsqlite.Backend
	projector *projections.Projector
	keys      *signing.Keyring
	tenants   *tenants.Tenants
	clients   *tenants.Clients
}

func newWorld(tb testing.TB) *world {
	tb.Helper()
	store, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "clavis.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	rm := projsqlite.New(store.DB())
	projector, err := projections.NewProjector(rm, store, nil)
	if err != nil {
		tb.Fatal(err)
	}
	master := make([]byte, signing.MasterKeySize)
	_, _ = rand.Read(master)
	keys, err := signing.NewKeyring(master)
	if err != nil {
		tb.Fatal(err)
	}
	ts, err := tenants.NewTenants(store, keys)
	if err != nil {
		tb.Fatal(err)
	}
	cs, err := tenants.NewClients(store, tenants.WithCatalogues(rm), tenants.WithSecretSealer(keys))
	if err != nil {
		tb.Fatal(err)
	}
	return &world{store: store, rm: rm, projector: projector, keys: keys, tenants: ts, clients: cs}
}

// caughtUp brings the read model up to the store.
func (w *world) caughtUp(tb testing.TB) {
	tb.Helper()
	if err := w.projector.CatchUp(tb.Context()); err != nil {
		tb.Fatal(err)
	}
}
