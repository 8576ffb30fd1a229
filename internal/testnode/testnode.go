// Package testnode builds, for tests and benchmarks, what a node reads
// and writes without its network parts: an event store in SQLite under
// the test's temporary directory, the read model a projector keeps from
// it, a keyring under a random master key, and the tenant and client
// command services over them.
package testnode

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

// Node is a store, its read model and the services that write to it.
// The read model follows the store only when CatchUp is called.
type Node struct {
	Store     *sqlite.Store
	ReadModel *projsqlite.Backend
	Projector *projections.Projector
	Keys      *signing.Keyring
	Tenants   *tenants.Tenants
	// Clients checks API scopes against the read model's catalogues and
	// seals the secrets of client_secret_jwt clients, as serve's do.
	Clients *tenants.Clients
}

// New builds a Node, closed when tb ends.
func New(tb testing.TB) *Node {
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
	return &Node{Store: store, ReadModel: rm, Projector: projector, Keys: keys, Tenants: ts, Clients: cs}
}

// CatchUp brings the read model up to the store.
func (n *Node) CatchUp(tb testing.TB) {
	tb.Helper()
	if err := n.Projector.CatchUp(tb.Context()); err != nil {
		tb.Fatal(err)
	}
}
