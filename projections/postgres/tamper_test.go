package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	espg "github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/projections/auditlog/auditlogtest"
	"github.com/clavisiam/clavis/projections/postgres"
)

// TestTamper edits the events table under a signed audit log, each way
// the issue lists, and checks that the offline verifier names the event.
func TestTamper(t *testing.T) {
	auditlogtest.RunTamper(t, func(t testing.TB) auditlogtest.TamperEnv {
		s, _ := testnode.Open(t, testnode.Config(t, dbURL))
		store := s.(*espg.Store)
		return auditlogtest.TamperEnv{
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
			Audit: func(testing.TB) auditlog.Store { return postgres.NewAuditStore(store.Pool()) },
		}
	})
}
