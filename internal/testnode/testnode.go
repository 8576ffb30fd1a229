// Package testnode builds nodes for tests and benchmarks. Start runs a
// whole node, built by node.New and run as `clavis serve` runs it, over
// HTTP on a free port, optionally on a NATS server of the test's own
// (StartNATS); New builds what a node reads and writes without its
// network parts: an event store in SQLite under the test's temporary
// directory, the read model a projector keeps from it, a keyring under a
// random master key, and the tenant and client command services over
// them. Open and Store open a store as a node opens it.
package testnode

import (
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/internal/node"
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
	// Master is the master key Keys holds, for a keyring that replaces
	// it.
	Master  []byte
	Tenants *tenants.Tenants
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
	keys, master := keyring(tb)
	ts, err := tenants.NewTenants(store, keys)
	if err != nil {
		tb.Fatal(err)
	}
	cs, err := tenants.NewClients(store, tenants.WithCatalogues(rm), tenants.WithSecretSealer(keys))
	if err != nil {
		tb.Fatal(err)
	}
	return &Node{Store: store, ReadModel: rm, Projector: projector, Keys: keys, Master: master, Tenants: ts, Clients: cs}
}

// Keyring seals signing keys under a random master key.
func Keyring(tb testing.TB) *signing.Keyring {
	keys, _ := keyring(tb)
	return keys
}

// keyring is Keyring, and its master key.
func keyring(tb testing.TB) (*signing.Keyring, []byte) {
	tb.Helper()
	master := make([]byte, signing.MasterKeySize)
	_, _ = rand.Read(master)
	keys, err := signing.NewKeyring(master)
	if err != nil {
		tb.Fatal(err)
	}
	return keys, master
}

// Open opens, migrated, the event store cfg selects, as a node opens it,
// and the read model in the store's database. The store is closed when
// tb ends.
func Open(tb testing.TB, cfg node.Config) (node.Backend, projections.Backend) {
	tb.Helper()
	s, err := node.OpenStore(tb.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	rm, err := node.ReadModel(s)
	if err != nil {
		tb.Fatalf("read model: %v", err)
	}
	return s, rm
}

// Store opens, migrated, the event store a node of Config(tb, dbURL)
// opens: SQLite under tb.TempDir() when dbURL is empty, else a schema of
// its own in dbURL. It is closed when tb ends.
func Store(tb testing.TB, dbURL string) node.Backend {
	tb.Helper()
	s, _ := Open(tb, Config(tb, dbURL))
	return s
}

// CatchUp brings the read model up to the store.
func (n *Node) CatchUp(tb testing.TB) {
	tb.Helper()
	if err := n.Projector.CatchUp(tb.Context()); err != nil {
		tb.Fatal(err)
	}
}
