package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/clavisiam/clavis/eventstore"
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

func TestAuditLog(t *testing.T) {
	auditlogtest.RunLog(t, func(t testing.TB) auditlogtest.Env {
		path := filepath.Join(t.TempDir(), "clavis.db")
		open := func(t testing.TB) (eventstore.Store, auditlog.Store) {
			t.Helper()
			s, err := essqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, sqlite.NewAuditStore(s.DB())
		}
		s, a := open(t)
		return auditlogtest.Env{Events: s, Store: a, Open: open, EditData: func(t testing.TB, id string, data []byte) {
			t.Helper()
			w, _ := s.(*essqlite.Store).DB()
			if _, err := w.ExecContext(t.Context(), `UPDATE events SET data = ? WHERE id = ?`, data, id); err != nil {
				t.Fatal(err)
			}
		}}
	})
}
