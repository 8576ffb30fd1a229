package postgres_test

import (
	"os"
	"testing"

	"github.com/clavisiam/clavis/eventstore"
	espg "github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/postgres"
	"github.com/clavisiam/clavis/projections/projectiontest"
)

var dbURL string

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &dbURL)) }

// newEnv opens an event store and the read model in a fresh schema.
func newEnv(t testing.TB) projectiontest.Env {
	url := pgtest.Schema(t, dbURL)
	open := func(t testing.TB) (eventstore.Store, projections.Backend) {
		t.Helper()
		s, err := espg.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, postgres.New(s.Pool())
	}
	s, b := open(t)
	return projectiontest.Env{Store: s, Backend: b, Node: open}
}

func TestConformance(t *testing.T) {
	projectiontest.Run(t, newEnv)
	projectiontest.RunOptimistic(t, newEnv)
}

func BenchmarkRebuild(b *testing.B) { projectiontest.BenchRebuild(b, newEnv) }
