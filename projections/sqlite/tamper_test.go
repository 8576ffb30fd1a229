package sqlite_test

import (
	"context"
	"testing"

	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/auditlog/auditlogtest"
)

// TestTamper edits the database under a signed audit log, each way the
// issue lists, and checks that the offline verifier names the event.
func TestTamper(t *testing.T) {
	auditlogtest.RunTamper(t, func(t testing.TB) auditlogtest.Env {
		s, _ := testnode.Open(t, testnode.Config(t, ""))
		store := s.(*sqlite.Store)
		log := auditlogtest.NewMemLog(store)
		return auditlogtest.Env{
			Store:   store,
			Dialect: auditlogtest.SQLite,
			Tx: func(ctx context.Context, fn func(auditlogtest.Exec) error) error {
				db, _ := store.DB()
				tx, err := db.BeginTx(ctx, nil)
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
			Log:  func(testing.TB) auditlogtest.Log { return log },
			Wipe: log.Wipe,
		}
	})
}
