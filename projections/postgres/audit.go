package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/auditlog"
)

var _ auditlog.Store = (*AuditStore)(nil)

// AuditStore keeps the tenants' audit logs in PostgreSQL, in the event
// store's database: an [auditlog.Store]. An append is one transaction
// that first moves the progress row from where the appender started
// (the row lock orders appenders from every node), then writes the
// leaves, hashes and sizes, each table in one statement over arrays.
type AuditStore struct {
	pool *pgxpool.Pool
}

// NewAuditStore returns the audit log store in the database of pool,
// which the event store's migrations have set up (postgres.Store.Pool
// gives it).
func NewAuditStore(pool *pgxpool.Pool) *AuditStore { return &AuditStore{pool: pool} }

// Progress implements [auditlog.Store].
func (s *AuditStore) Progress(ctx context.Context) (_ eventstore.Position, err error) {
	defer classify(&err)
	var commit, pos int64
	if err := s.pool.QueryRow(ctx, `SELECT commit_id, position FROM audit_progress`).Scan(&commit, &pos); err != nil {
		return eventstore.Position{}, fmt.Errorf("read audit log progress: %w", err)
	}
	return eventstore.Position{Commit: uint64(commit), Seq: pos}, nil
}

const (
	moveProgress = `UPDATE audit_progress SET commit_id = $3, position = $4 WHERE commit_id = $1 AND position = $2`
	insertLeaves = `INSERT INTO audit_leaves (tenant, leaf, event_id, commit_id, position, stream_type, stream_id,
    version, type, schema, data, data_digest, actor, correlation_id, causation_id, occurred_at, traceparent,
    reason, source, user_agent, recorded_at)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
    $8::bigint[], $9::text[], $10::integer[], $11::bytea[], $12::bytea[], $13::text[], $14::text[], $15::text[],
    $16::timestamptz[], $17::text[], $18::text[], $19::text[], $20::text[], $21::timestamptz[])`
	insertHashes = `INSERT INTO audit_hashes (tenant, idx, hash) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])`
	// growTrees sets each tenant's size, from the size its leaves start
	// at: the number of rows it touches says whether every one did.
	growTrees = `WITH n AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS n(tenant, first, size)),
ins AS (INSERT INTO audit_trees (tenant, size) SELECT tenant, size FROM n WHERE first = 0
        ON CONFLICT (tenant) DO NOTHING RETURNING 1),
upd AS (UPDATE audit_trees t SET size = n.size FROM n WHERE n.first > 0 AND t.tenant = n.tenant AND t.size = n.first RETURNING 1)
SELECT (SELECT count(*) FROM ins) + (SELECT count(*) FROM upd)`
	leafColumns = `leaf, event_id, commit_id, position, tenant, stream_type, stream_id, version, type, schema, data,
    data_digest, actor, correlation_id, causation_id, occurred_at, traceparent, reason, source, user_agent, recorded_at`
)

// Append implements [auditlog.Store]. Its transaction commits without
// waiting for the disk: the leaves are derived from the events, and a
// commit a crash loses is lost with the progress that covers it, so its
// events are logged again. A checkpoint, which is written after and
// waits for the disk, makes every commit before it durable too.
func (s *AuditStore) Append(ctx context.Context, from, to eventstore.Position, leaves []auditlog.Leaves) (err error) {
	defer classify(&err)
	if err := auditlog.CheckAppend(from, to, leaves); err != nil {
		return fmt.Errorf("append to the audit log: %w", err)
	}
	b := &pgx.Batch{}
	b.Queue(`SET LOCAL synchronous_commit = off`)
	b.Queue(moveProgress, int64(from.Commit), from.Seq, int64(to.Commit), to.Seq)
	queueLeaves(b, leaves)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return auditlog.ErrStale
		}
		if len(leaves) == 0 {
			return br.Close()
		}
		var grown int
		if err := br.QueryRow().Scan(&grown); err != nil {
			return err
		}
		if grown != len(leaves) {
			return fmt.Errorf("%w: some tenant's leaves do not start at its size", auditlog.ErrInvalid)
		}
		for range 2 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return br.Close()
	})
	if err != nil {
		return fmt.Errorf("append to the audit log at %s: %w", from, err)
	}
	return nil
}

