package postgres_test

import (
	"testing"

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
