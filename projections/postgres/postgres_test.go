package postgres_test

import (
	"os"
	"testing"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/projectiontest"
)

var dbURL string

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &dbURL)) }

// newEnv opens an event store and the read model in a fresh schema, as
// a node opens them.
func newEnv(t testing.TB) projectiontest.Env {
	cfg := testnode.Config(t, dbURL)
	open := func(t testing.TB) (eventstore.Store, projections.Backend) {
		t.Helper()
		return testnode.Open(t, cfg)
	}
	s, b := open(t)
	return projectiontest.Env{Store: s, Backend: b, Node: open}
}

func TestConformance(t *testing.T) {
	projectiontest.Run(t, newEnv)
	projectiontest.RunOptimistic(t, newEnv)
}

func BenchmarkRebuild(b *testing.B) { projectiontest.BenchRebuild(b, newEnv) }