// queueLeaves queues the statements that write leaves: the sizes first,
// then the leaves, then the hashes.
func queueLeaves(b *pgx.Batch, leaves []auditlog.Leaves) {
	if len(leaves) == 0 {
		return
	}
	var n, h int
	for _, l := range leaves {
		n += len(l.Entries)
		h += len(l.Hashes)
	}
	tenants, firsts, sizes := make([]string, len(leaves)), make([]int64, len(leaves)), make([]int64, len(leaves))
	var c leafColumnsOf
	c.grow(n)
	ht, hi, hh := make([]string, 0, h), make([]int64, 0, h), make([][]byte, 0, h)
	for i, l := range leaves {
		tenants[i], firsts[i] = l.Tenant, l.Entries[0].Index
		sizes[i] = firsts[i] + int64(len(l.Entries))
		for _, e := range l.Entries {
			c.add(l.Tenant, e)
		}
		for j := range l.Hashes {
			ht = append(ht, l.Tenant)
			hi = append(hi, l.First+int64(j))
			hh = append(hh, l.Hashes[j][:])
		}
	}
	b.Queue(growTrees, tenants, firsts, sizes)
	b.Queue(insertLeaves, c.args()...)
	b.Queue(insertHashes, ht, hi, hh)
}

// leafColumnsOf gathers entries column by column, for unnest.
type leafColumnsOf struct {
	tenant, id, streamType, streamID, typ, actor, corr, cause, trace, reason, source, ua []string
	leaf, commit, pos, version                                                           []int64
	schema                                                                               []int32
	data, digest                                                                         [][]byte
	occurred, recorded                                                                   []time.Time
}

func (c *leafColumnsOf) grow(n int) {
	for _, s := range []*[]string{&c.tenant, &c.id, &c.streamType, &c.streamID, &c.typ, &c.actor, &c.corr, &c.cause, &c.trace, &c.reason, &c.source, &c.ua} {
		*s = make([]string, 0, n)
	}
	for _, s := range []*[]int64{&c.leaf, &c.commit, &c.pos, &c.version} {
		*s = make([]int64, 0, n)
	}
	c.schema = make([]int32, 0, n)
	c.data, c.digest = make([][]byte, 0, n), make([][]byte, 0, n)
	c.occurred, c.recorded = make([]time.Time, 0, n), make([]time.Time, 0, n)
}

func (c *leafColumnsOf) add(tenant string, e auditlog.Entry) {
	m := e.Meta
	c.tenant = append(c.tenant, tenant)
	c.leaf = append(c.leaf, e.Index)
	c.id = append(c.id, e.ID)
	c.commit = append(c.commit, int64(e.Position.Commit))
	c.pos = append(c.pos, e.Position.Seq)
	c.streamType = append(c.streamType, e.Stream.Type)
	c.streamID = append(c.streamID, e.Stream.ID)
	c.version = append(c.version, e.Version)
	c.typ = append(c.typ, e.Type)
	c.schema = append(c.schema, int32(e.Schema))
	c.data = append(c.data, e.Data)
	d := e.DataDigest
	c.digest = append(c.digest, d[:])
	c.actor = append(c.actor, m.Actor)
	c.corr = append(c.corr, m.CorrelationID)
	c.cause = append(c.cause, m.CausationID)
	c.occurred = append(c.occurred, m.OccurredAt)
	c.trace = append(c.trace, m.TraceParent)
	c.reason = append(c.reason, m.Reason)
	c.source = append(c.source, m.Source)
	c.ua = append(c.ua, m.UserAgent)
	c.recorded = append(c.recorded, e.RecordedAt)
}

