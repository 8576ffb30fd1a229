// Package postgres is the PostgreSQL [eventstore.Store], on pgx/v5.
//
// An append is one pipelined batch in one implicit transaction: a version
// check that raises (so a mismatch undoes the batch), the claim releases,
// reservations and checks, and the event rows. An append with claims
// first takes a transaction-level advisory lock per claimed value, in key
// order (shared for a check, exclusive otherwise) and before writing
// anything, so before it has a transaction id: a check and a claim of one
// value therefore never overlap, and when both commit, the first one's
// transaction id, and so its position, is the lower. Appends to different streams never
// wait for each other, so concurrent commits share PostgreSQL's group
// commit.
//
// Because concurrent appends commit in any order, positions from the
// identity column alone could be read out of order: a reader could see
// position 11 and move on before position 10 commits. Every row therefore
// records the id of the transaction that wrote it (commit_id), the global
// order is (commit_id, position), and readers return only rows whose
// transaction id is below the oldest transaction still in flight
// (pg_snapshot_xmin). Any transaction that commits later has a larger id
// than everything already returned, so no reader skips it. The price: a
// long transaction anywhere in the cluster delays what readers see (not
// what they get), never more.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres/pgerr"
	"github.com/clavisiam/clavis/migrations"
)

var _ eventstore.Store = (*Store)(nil)

// Store is the PostgreSQL event store. Create it with [Open].
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	closed atomic.Bool
}

type options struct {
	migrate bool
	log     *slog.Logger
}

// defaultMaxConns is the pool size when the URL has no pool_max_conns:
// enough concurrent appends to fill a group commit.
const defaultMaxConns = 16

// Option configures [Open].
type Option func(*options) error

// ErrInvalidOption is wrapped by every error an [Option] returns.
var ErrInvalidOption = errors.New("postgres: invalid option")

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

// Open connects to the database at url (a postgres:// URL or key=value
// DSN; its pool_max_conns sets the pool size, default 16), checks the connection and, unless disabled, migrates the schema.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{migrate: true, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	s := &Store{pool: pool, log: o.log}
	if o.migrate {
		if _, err := s.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

// Migrate applies pending migrations and returns the versions applied.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	applied, err := migrations.Up(ctx, migrations.Postgres, db)
	for _, v := range applied {
		s.log.Info("applied migration", "dialect", "postgres", "version", v)
	}
	return applied, err
}

// MigrationStatus lists the migrations and whether each is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]migrations.Status, error) {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	return migrations.List(ctx, migrations.Postgres, db)
}

// Pool exposes the connection pool to the packages that keep read models
// in the same database (projections).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.pool.Close()
	}
	return nil
}

