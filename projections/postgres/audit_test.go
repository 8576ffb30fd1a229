package postgres_test

import (
	"fmt"
	"testing"

	"github.com/clavisiam/clavis/eventstore"
	espg "github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/projections/auditlog/auditlogtest"
	"github.com/clavisiam/clavis/projections/postgres"
)

// openAudit opens an event store in the schema url names and the audit
// log store in it, as a node opens them.
func openAudit(t testing.TB, url string) (*espg.Store, *postgres.AuditStore) {
	t.Helper()
	s, err := espg.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, postgres.NewAuditStore(s.Pool())
}

func TestAuditStore(t *testing.T) {
	auditlogtest.Run(t, func(t testing.TB) auditlog.Store {
		_, a := openAudit(t, pgtest.Schema(t, dbURL))
		return a
	})
}

// newAuditEnv opens an event store and the audit log store in a fresh
// database.
func newAuditEnv(t testing.TB) auditlogtest.Env {
	url := pgtest.Schema(t, dbURL)
	open := func(t testing.TB) (eventstore.Store, auditlog.Store) {
		t.Helper()
		return openAudit(t, url)
	}
	s, a := openAudit(t, url)
	return auditlogtest.Env{Events: s, Store: a, Open: open, EditData: func(t testing.TB, id string, data []byte) {
		t.Helper()
		if _, err := s.Pool().Exec(t.Context(), `UPDATE events SET data = $1 WHERE id = $2`, data, id); err != nil {
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