func (c *leafColumnsOf) args() []any {
	return []any{c.tenant, c.leaf, c.id, c.commit, c.pos, c.streamType, c.streamID, c.version, c.typ, c.schema,
		c.data, c.digest, c.actor, c.corr, c.cause, c.occurred, c.trace, c.reason, c.source, c.ua, c.recorded}
}

// Sizes implements [auditlog.Store].
func (s *AuditStore) Sizes(ctx context.Context, tenants []string) (_ map[string]int64, err error) {
	defer classify(&err)
	rows, err := s.pool.Query(ctx, `SELECT tenant, size FROM audit_trees WHERE tenant = ANY($1)`, tenants)
	if err != nil {
		return nil, fmt.Errorf("read audit log sizes: %w", err)
	}
	return sizes(rows)
}

func sizes(rows pgx.Rows) (map[string]int64, error) {
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var t string
		var n int64
		if err := rows.Scan(&t, &n); err != nil {
			return nil, fmt.Errorf("read audit log sizes: %w", err)
		}
		out[t] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit log sizes: %w", err)
	}
	return out, nil
}

// ReadHashes implements [auditlog.Store].
func (s *AuditStore) ReadHashes(ctx context.Context, tenant string, indexes []int64) (_ []tlog.Hash, err error) {
	defer classify(&err)
	if len(indexes) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT idx, hash FROM audit_hashes WHERE tenant = $1 AND idx = ANY($2)`, tenant, indexes)
	if err != nil {
		return nil, fmt.Errorf("read audit hashes of %s: %w", tenant, err)
	}
	defer rows.Close()
	found := make(map[int64]tlog.Hash, len(indexes))
	for rows.Next() {
		var idx int64
		var h []byte
		if err := rows.Scan(&idx, &h); err != nil {
			return nil, fmt.Errorf("read audit hashes of %s: %w", tenant, err)
		}
		if len(h) != tlog.HashSize {
			return nil, fmt.Errorf("read audit hashes of %s: hash %d has %d bytes", tenant, idx, len(h))
		}
		found[idx] = tlog.Hash(h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit hashes of %s: %w", tenant, err)
	}
	return auditlog.OrderHashes(tenant, indexes, found)
}

// Entries implements [auditlog.Store].
func (s *AuditStore) Entries(ctx context.Context, tenant string, f auditlog.Filter, after int64, limit int) (_ []auditlog.Entry, err error) {
	defer classify(&err)
	if limit < 1 || limit > auditlog.MaxLimit {
		return nil, fmt.Errorf("read audit entries of %s: %w: limit %d is not between 1 and %d", tenant, auditlog.ErrInvalid, limit, auditlog.MaxLimit)
	}
	var q strings.Builder
	q.WriteString(`SELECT ` + leafColumns + ` FROM audit_leaves WHERE tenant = $1 AND leaf > $2`)
	args := []any{tenant, after}
	cond := func(c string, v any) {
		args = append(args, v)
		q.WriteString(" AND " + c + " $" + strconv.Itoa(len(args)))
	}
	if f.StreamType != "" {
		cond("stream_type =", f.StreamType)
	}
	if f.StreamID != "" {
		cond("stream_id =", f.StreamID)
	}
	if f.Type != "" {
		cond("type =", f.Type)
	}
	if f.Actor != "" {
		cond("actor =", f.Actor)
	}
	if f.EventID != "" {
		cond("event_id =", f.EventID)
	}
	if !f.Since.IsZero() {
		cond("recorded_at >=", f.Since)
	}
	if !f.Until.IsZero() {
		cond("recorded_at <", f.Until)
	}
	args = append(args, limit)
	q.WriteString(` ORDER BY leaf LIMIT $` + strconv.Itoa(len(args)))
	rows, err := s.pool.Query(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("read audit entries of %s: %w", tenant, err)
	}
	defer rows.Close()
	var out []auditlog.Entry
	for rows.Next() {
		var e auditlog.Entry
		var commit int64
		var schema int32
		var data, digest []byte
		if err := rows.Scan(&e.Index, &e.ID, &commit, &e.Position.Seq, &e.Stream.Tenant, &e.Stream.Type, &e.Stream.ID,
			&e.Version, &e.Type, &schema, &data, &digest, &e.Meta.Actor, &e.Meta.CorrelationID, &e.Meta.CausationID,
			&e.Meta.OccurredAt, &e.Meta.TraceParent, &e.Meta.Reason, &e.Meta.Source, &e.Meta.UserAgent,
			&e.RecordedAt); err != nil {
			return nil, fmt.Errorf("read audit entries of %s: %w", tenant, err)
		}
		e.Position.Commit, e.Schema = uint64(commit), int(schema)
		e.Meta.OccurredAt, e.RecordedAt = e.Meta.OccurredAt.UTC(), e.RecordedAt.UTC()
		e.Data = json.RawMessage(data)
		if len(digest) != tlog.HashSize {
			return nil, fmt.Errorf("read audit entries of %s: leaf %d's digest has %d bytes", tenant, e.Index, len(digest))
		}
		e.DataDigest = tlog.Hash(digest)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit entries of %s: %w", tenant, err)
	}
	return out, nil
}

// AddCheckpoint implements [auditlog.Store].
func (s *AuditStore) AddCheckpoint(ctx context.Context, tenant string, c auditlog.SignedCheckpoint) (err error) {
	defer classify(&err)
	if c.Size < 1 || tenant == "" {
		return fmt.Errorf("add audit checkpoint: %w: tenant %q, size %d", auditlog.ErrInvalid, tenant, c.Size)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_checkpoints (tenant, size, origin, root, note, signed_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, size) DO NOTHING`,
		tenant, c.Size, c.Origin, c.Root[:], c.Note, c.SignedAt); err != nil {
		return fmt.Errorf("add audit checkpoint of %s at %d: %w", tenant, c.Size, err)
	}
	return nil
}

