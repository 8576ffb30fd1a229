package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/storetest"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "clavis.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hold runs an append in a write transaction and leaves it open.
func hold(ctx context.Context, es eventstore.Store, stream eventstore.StreamID, expected int64, events []eventstore.Event) (func() error, error) {
	s := es.(*Store)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := appendTx(ctx, tx, stream, expected, events, nil); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return tx.Commit, nil
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New:               func(t *testing.T) eventstore.Store { return newStore(t) },
		Hold:              hold,
		SerializedWriters: true,
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) eventstore.Store { return newStore(b) })
}
