package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/auditlog/auditlogtest"
)

// TestTamper edits the database under a signed audit log, each way the
// issue lists, and checks that the offline verifier names the event.
func TestTamper(t *testing.T) {
	auditlogtest.RunTamper(t, func(t testing.TB) auditlogtest.Env {
		s, _ := testnode.Open(t, testnode.Config(t, dbURL))
		store := s.(*postgres.Store)
		log := auditlogtest.NewMemLog(store)
		return auditlogtest.Env{
			Store:   store,
			Dialect: auditlogtest.Postgres,
			Tx: func(ctx context.Context, fn func(auditlogtest.Exec) error) error {
				return pgx.BeginFunc(ctx, store.Pool(), func(tx pgx.Tx) error {
					return fn(func(q string, args ...any) error {
						_, err := tx.Exec(ctx, q, args...)
						return err
					})
				})
			},
			Log:  func(testing.TB) auditlogtest.Log { return log },
			Wipe: log.Wipe,
		}
	})
}