// batcher is what both the pool and a transaction offer.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// Append implements [eventstore.Store].
func (s *Store) Append(ctx context.Context, stream eventstore.StreamID, expected int64, events []eventstore.Event, claims ...eventstore.Claim) (eventstore.Position, error) {
	if err := eventstore.PrepareAppend(stream, expected, events, claims); err != nil {
		return eventstore.Position{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.Position{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	if s.closed.Load() {
		return eventstore.Position{}, eventstore.ErrClosed
	}
	// Once sent, the batch runs to its end whatever the caller's context
	// does: cancelling mid-flight could otherwise report a failure for an
	// append that commits anyway.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	pos, err := s.append(actx, s.pool, stream, expected, events, claims)
	if pgerr.Unavailable(err) && !s.closed.Load() {
		// The connection failed, perhaps after the append committed. The
		// restart that broke it most likely broke the pool's other
		// connections too: drop them and try once more on a new one.
		// The events' ids are unique, so the retry cannot commit them a
		// second time; when it fails because they are there already, the
		// first try committed, and the caller gets its result.
		s.pool.Reset()
		pos, err = s.append(actx, s.pool, stream, expected, events, claims)
		if err != nil && !pgerr.Unavailable(err) {
			if p, ok := s.committed(actx, stream, expected, events); ok {
				return p, nil
			}
		}
	}
	if err != nil {
		if s.closed.Load() {
			return eventstore.Position{}, eventstore.ErrClosed
		}
		return eventstore.Position{}, s.appendError(actx, err, stream, expected, claims)
	}
	return pos, nil
}

// appendTimeout bounds one append once it has been sent.
const appendTimeout = 30 * time.Second

const (
	expectSQL  = `SELECT clavis_expect_version($1, $2, $3, $4)`
	releaseSQL = `DELETE FROM claims WHERE scope = $1 AND kind = $2 AND value = $3 AND tenant = $4 AND stream_type = $5 AND stream_id = $6`
	claimSQL   = `INSERT INTO claims (scope, kind, value, tenant, stream_type, stream_id) VALUES ($1, $2, $3, $4, $5, $6)`
	// checkSQL copies the row that holds the value, if any, onto itself:
	// a held value fails on claims_pkey like a taken claim, a free one
	// writes nothing.
	checkSQL = `INSERT INTO claims (scope, kind, value, tenant, stream_type, stream_id)
SELECT scope, kind, value, tenant, stream_type, stream_id FROM claims WHERE scope = $1 AND kind = $2 AND value = $3`
	lockSQL = `SELECT CASE WHEN q.shared THEN pg_advisory_xact_lock_shared(q.k) ELSE pg_advisory_xact_lock(q.k) END
  FROM (SELECT k, bool_and(shared) AS shared FROM unnest($1::bigint[], $2::bool[]) AS u(k, shared) GROUP BY k ORDER BY k) q`
	insertOne = `INSERT INTO events (id, tenant, stream_type, stream_id, version, type, schema, data,
    actor, correlation_id, causation_id, occurred_at, traceparent, reason, source, user_agent)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
RETURNING version, commit_id, position, recorded_at`
	insertMany = `INSERT INTO events (id, tenant, stream_type, stream_id, version, type, schema, data,
    actor, correlation_id, causation_id, occurred_at, traceparent, reason, source, user_agent)
SELECT e.id, $1, $2, $3, e.version, e.type, e.schema, e.data,
       e.actor, e.correlation_id, e.causation_id, e.occurred_at, e.traceparent, e.reason, e.source, e.user_agent
  FROM unnest($4::text[], $5::bigint[], $6::text[], $7::int[], $8::bytea[],
              $9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::text[], $14::text[],
              $15::text[], $16::text[])
       WITH ORDINALITY AS e(id, version, type, schema, data, actor, correlation_id, causation_id, occurred_at, traceparent, reason,
                            source, user_agent, n)
 ORDER BY e.n
RETURNING version, commit_id, position, recorded_at`
)

// append sends the whole append as one batch through q: in one implicit
// transaction on the pool, or inside q's transaction.
func (s *Store) append(ctx context.Context, q batcher, stream eventstore.StreamID, expected int64, events []eventstore.Event, claims []eventstore.Claim) (eventstore.Position, error) {
	b := &pgx.Batch{}
	b.Queue(expectSQL, stream.Tenant, stream.Type, stream.ID, expected)
	if len(claims) > 0 {
		keys, shared := make([]int64, len(claims)), make([]bool, len(claims))
		for i, c := range claims {
			keys[i], shared[i] = claimLock(eventstore.ClaimScope(stream, c), c.Kind, c.Value), c.Check
		}
		b.Queue(lockSQL, keys, shared)
	}
	for _, c := range claims {
		if c.Check {
			b.Queue(checkSQL, eventstore.ClaimScope(stream, c), c.Kind, c.Value)
			continue
		}
		sql := claimSQL
		if c.Release {
			sql = releaseSQL
		}
		b.Queue(sql, eventstore.ClaimScope(stream, c), c.Kind, c.Value, stream.Tenant, stream.Type, stream.ID)
	}
	if len(events) == 1 {
		e, m := events[0], events[0].Meta
		b.Queue(insertOne, e.ID, stream.Tenant, stream.Type, stream.ID, expected+1, e.Type, e.Schema, []byte(e.Data),
			m.Actor, m.CorrelationID, m.CausationID, m.OccurredAt, m.TraceParent, m.Reason, m.Source, m.UserAgent)
	} else {
		n := len(events)
		ids, types := make([]string, n), make([]string, n)
		versions, schemas := make([]int64, n), make([]int32, n)
		data := make([][]byte, n)
		actors, correlations, causations := make([]string, n), make([]string, n), make([]string, n)
		occurred, traces, reasons := make([]time.Time, n), make([]string, n), make([]string, n)
		sources, agents := make([]string, n), make([]string, n)
		for i, e := range events {
			ids[i], types[i] = e.ID, e.Type
			versions[i], schemas[i] = expected+int64(i)+1, int32(e.Schema)
			data[i] = e.Data
			m := e.Meta
			actors[i], correlations[i], causations[i] = m.Actor, m.CorrelationID, m.CausationID
			occurred[i], traces[i], reasons[i] = m.OccurredAt, m.TraceParent, m.Reason
			sources[i], agents[i] = m.Source, m.UserAgent
		}
		b.Queue(insertMany, stream.Tenant, stream.Type, stream.ID, ids, versions, types, schemas, data,
			actors, correlations, causations, occurred, traces, reasons, sources, agents)
	}

	br := q.SendBatch(ctx, b)
	for range b.Len() - 1 {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return eventstore.Position{}, err
		}
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return eventstore.Position{}, err
	}
	// What the store assigned is copied into events only once the batch
	// has committed (br.Close reports the commit).
	type assigned struct {
		pos      eventstore.Position
		recorded time.Time
	}
	out := make([]assigned, len(events))
	got := 0
	for rows.Next() {
		var version, commit, position int64
		var recorded time.Time
		if err := rows.Scan(&version, &commit, &position, &recorded); err != nil {
			rows.Close()
			br.Close()
			return eventstore.Position{}, err
		}
		i := version - expected - 1
		if i < 0 || i >= int64(len(events)) {
			rows.Close()
			br.Close()
			return eventstore.Position{}, fmt.Errorf("insert returned version %d outside the batch", version)
		}
		out[i] = assigned{eventstore.Position{Commit: uint64(commit), Seq: position}, recorded.UTC()}
		got++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		br.Close()
		return eventstore.Position{}, err
	}
	if err := br.Close(); err != nil {
		return eventstore.Position{}, err
	}
	if got != len(events) {
		return eventstore.Position{}, fmt.Errorf("insert returned %d rows for %d events", got, len(events))
	}
	var last eventstore.Position
	for i, a := range out {
		events[i].Stream, events[i].Version, events[i].Position, events[i].RecordedAt = stream, expected+int64(i)+1, a.pos, a.recorded
		if last.Less(a.pos) {
			last = a.pos
		}
	}
	return last, nil
}

// claimLock is the advisory lock key of a claimed value: a 64-bit FNV-1a
// hash (two values sharing a key only wait for each other needlessly).
func claimLock(scope, kind, value string) int64 {
	h := fnv.New64a()
	for _, s := range []string{scope, kind, value} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}

// appendError turns a driver error into the store's typed errors.
func (s *Store) appendError(ctx context.Context, err error, stream eventstore.StreamID, expected int64, claims []eventstore.Claim) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "CL409":
			actual, perr := strconv.ParseInt(pe.Detail, 10, 64)
			if perr != nil {
				actual = -1
			}
			return &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: actual}
		case pe.Code == "23505" && pe.ConstraintName == "events_stream_version_key":
			return &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: -1}
		case pe.Code == "23505" && pe.ConstraintName == "events_id_key":
			return fmt.Errorf("append to %s: %w", stream, eventstore.ErrDuplicateEvent)
		case pe.Code == "23505" && pe.ConstraintName == "claims_pkey":
			return s.takenClaim(ctx, stream, claims)
		case pe.Code == "40P01" || pe.Code == "40001":
			// A deadlock (two appends swapping claims) or a serialization
			// failure: the append lost a race, and may be retried.
			return &eventstore.ConflictError{Stream: stream, Expected: expected, Actual: -1}
		}
	}
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return fmt.Errorf("append to %s: %w", stream, pgerr.Classify(err))
}

