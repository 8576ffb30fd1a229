package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

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
	projectiontest.RunUpgrade(t, env, func(t testing.TB) {
		db := stdlib.OpenDBFromPool(s.Pool())
		defer db.Close()
		fsys, err := migrations.FS(migrations.Postgres)
		if err != nil {
			t.Fatal(err)
		}
		p, err := goose.NewProvider(goose.DialectPostgres, db, fsys)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(t.Context(), projectiontest.UsedSecretIDsMigration-1); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Up(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}
