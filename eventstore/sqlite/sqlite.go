// Package sqlite is the embedded [eventstore.Store], on modernc.org/sqlite
// (pure Go, no cgo): the default when Clavis runs on one machine.
//
// SQLite runs one write transaction at a time, so the store keeps one
// writer connection and lets appends queue for it; a position is therefore
// also the commit order, and readers never meet a gap. Reads use a
// separate pool of connections that, in WAL mode, never block the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/migrations"
)

var _ eventstore.Store = (*Store)(nil)

// Store is the SQLite event store. Create it with [Open].
type Store struct {
	write *sql.DB // one connection: SQLite's single writer
	read  *sql.DB
	log   *slog.Logger
	stmts statements

	jobs    chan *job
	stop    chan struct{}
	stopped chan struct{}
	closing sync.Once
}

// statements are prepared once; a transaction binds them with tx.Stmt.
type statements struct {
	version, next, insert, claim, release, held *sql.Stmt
}

type options struct {
	migrate bool
	log     *slog.Logger
	durable bool
}

// Option configures [Open].
type Option func(*options) error

// ErrInvalidOption is wrapped by every error an [Option] returns.
var ErrInvalidOption = errors.New("sqlite: invalid option")

// WithMigrate sets whether Open applies pending migrations (default true).
func WithMigrate(on bool) Option {
	return func(o *options) error { o.migrate = on; return nil }
}

// WithLogger makes the store log to l. Without it, or with a nil l, the
// store logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		o.log = l
		return nil
	}
}

// WithFullSync makes every commit wait for the disk (synchronous=FULL). The
// default, synchronous=NORMAL in WAL mode, never corrupts the database and
// loses nothing when the process dies; only a power cut can take the last
// commits with it.
func WithFullSync(on bool) Option {
	return func(o *options) error { o.durable = on; return nil }
}

// Open opens (creating if needed) the database file at path and, unless
// disabled, migrates it.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{migrate: true, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: invalid database path %q", path)
	}
	sync := "NORMAL"
	if o.durable {
		sync = "FULL"
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous("+sync+")")
	q.Add("_pragma", "foreign_keys(1)")
	base := "file:" + path + "?" + q.Encode()
	// The writer's transactions take the write lock at BEGIN; readers can
	// never write, so no reader can hold the lock the writer waits for.
	dsn := base + "&_txlock=immediate"
	readDSN := base + "&" + url.Values{"_pragma": {"query_only(1)"}}.Encode()

	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", readDSN)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	s := &Store{write: write, read: read, log: o.log}
	fail := func(err error) (*Store, error) {
		_ = write.Close()
		_ = read.Close()
		return nil, err
	}
	if o.migrate {
		if _, err := s.Migrate(ctx); err != nil {
			return fail(err)
		}
	}
	s.jobs = make(chan *job)
	s.stop = make(chan struct{})
	s.stopped = make(chan struct{})
	go s.writeLoop()
	return s, nil
}