// committed reports whether events are in the store as an append of them
// to stream after version expected would have left them, and then fills
// in what the store assigned, as Append does, and returns the position of
// the last one. It finds an append whose answer a broken connection lost.
func (s *Store) committed(ctx context.Context, stream eventstore.StreamID, expected int64, events []eventstore.Event) (eventstore.Position, bool) {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	rows, err := s.pool.Query(ctx, `SELECT id, tenant, stream_type, stream_id, version, commit_id, position, recorded_at
FROM events WHERE id = ANY($1)`, ids)
	if err != nil {
		return eventstore.Position{}, false
	}
	defer rows.Close()
	type assigned struct {
		pos      eventstore.Position
		recorded time.Time
	}
	out := make(map[string]assigned, len(events))
	for rows.Next() {
		var id string
		var st eventstore.StreamID
		var version, commit, position int64
		var recorded time.Time
		if err := rows.Scan(&id, &st.Tenant, &st.Type, &st.ID, &version, &commit, &position, &recorded); err != nil {
			return eventstore.Position{}, false
		}
		i := slices.Index(ids, id)
		if st != stream || i < 0 || version != expected+int64(i)+1 {
			return eventstore.Position{}, false
		}
		out[id] = assigned{eventstore.Position{Commit: uint64(commit), Seq: position}, recorded.UTC()}
	}
	if rows.Err() != nil || len(out) != len(events) {
		return eventstore.Position{}, false
	}
	var last eventstore.Position
	for i := range events {
		a := out[events[i].ID]
		events[i].Stream, events[i].Version, events[i].Position, events[i].RecordedAt = stream, expected+int64(i)+1, a.pos, a.recorded
		if last.Less(a.pos) {
			last = a.pos
		}
	}
	return last, true
}