const checkpointColumns = `size, origin, root, note, signed_at`

// Checkpoints implements [auditlog.Store].
func (s *AuditStore) Checkpoints(ctx context.Context, tenant string, after int64, limit int) (_ []auditlog.SignedCheckpoint, err error) {
	defer classify(&err)
	if limit < 1 || limit > auditlog.MaxLimit {
		return nil, fmt.Errorf("read audit checkpoints of %s: %w: limit %d is not between 1 and %d", tenant, auditlog.ErrInvalid, limit, auditlog.MaxLimit)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE tenant = $1 AND size > $2 ORDER BY size LIMIT $3`, tenant, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints of %s: %w", tenant, err)
	}
	return checkpoints(tenant, rows)
}

// LatestCheckpoint implements [auditlog.Store].
func (s *AuditStore) LatestCheckpoint(ctx context.Context, tenant string) (_ auditlog.SignedCheckpoint, err error) {
	defer classify(&err)
	rows, err := s.pool.Query(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE tenant = $1 ORDER BY size DESC LIMIT 1`, tenant)
	if err != nil {
		return auditlog.SignedCheckpoint{}, fmt.Errorf("read the latest audit checkpoint of %s: %w", tenant, err)
	}
	cs, err := checkpoints(tenant, rows)
	if err != nil {
		return auditlog.SignedCheckpoint{}, err
	}
	if len(cs) == 0 {
		return auditlog.SignedCheckpoint{}, fmt.Errorf("the latest audit checkpoint of %s: %w", tenant, auditlog.ErrNotFound)
	}
	return cs[0], nil
}

