package sqlite_test

import (
	"fmt"
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

// newAuditEnv opens an event store and the audit log store in a fresh
// database.
func newAuditEnv(t testing.TB) auditlogtest.Env {
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
}

func TestAuditLog(t *testing.T) { auditlogtest.RunLog(t, newAuditEnv) }

func BenchmarkAppendWithoutAuditLog(b *testing.B) { auditlogtest.BenchAppend(b, newAuditEnv(b), false) }

func BenchmarkAppendWithAuditLog(b *testing.B) { auditlogtest.BenchAppend(b, newAuditEnv(b), true) }

// BenchmarkProofs measures proofs in a log of a thousand leaves, and of
// a million unless -short.
func BenchmarkProofs(b *testing.B) {
	for _, n := range []int64{1000, 1_000_000} {
		b.Run(fmt.Sprintf("leaves=%d", n), func(b *testing.B) {
			if n > 1000 && testing.Short() {
				b.Skip("a million leaves take a while to fill; run without -short")
			}
			auditlogtest.BenchProofs(b, newAuditEnv(b), n)
		})
	}
}