// takenClaim finds which of the claims another stream holds. The append
// already failed; this lookup only names the culprit.
func (s *Store) takenClaim(ctx context.Context, stream eventstore.StreamID, claims []eventstore.Claim) error {
	var first *eventstore.ClaimError
	for _, c := range claims {
		if c.Release {
			continue
		}
		if first == nil {
			first = &eventstore.ClaimError{Kind: c.Kind, Value: c.Value}
		}
		var tenant, typ, id string
		err := s.pool.QueryRow(ctx, `SELECT tenant, stream_type, stream_id FROM claims WHERE scope = $1 AND kind = $2 AND value = $3`,
			eventstore.ClaimScope(stream, c), c.Kind, c.Value).Scan(&tenant, &typ, &id)
		// A check fails on a value held by anyone, the checking stream too.
		if err == nil && (c.Check || (eventstore.StreamID{Tenant: tenant, Type: typ, ID: id}) != stream) {
			return &eventstore.ClaimError{Kind: c.Kind, Value: c.Value}
		}
	}
	if first == nil {
		return fmt.Errorf("append to %s: %w", stream, eventstore.ErrClaimTaken)
	}
	return first
}

// columns are what every read returns; the stream's columns come first so
// that a stream read, which knows them, can leave them out.
const (
	streamColumns = `tenant, stream_type, stream_id, `
	columns       = `position, commit_id, id, version, type, schema, data,
actor, correlation_id, causation_id, occurred_at, traceparent, reason, source, user_agent, recorded_at`
)

// visible is the first commit id that readers must not return yet: the
// oldest transaction still in flight when the statement's snapshot was taken.
const visible = `pg_snapshot_xmin(pg_current_snapshot())::text::bigint`

