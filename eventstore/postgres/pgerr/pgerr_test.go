package pgerr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres/pgerr"
)

func TestUnavailable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connect error", fmt.Errorf("read: %w", &pgconn.ConnectError{}), true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"connection reset", fmt.Errorf("write: %w", syscall.ECONNRESET), true},
		{"closed connection", net.ErrClosed, true},
		{"class 08", &pgconn.PgError{Code: "08006"}, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"already classified", fmt.Errorf("x: %w", eventstore.ErrUnavailable), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"version conflict", &pgconn.PgError{Code: "CL409"}, false},
		{"query cancelled", &pgconn.PgError{Code: "57014"}, false},
		{"context cancelled", fmt.Errorf("read: %w", context.Canceled), false},
		{"deadline", fmt.Errorf("read: %w", context.DeadlineExceeded), false},
		{"other", errors.New("boom"), false},
	}
	for _, c := range cases {
		if got := pgerr.Unavailable(c.err); got != c.want {
			t.Errorf("Unavailable(%s) = %v, want %v", c.name, got, c.want)
		}
		classified := pgerr.Classify(c.err)
		if got := errors.Is(classified, eventstore.ErrUnavailable); got != c.want {
			t.Errorf("Classify(%s) matches ErrUnavailable: %v, want %v", c.name, got, c.want)
		}
		if c.err != nil && !errors.Is(classified, c.err) {
			t.Errorf("Classify(%s) lost its cause: %v", c.name, classified)
		}
		if again := pgerr.Classify(classified); again != classified {
			t.Errorf("Classify(%s) wrapped twice: %v", c.name, again)
		}
	}
}
