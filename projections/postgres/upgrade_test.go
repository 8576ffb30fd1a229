package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5/stdlib"

	espg "github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/migrations"
	"github.com/clavisiam/clavis/projections/postgres"
	"github.com/clavisiam/clavis/projections/projectiontest"
)

func TestUpgrade(t *testing.T) {
	s, err := espg.Open(t.Context(), pgtest.Schema(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	env := projectiontest.Env{Store: s, Backend: postgres.New(s.Pool())}
	db := stdlib.OpenDBFromPool(s.Pool())
	t.Cleanup(func() { db.Close() })
	projectiontest.RunUpgrade(t, env, migrations.Postgres, db)
}
