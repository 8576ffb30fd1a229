package httpapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/projections"
	projsqlite "github.com/clavisiam/clavis/projections/sqlite"
)

// readModel runs the real read model of store: the SQLite backend in the
// store's own file, and a Projector that catches up every few
// milliseconds, as a node does while NATS is unavailable. This is the one
// place the HTTP tests build projections; the Projector is also the
// server's Waiter, so every write waits for it.
func readModel(t *testing.T, store *sqlite.Store) *projections.Projector {
	t.Helper()
	backend := projsqlite.New(store.DB())
	p, err := projections.NewProjector(backend, store, nil)
	if err != nil {
		t.Fatalf("new projector: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := p.CatchUp(ctx); err != nil && ctx.Err() == nil {
					t.Errorf("projector: %v", err)
					return
				}
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return p
}

// backendOf is the read model the projector writes.
func backendOf(store *sqlite.Store) projections.ReadModel { return projsqlite.New(store.DB()) }
