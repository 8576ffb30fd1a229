package pgproc_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clavisiam/clavis/eventstore/postgres/pgerr"
	"github.com/clavisiam/clavis/internal/pgproc"
)

// TestRestartStopKill runs a server of the test's own through a restart,
// a stop and a kill: sessions open across a restart or a kill fail as a
// broken connection, committed rows survive each, and a stopped or
// killed server refuses connections until Restart.
func TestRestartStopKill(t *testing.T) {
	t.Parallel()
	s := pgproc.Start(t)
	ctx := t.Context()
	conn := connect(t, s)
	if _, err := conn.Exec(ctx, `CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)`); err != nil {
		t.Fatal(err)
	}

	s.Restart()
	if _, err := conn.Exec(ctx, `SELECT 1`); !pgerr.Unavailable(err) {
		t.Errorf("a session across a restart: %v, want a broken connection", err)
	}
	conn = connect(t, s)
	insert(t, conn, 2)

	s.Stop()
	if c, err := pgx.Connect(ctx, s.URL()); err == nil {
		c.Close(ctx)
		t.Errorf("a stopped server accepted a connection")
	} else if !pgerr.Unavailable(err) {
		t.Errorf("connecting to a stopped server: %v, want unavailable", err)
	}
	s.Restart()
	conn = connect(t, s)
	insert(t, conn, 3)

	s.Kill()
	if _, err := conn.Exec(ctx, `SELECT 1`); !pgerr.Unavailable(err) {
		t.Errorf("a session across a kill: %v, want a broken connection", err)
	}
	s.Restart()
	conn = connect(t, s)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM kept`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d rows after a restart, a stop and a kill, want 3", n)
	}
}

func connect(t *testing.T, s *pgproc.Server) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), s.URL())
	if err != nil {
		t.Fatalf("connect to %s: %v", s.URL(), err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func insert(t *testing.T, conn *pgx.Conn, n int) {
	t.Helper()
	if _, err := conn.Exec(t.Context(), `INSERT INTO kept VALUES ($1)`, n); err != nil {
		t.Fatal(err)
	}
}
