package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/clavisiam/clavis/eventstore"
	essqlite "github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/projectiontest"
	"github.com/clavisiam/clavis/projections/sqlite"
)

// newEnv opens an event store and the read model in a fresh file.
func newEnv(t testing.TB) projectiontest.Env {
	path := filepath.Join(t.TempDir(), "clavis.db")
	open := func(t testing.TB) (eventstore.Store, projections.Backend) {
		t.Helper()
		s, err := essqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, sqlite.New(s.DB())
	}
	s, b := open(t)
	return projectiontest.Env{Store: s, Backend: b, Node: open}
}

func TestConformance(t *testing.T) { projectiontest.Run(t, newEnv) }

func BenchmarkRebuild(b *testing.B) { projectiontest.BenchRebuild(b, newEnv) }