func checkpoints(tenant string, rows pgx.Rows) ([]auditlog.SignedCheckpoint, error) {
	defer rows.Close()
	var out []auditlog.SignedCheckpoint
	for rows.Next() {
		var c auditlog.SignedCheckpoint
		var root []byte
		if err := rows.Scan(&c.Size, &c.Origin, &root, &c.Note, &c.SignedAt); err != nil {
			return nil, fmt.Errorf("read audit checkpoints of %s: %w", tenant, err)
		}
		if len(root) != tlog.HashSize {
			return nil, fmt.Errorf("read audit checkpoints of %s: root at %d has %d bytes", tenant, c.Size, len(root))
		}
		c.Root = tlog.Hash(root)
		c.SignedAt = c.SignedAt.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit checkpoints of %s: %w", tenant, err)
	}
	return out, nil
}

// Unsigned implements [auditlog.Store].
func (s *AuditStore) Unsigned(ctx context.Context) (_ map[string]int64, err error) {
	defer classify(&err)
	rows, err := s.pool.Query(ctx, `SELECT t.tenant, t.size FROM audit_trees t
WHERE t.size > coalesce((SELECT max(c.size) FROM audit_checkpoints c WHERE c.tenant = t.tenant), 0)`)
	if err != nil {
		return nil, fmt.Errorf("read unsigned audit logs: %w", err)
	}
	return sizes(rows)
}

// Tenants implements [auditlog.Store].
func (s *AuditStore) Tenants(ctx context.Context) (_ []string, err error) {
	defer classify(&err)
	rows, err := s.pool.Query(ctx, `SELECT tenant FROM audit_trees UNION SELECT DISTINCT tenant FROM audit_checkpoints ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("read audit log tenants: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read audit log tenants: %w", err)
	}
	return out, nil
}

// Reset implements [auditlog.Store]. It truncates the tables, which
// briefly blocks readers, after locking the progress row, so that no
// append is half way.
func (s *AuditStore) Reset(ctx context.Context) (err error) {
	defer classify(&err)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM audit_progress FOR UPDATE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `TRUNCATE audit_leaves, audit_hashes, audit_trees`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE audit_progress SET commit_id = 0, position = 0`)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset the audit log: %w", err)
	}
	return nil
}

// Unpublished implements [auditlog.Store].
func (s *AuditStore) Unpublished(ctx context.Context, limit int) (_ []auditlog.TenantCheckpoint, err error) {
	defer classify(&err)
	if limit < 1 || limit > auditlog.MaxLimit {
		return nil, fmt.Errorf("read unpublished audit checkpoints: %w: limit %d is not between 1 and %d", auditlog.ErrInvalid, limit, auditlog.MaxLimit)
	}
	rows, err := s.pool.Query(ctx, `SELECT tenant, `+checkpointColumns+` FROM audit_checkpoints
WHERE NOT published ORDER BY signed_at, tenant, size LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("read unpublished audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []auditlog.TenantCheckpoint
	for rows.Next() {
		var c auditlog.TenantCheckpoint
		var root []byte
		if err := rows.Scan(&c.Tenant, &c.Size, &c.Origin, &root, &c.Note, &c.SignedAt); err != nil {
			return nil, fmt.Errorf("read unpublished audit checkpoints: %w", err)
		}
		if len(root) != tlog.HashSize {
			return nil, fmt.Errorf("read unpublished audit checkpoints: %s's root at %d has %d bytes", c.Tenant, c.Size, len(root))
		}
		c.Root, c.SignedAt = tlog.Hash(root), c.SignedAt.UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read unpublished audit checkpoints: %w", err)
	}
	return out, nil
}

// MarkPublished implements [auditlog.Store].
func (s *AuditStore) MarkPublished(ctx context.Context, tenant string, size int64) (err error) {
	defer classify(&err)
	if _, err := s.pool.Exec(ctx, `UPDATE audit_checkpoints SET published = true WHERE tenant = $1 AND size = $2`, tenant, size); err != nil {
		return fmt.Errorf("mark %s's audit checkpoint at %d published: %w", tenant, size, err)
	}
	return nil
}