// prepare readies the writer's statements. The writer calls it before its
// first transaction, not Open, so that a store opened without migrating
// can still migrate itself or report its migrations.
func (s *Store) prepare(ctx context.Context) error {
	if s.stmts.version != nil {
		return nil
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.stmts.version, `SELECT coalesce(max(version), 0) FROM events WHERE tenant = ? AND stream_type = ? AND stream_id = ?`},
		{&s.stmts.next, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) + 1`},
		{&s.stmts.insert, `INSERT INTO events (commit_id, id, tenant, stream_type, stream_id, version, type, schema, data,
    actor, correlation_id, causation_id, occurred_at, traceparent, reason, source, user_agent, recorded_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING position`},
		{&s.stmts.claim, `INSERT INTO claims (scope, kind, value, tenant, stream_type, stream_id) VALUES (?, ?, ?, ?, ?, ?)`},
		{&s.stmts.release, `DELETE FROM claims WHERE scope = ? AND kind = ? AND value = ? AND tenant = ? AND stream_type = ? AND stream_id = ?`},
		{&s.stmts.held, `SELECT EXISTS (SELECT 1 FROM claims WHERE scope = ? AND kind = ? AND value = ?)`},
	} {
		stmt, err := s.write.PrepareContext(ctx, p.sql)
		if err != nil {
			for _, st := range []*sql.Stmt{s.stmts.version, s.stmts.next, s.stmts.insert, s.stmts.claim, s.stmts.release, s.stmts.held} {
				if st != nil {
					st.Close()
				}
			}
			s.stmts = statements{}
			return fmt.Errorf("sqlite: prepare: %w (is the database migrated?)", err)
		}
		*p.stmt = stmt
	}
	return nil
}

// Migrate applies pending migrations and returns the versions applied.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	applied, err := migrations.Up(ctx, migrations.SQLite, s.write)
	for _, v := range applied {
		s.log.Info("applied migration", "dialect", "sqlite", "version", v)
	}
	return applied, err
}

// MigrationStatus lists the migrations and whether each is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]migrations.Status, error) {
	return migrations.List(ctx, migrations.SQLite, s.write)
}

// DB returns the writer and reader handles to the packages that keep read
// models in the same file (projections). Writes must go through writer.
func (s *Store) DB() (writer, reader *sql.DB) { return s.write, s.read }

// Close stops the writer, after the appends it already took, and closes
// both pools. Appends after Close return [eventstore.ErrClosed].
func (s *Store) Close() error {
	s.closing.Do(func() { close(s.stop) })
	<-s.stopped
	return errors.Join(s.write.Close(), s.read.Close())
}

// Append implements [eventstore.Store].
func (s *Store) Append(ctx context.Context, stream eventstore.StreamID, expected int64, events []eventstore.Event, claims ...eventstore.Claim) (eventstore.Position, error) {
	if err := eventstore.PrepareAppend(stream, expected, events, claims); err != nil {
		return eventstore.Position{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	return s.submit(ctx, &job{ctx: ctx, stream: stream, expected: expected, events: events, claims: claims})
}

// written is what an append wrote. It reaches the caller's events only
// once the transaction has committed.
type written struct {
	stream    eventstore.StreamID
	expected  int64
	commit    int64
	positions []int64
	recorded  time.Time
}

// apply copies what the store assigned into events and returns the last
// event's position.
func (w written) apply(events []eventstore.Event) eventstore.Position {
	var last eventstore.Position
	for i := range events {
		last = eventstore.Position{Commit: uint64(w.commit), Seq: w.positions[i]}
		events[i].Stream, events[i].Version, events[i].Position, events[i].RecordedAt = w.stream, w.expected+int64(i)+1, last, w.recorded
	}
	return last
}

// appendTx writes an append inside tx, which holds the write lock.
func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, stream eventstore.StreamID, expected int64, events []eventstore.Event, claims []eventstore.Claim) (written, error) {
	fail := func(err error) (written, error) {
		return written{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	var actual int64
	if err := tx.StmtContext(ctx, s.stmts.version).QueryRowContext(ctx, stream.Tenant, stream.Type, stream.ID).Scan(&actual); err != nil {
		return fail(err)
	}
	if actual != expected {
		return written{}, &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: actual}
	}
	for _, c := range claims {
		if c.Check {
			// The writer is alone: nothing can claim the value before
			// this append commits.
			var held bool
			if err := tx.StmtContext(ctx, s.stmts.held).QueryRowContext(ctx, eventstore.ClaimScope(stream, c), c.Kind, c.Value).Scan(&held); err != nil {
				return fail(err)
			}
			if held {
				return written{}, &eventstore.ClaimError{Kind: c.Kind, Value: c.Value}
			}
			continue
		}
		stmt := s.stmts.claim
		if c.Release {
			stmt = s.stmts.release
		}
		_, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, eventstore.ClaimScope(stream, c), c.Kind, c.Value, stream.Tenant, stream.Type, stream.ID)
		if !c.Release && isUnique(err) {
			return written{}, &eventstore.ClaimError{Kind: c.Kind, Value: c.Value}
		}
		if err != nil {
			return fail(err)
		}
	}

	// The writer is alone, so the next AUTOINCREMENT value is the first
	// position this append writes; it names the commit.
	w := written{stream: stream, expected: expected, positions: make([]int64, len(events)),
		recorded: time.Now().UTC().Truncate(time.Microsecond)}
	if err := tx.StmtContext(ctx, s.stmts.next).QueryRowContext(ctx).Scan(&w.commit); err != nil {
		return fail(err)
	}
	recorded := w.recorded.Format(timeFormat)
	stmt := tx.StmtContext(ctx, s.stmts.insert)
	for i, e := range events {
		m := e.Meta
		err := stmt.QueryRowContext(ctx, w.commit, e.ID, stream.Tenant, stream.Type, stream.ID, expected+int64(i)+1, e.Type, e.Schema, []byte(e.Data),
			m.Actor, m.CorrelationID, m.CausationID, m.OccurredAt.Format(timeFormat), m.TraceParent, m.Reason, m.Source, m.UserAgent, recorded).Scan(&w.positions[i])
		if isUnique(err) {
			if strings.Contains(err.Error(), "events.id") {
				return fail(eventstore.ErrDuplicateEvent)
			}
			return written{}, &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: -1}
		}
		if err != nil {
			return fail(err)
		}
	}
	return w, nil
}

func isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// timeFormat keeps times sortable as text, to the microsecond.
const timeFormat = "2006-01-02T15:04:05.000000Z07:00"

// columns are what every read returns; the stream's columns come first so
// that a stream read, which knows them, can leave them out.
const (
	streamColumns = `tenant, stream_type, stream_id, `
	columns       = `position, commit_id, id, version, type, schema, data,
actor, correlation_id, causation_id, occurred_at, traceparent, reason, source, user_agent, recorded_at`
)

// ReadStream implements [eventstore.Store].
func (s *Store) ReadStream(ctx context.Context, stream eventstore.StreamID, after int64) ([]eventstore.Event, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+columns+` FROM events
WHERE tenant = ? AND stream_type = ? AND stream_id = ? AND version > ? ORDER BY version`,
		stream.Tenant, stream.Type, stream.ID, after)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	events, err := scan(rows, &stream, 0)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	return events, nil
}

// ReadAll implements [eventstore.Store]. Commit order is position order
// here, so the position alone places a reader.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Event, error) {
	if err := eventstore.CheckRead(limit); err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+streamColumns+columns+` FROM events WHERE position > ? ORDER BY position LIMIT ?`, after.Seq, limit)
	if err != nil {
		return nil, fmt.Errorf("read all after %s: %w", after, err)
	}
	events, err := scan(rows, nil, limit)
	if err != nil {
		return nil, fmt.Errorf("read all after %s: %w", after, err)
	}
	return events, nil
}

// ReadTenant implements [eventstore.Store].
func (s *Store) ReadTenant(ctx context.Context, tenant string, after eventstore.Position, limit int) ([]eventstore.Event, error) {
	if err := eventstore.CheckRead(limit); err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+streamColumns+columns+` FROM events WHERE tenant = ? AND position > ? ORDER BY position LIMIT ?`, tenant, after.Seq, limit)
	if err != nil {
		return nil, fmt.Errorf("read tenant %s after %s: %w", tenant, after, err)
	}
	events, err := scan(rows, nil, limit)
	if err != nil {
		return nil, fmt.Errorf("read tenant %s after %s: %w", tenant, after, err)
	}
	return events, nil
}

// Head implements [eventstore.Store].
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	var commit, position int64
	err := s.read.QueryRowContext(ctx, `SELECT commit_id, position FROM events ORDER BY position DESC LIMIT 1`).Scan(&commit, &position)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return eventstore.Position{}, nil
	case err != nil:
		return eventstore.Position{}, fmt.Errorf("read head: %w", err)
	}
	return eventstore.Position{Commit: uint64(commit), Seq: position}, nil
}

// scan reads event rows. With stream nil the rows start with the stream
// columns; otherwise every row belongs to *stream.
func scan(rows *sql.Rows, stream *eventstore.StreamID, capacity int) ([]eventstore.Event, error) {
	defer rows.Close()
	events := make([]eventstore.Event, 0, capacity)
	for rows.Next() {
		var e eventstore.Event
		var commit int64
		var occurred, recorded string
		var data []byte
		fields := []any{&e.Position.Seq, &commit, &e.ID, &e.Version, &e.Type, &e.Schema, &data,
			&e.Meta.Actor, &e.Meta.CorrelationID, &e.Meta.CausationID, &occurred, &e.Meta.TraceParent, &e.Meta.Reason,
			&e.Meta.Source, &e.Meta.UserAgent, &recorded}
		if stream == nil {
			fields = append([]any{&e.Stream.Tenant, &e.Stream.Type, &e.Stream.ID}, fields...)
		} else {
			e.Stream = *stream
		}
		if err := rows.Scan(fields...); err != nil {
			return nil, err
		}
		e.Position.Commit = uint64(commit)
		e.Data = data
		var err error
		if e.Meta.OccurredAt, err = time.Parse(timeFormat, occurred); err != nil {
			return nil, fmt.Errorf("event %s has a corrupt occurred_at %q", e.ID, occurred)
		}
		if e.RecordedAt, err = time.Parse(timeFormat, recorded); err != nil {
			return nil, fmt.Errorf("event %s has a corrupt recorded_at %q", e.ID, recorded)
		}
		events = append(events, e)
	}
	return events, rows.Err()
}
