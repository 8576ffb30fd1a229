package sqlite_test

import (
	"context"
	"testing"

	essqlite "github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/projections/auditlog/auditlogtest"
	"github.com/clavisiam/clavis/projections/sqlite"
)

// TestTamper edits the events table under a signed audit log, each way
// the issue lists, and checks that the offline verifier names the event.
func TestTamper(t *testing.T) {
	auditlogtest.RunTamper(t, func(t testing.TB) auditlogtest.TamperEnv {
		s, _ := testnode.Open(t, testnode.Config(t, ""))
		store := s.(*essqlite.Store)
		return auditlogtest.TamperEnv{
			Store:   store,
			Dialect: auditlogtest.SQLite,
			Tx: func(ctx context.Context, fn func(auditlogtest.Exec) error) error {
				writer, _ := store.DB()
				tx, err := writer.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback()
				if err := fn(func(q string, args ...any) error {
					_, err := tx.ExecContext(ctx, q, args...)
					return err
				}); err != nil {
					return err
				}
				return tx.Commit()
			},
			Audit: func(testing.TB) auditlog.Store { return sqlite.NewAuditStore(store.DB()) },
		}
	})
}
