package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	essqlite "github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/migrations"
	"github.com/clavisiam/clavis/projections/projectiontest"
	"github.com/clavisiam/clavis/projections/sqlite"
)

func TestUpgrade(t *testing.T) {
	s, err := essqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	writer, reader := s.DB()
	env := projectiontest.Env{Store: s, Backend: sqlite.New(writer, reader)}
	projectiontest.RunUpgrade(t, env, func(t testing.TB) {
		fsys, err := migrations.FS(migrations.SQLite)
		if err != nil {
			t.Fatal(err)
		}
		p, err := goose.NewProvider(goose.DialectSQLite3, writer, fsys)
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
