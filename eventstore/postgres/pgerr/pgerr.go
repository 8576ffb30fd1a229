// Package pgerr tells the failures of a PostgreSQL connection from the
// failures of a statement, for every package that queries PostgreSQL on
// pgx/v5 (the event store and the read models in its database): the
// first become [eventstore.ErrUnavailable], which the HTTP layer answers
// with 503 and Retry-After, and a read that met one is tried once more
// on a fresh connection.
//
// When PostgreSQL restarts, every connection of a pool breaks, and the
// pool does not know until it uses them. pgxpool pings a connection that
// was idle for over a second before handing it out (its default
// ShouldPing), which is what pgx recommends over checking every
// connection; a connection used within the last second is handed out
// unchecked, fails, and is destroyed. [Retry] closes the rest of the
// pool's connections at the first such failure ([pgxpool.Pool.Reset]),
// since the same restart broke them, and tries the read again once; a
// write is retried only where its caller can tell whether the first try
// committed (the event store's appends, whose event ids are unique).
package pgerr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clavisiam/clavis/eventstore"
)

// Unavailable reports whether err means the database could not be
// reached or dropped the connection, rather than refusing the statement:
// a failure to connect (also when the context ended while the pool
// waited for a new connection), a broken or closed connection, or the
// server saying it is shutting down or starting up. A statement that
// outlived its context is the caller's timeout, not one.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, eventstore.ErrUnavailable) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return unavailableCode(pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// unavailableCode reports whether an SQLSTATE says the connection, not
// the statement, failed: class 08 (connection exception), 57P01 and
// 57P02 (the server is shutting down, or another backend crashed), 57P03
// (cannot connect now: starting up) and 53300 (too many connections).
func unavailableCode(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "53300":
		return true
	}
	return len(code) == 5 && code[:2] == "08"
}

// Classify returns err wrapped in [eventstore.ErrUnavailable] when
// [Unavailable] says so, and err unchanged otherwise (nil stays nil).
func Classify(err error) error {
	if !Unavailable(err) || errors.Is(err, eventstore.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
}

// Retry runs read, which must change nothing. When it fails because the
// database could not be reached, Retry closes the pool's connections
// (the failure most likely broke them all) and runs read once more, on a
// new connection, unless ctx has ended. The error it returns is
// classified.
func Retry[T any](ctx context.Context, pool *pgxpool.Pool, read func() (T, error)) (T, error) {
	v, err := read()
	if !Unavailable(err) {
		return v, err
	}
	pool.Reset()
	if ctx.Err() != nil {
		return v, Classify(err)
	}
	v, err = read()
	return v, Classify(err)
}
