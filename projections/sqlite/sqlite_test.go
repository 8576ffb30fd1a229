package sqlite_test

import (
	"testing"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/projectiontest"
)

// newEnv opens an event store and the read model in a fresh file, as a
// node opens them.
func newEnv(t testing.TB) projectiontest.Env {
	cfg := testnode.Config(t, "")
	open := func(t testing.TB) (eventstore.Store, projections.Backend) {
		t.Helper()
		return testnode.Open(t, cfg)
	}
	s, b := open(t)
	return projectiontest.Env{Store: s, Backend: b, Node: open}
}

func TestConformance(t *testing.T) { projectiontest.Run(t, newEnv) }

func BenchmarkRebuild(b *testing.B) { projectiontest.BenchRebuild(b, newEnv) }
