package sqlite

import (
	"context"
	"database/sql"
	"errors"
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

// hold has the writer run an append and then wait, its transaction open,
// until commit is called.
func hold(ctx context.Context, es eventstore.Store, stream eventstore.StreamID, expected int64, events []eventstore.Event) (func() error, error) {
	s := es.(*Store)
	written := make(chan error, 1)
	release := make(chan struct{})
	finished := make(chan error, 1)
	go func() {
		_, err := s.submit(ctx, &job{alone: func(tx *sql.Tx) error {
			_, err := s.appendTx(ctx, tx, stream, expected, events, nil)
			written <- err
			<-release
			return err
		}})
		finished <- err
	}()
	if err := <-written; err != nil {
		close(release)
		<-finished
		return nil, err
	}
	return func() error { close(release); return <-finished }, nil
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

// TestFullSync checks that WithFullSync is what decides whether a commit
// waits for the disk: synchronous=NORMAL (1) by default, FULL (2) with it.
func TestFullSync(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []Option
		want int
	}{
		{"default", nil, 1},
		{"off", []Option{WithFullSync(false)}, 1},
		{"on", []Option{WithFullSync(true)}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			var got int
			if err := s.write.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("synchronous = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestOpenOptions checks that a nil option is refused with an error that
// wraps ErrInvalidOption, and that a nil logger is no error.
func TestOpenOptions(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "clavis.db")
	if _, err := Open(t.Context(), path, nil); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("a nil option: %v, want %v", err, ErrInvalidOption)
	}
	s, err := Open(t.Context(), path, WithLogger(nil))
	if err != nil {
		t.Fatalf("a nil logger: %v", err)
	}
	s.Close()
}
