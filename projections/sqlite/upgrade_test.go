package sqlite_test

import (
	"path/filepath"
	"testing"

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
	projectiontest.RunUpgrade(t, env, migrations.SQLite, writer)
}
