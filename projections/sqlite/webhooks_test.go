package sqlite_test

import (
	"path/filepath"
	"testing"

	essqlite "github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/projections/sqlite"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/projections/webhooks/webhookstest"
)

func TestWebhookStore(t *testing.T) {
	webhookstest.Run(t, func(t testing.TB) webhooks.Store {
		t.Helper()
		s, err := essqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return sqlite.NewWebhookStore(s.DB())
	})
}

func BenchmarkWebhookRecord(b *testing.B) {
	webhookstest.BenchRecord(b, func(t testing.TB) webhooks.Store {
		s, err := essqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return sqlite.NewWebhookStore(s.DB())
	})
}
