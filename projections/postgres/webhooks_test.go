package postgres_test

import (
	"testing"

	espg "github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/projections/postgres"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/projections/webhooks/webhookstest"
)

func TestWebhookStore(t *testing.T) {
	webhookstest.Run(t, func(t testing.TB) webhooks.Store {
		t.Helper()
		s, err := espg.Open(t.Context(), pgtest.Schema(t, dbURL))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return postgres.NewWebhookStore(s.Pool())
	})
}

func BenchmarkWebhookRecord(b *testing.B) {
	webhookstest.BenchRecord(b, func(t testing.TB) webhooks.Store {
		s, err := espg.Open(t.Context(), pgtest.Schema(t, dbURL))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return postgres.NewWebhookStore(s.Pool())
	})
}
