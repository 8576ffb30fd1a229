package postgres

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/eventstore/storetest"
)

var dbURL string

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &dbURL)) }

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), pgtest.Schema(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hold runs an append inside an explicit transaction and leaves it open,
// so the suite can let a later append commit first.
func hold(ctx context.Context, es eventstore.Store, stream eventstore.StreamID, expected int64, events []eventstore.Event) (func() error, error) {
	s := es.(*Store)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.append(ctx, tx, stream, expected, events, nil); err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	return func() error { return tx.Commit(ctx) }, nil
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New:  func(t *testing.T) eventstore.Store { return newStore(t) },
		Hold: hold,
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) eventstore.Store { return newStore(b) })
}

// TestOpenOptions checks that a nil option is refused with an error that
// wraps ErrInvalidOption, and that a nil logger is no error.
func TestOpenOptions(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t, dbURL)
	if _, err := Open(t.Context(), url, nil); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("a nil option: %v, want %v", err, ErrInvalidOption)
	}
	s, err := Open(t.Context(), url, WithLogger(nil))
	if err != nil {
		t.Fatalf("a nil logger: %v", err)
	}
	s.Close()
}
