package sqlite_test

import (
	"path/filepath"
	"testing"

	essqlite "github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/projections/auditlog/auditlogtest"
	"github.com/clavisiam/clavis/projections/sqlite"
)

// openAudit opens an event store in a fresh file and the audit log store
// in it, as a node opens them.
func openAudit(t testing.TB) (*essqlite.Store, *sqlite.AuditStore) {
	t.Helper()
	s, err := essqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, sqlite.NewAuditStore(s.DB())
}

func TestAuditStore(t *testing.T) {
	auditlogtest.Run(t, func(t testing.TB) auditlog.Store {
		_, a := openAudit(t)
		return a
	})
}
