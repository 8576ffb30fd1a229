package node

import (
	"fmt"
	"log/slog"

	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/projections/auditlog"
	projpostgres "github.com/clavisiam/clavis/projections/postgres"
	projsqlite "github.com/clavisiam/clavis/projections/sqlite"
)

// newAuditLog builds the audit log kept in the store's own database,
// signing with keys. (Stands in for the audit log's own wiring until it
// lands; the audit API only needs a Log that runs.)
func newAuditLog(store Backend, keys auditlog.Keys, log *slog.Logger) (*auditlog.Log, error) {
	var as auditlog.Store
	switch s := store.(type) {
	case *sqlite.Store:
		w, r := s.DB()
		as = projsqlite.NewAuditStore(w, r)
	case *postgres.Store:
		as = projpostgres.NewAuditStore(s.Pool())
	default:
		return nil, fmt.Errorf("no audit log for a %T store", store)
	}
	return auditlog.New(as, store, log, auditlog.WithKeys(keys))
}