// ReadStream implements [eventstore.Store].
func (s *Store) ReadStream(ctx context.Context, stream eventstore.StreamID, after int64) ([]eventstore.Event, error) {
	events, err := pgerr.Retry(ctx, s.pool, func() ([]eventstore.Event, error) {
		rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM events
WHERE tenant = $1 AND stream_type = $2 AND stream_id = $3 AND version > $4 ORDER BY version`,
			stream.Tenant, stream.Type, stream.ID, after)
		if err != nil {
			return nil, err
		}
		return scan(rows, &stream, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	return events, nil
}

// ReadAll implements [eventstore.Store].
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Event, error) {
	if err := eventstore.CheckRead(limit); err != nil {
		return nil, err
	}
	events, err := pgerr.Retry(ctx, s.pool, func() ([]eventstore.Event, error) {
		rows, err := s.pool.Query(ctx, `SELECT `+streamColumns+columns+` FROM events
WHERE (commit_id, position) > ($1, $2) AND commit_id < `+visible+`
ORDER BY commit_id, position LIMIT $3`, int64(after.Commit), after.Seq, limit)
		if err != nil {
			return nil, err
		}
		return scan(rows, nil, limit)
	})
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
	events, err := pgerr.Retry(ctx, s.pool, func() ([]eventstore.Event, error) {
		rows, err := s.pool.Query(ctx, `SELECT `+streamColumns+columns+` FROM events
WHERE tenant = $1 AND (commit_id, position) > ($2, $3) AND commit_id < `+visible+`
ORDER BY commit_id, position LIMIT $4`, tenant, int64(after.Commit), after.Seq, limit)
		if err != nil {
			return nil, err
		}
		return scan(rows, nil, limit)
	})
	if err != nil {
		return nil, fmt.Errorf("read tenant %s after %s: %w", tenant, after, err)
	}
	return events, nil
}

// Head implements [eventstore.Store].
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	head, err := pgerr.Retry(ctx, s.pool, func() (eventstore.Position, error) {
		var commit, position int64
		err := s.pool.QueryRow(ctx, `SELECT commit_id, position FROM events WHERE commit_id < `+visible+`
ORDER BY commit_id DESC, position DESC LIMIT 1`).Scan(&commit, &position)
		if errors.Is(err, pgx.ErrNoRows) {
			return eventstore.Position{}, nil
		}
		return eventstore.Position{Commit: uint64(commit), Seq: position}, err
	})
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("read head: %w", err)
	}
	return head, nil
}

// scan reads event rows. With stream nil the rows start with the stream
// columns; otherwise every row belongs to *stream.
func scan(rows pgx.Rows, stream *eventstore.StreamID, capacity int) ([]eventstore.Event, error) {
	defer rows.Close()
	events := make([]eventstore.Event, 0, capacity)
	for rows.Next() {
		var e eventstore.Event
		var commit int64
		var schema int32
		fields := []any{&e.Position.Seq, &commit, &e.ID, &e.Version, &e.Type, &schema, &e.Data,
			&e.Meta.Actor, &e.Meta.CorrelationID, &e.Meta.CausationID, &e.Meta.OccurredAt, &e.Meta.TraceParent, &e.Meta.Reason,
			&e.Meta.Source, &e.Meta.UserAgent, &e.RecordedAt}
		if stream == nil {
			fields = append([]any{&e.Stream.Tenant, &e.Stream.Type, &e.Stream.ID}, fields...)
		} else {
			e.Stream = *stream
		}
		if err := rows.Scan(fields...); err != nil {
			return nil, err
		}
		e.Position.Commit = uint64(commit)
		e.Schema = int(schema)
		e.Meta.OccurredAt = e.Meta.OccurredAt.UTC()
		e.RecordedAt = e.RecordedAt.UTC()
		events = append(events, e)
	}
	return events, rows.Err()
}
