package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/auditlog"
)

var _ auditlog.Store = (*AuditStore)(nil)

// AuditStore keeps the tenants' audit logs in the event store's SQLite
// file: an [auditlog.Store]. Like [Backend], it writes through the event
// store's writer handle, whose one connection holds SQLite's write lock
// from BEGIN, so an append is alone and its progress cannot move under
// it; the leaves and hashes it writes are computed before, so the
// transaction only writes. It reads through the reader handle.
type AuditStore struct {
	write, read *sql.DB
}

// NewAuditStore returns the audit log store in the database of the event
// store's writer and reader handles (sqlite.Store.DB gives both), which
// the store's migrations have set up.
func NewAuditStore(writer, reader *sql.DB) *AuditStore {
	return &AuditStore{write: writer, read: reader}
}

// Progress implements [auditlog.Store].
func (s *AuditStore) Progress(ctx context.Context) (eventstore.Position, error) {
	var commit, pos int64
	if err := s.read.QueryRowContext(ctx, `SELECT commit_id, position FROM audit_progress WHERE id = 1`).Scan(&commit, &pos); err != nil {
		return eventstore.Position{}, fmt.Errorf("read audit log progress: %w", err)
	}
	return eventstore.Position{Commit: uint64(commit), Seq: pos}, nil
}

const (
	insertLeaf = `INSERT INTO audit_leaves (tenant, leaf, event_id, commit_id, position, stream_type, stream_id,
    version, type, schema, data, data_digest, actor, correlation_id, causation_id, occurred_at, traceparent,
    reason, source, user_agent, recorded_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertHash  = `INSERT INTO audit_hashes (tenant, idx, hash) VALUES (?, ?, ?)`
	leafColumns = `leaf, event_id, commit_id, position, tenant, stream_type, stream_id, version, type, schema, data,
    data_digest, actor, correlation_id, causation_id, occurred_at, traceparent, reason, source, user_agent, recorded_at`
)

// Append implements [auditlog.Store].
func (s *AuditStore) Append(ctx context.Context, from, to eventstore.Position, leaves []auditlog.Leaves) error {
	if err := auditlog.CheckAppend(from, to, leaves); err != nil {
		return fmt.Errorf("append to the audit log: %w", err)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append to the audit log: begin: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE audit_progress SET commit_id = ?, position = ? WHERE id = 1 AND commit_id = ? AND position = ?`,
		int64(to.Commit), to.Seq, int64(from.Commit), from.Seq)
	if err != nil {
		return fmt.Errorf("append to the audit log: move progress: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("append to the audit log at %s: %w", from, auditlog.ErrStale)
	}
	if err := appendLeaves(ctx, tx, leaves); err != nil {
		return fmt.Errorf("append to the audit log: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append to the audit log: commit: %w", err)
	}
	return nil
}

func appendLeaves(ctx context.Context, tx *sql.Tx, leaves []auditlog.Leaves) error {
	if len(leaves) == 0 {
		return nil
	}
	leaf, err := tx.PrepareContext(ctx, insertLeaf)
	if err != nil {
		return err
	}
	defer leaf.Close()
	hash, err := tx.PrepareContext(ctx, insertHash)
	if err != nil {
		return err
	}
	defer hash.Close()
	for _, l := range leaves {
		first := l.Entries[0].Index
		size := first + int64(len(l.Entries))
		var res sql.Result
		if first == 0 {
			res, err = tx.ExecContext(ctx, `INSERT INTO audit_trees (tenant, size) VALUES (?, ?) ON CONFLICT (tenant) DO NOTHING`, l.Tenant, size)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE audit_trees SET size = ? WHERE tenant = ? AND size = ?`, size, l.Tenant, first)
		}
		if err != nil {
			return fmt.Errorf("tenant %s: %w", l.Tenant, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%w: tenant %s's leaves start at %d, which is not its size", auditlog.ErrInvalid, l.Tenant, first)
		}
		for _, e := range l.Entries {
			m := e.Meta
			if _, err := leaf.ExecContext(ctx, l.Tenant, e.Index, e.ID, int64(e.Position.Commit), e.Position.Seq,
				e.Stream.Type, e.Stream.ID, e.Version, e.Type, e.Schema, []byte(e.Data), e.DataDigest[:],
				m.Actor, m.CorrelationID, m.CausationID, formatTime(m.OccurredAt), m.TraceParent, m.Reason,
				m.Source, m.UserAgent, formatTime(e.RecordedAt)); err != nil {
				return fmt.Errorf("tenant %s, leaf %d: %w", l.Tenant, e.Index, err)
			}
		}
		for i, h := range l.Hashes {
			if _, err := hash.ExecContext(ctx, l.Tenant, l.First+int64(i), h[:]); err != nil {
				return fmt.Errorf("tenant %s, hash %d: %w", l.Tenant, l.First+int64(i), err)
			}
		}
	}
	return nil
}

// Sizes implements [auditlog.Store].
func (s *AuditStore) Sizes(ctx context.Context, tenants []string) (map[string]int64, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT tenant, size FROM audit_trees WHERE tenant IN (SELECT value FROM json_each(?))`, jsonArray(tenants))
	if err != nil {
		return nil, fmt.Errorf("read audit log sizes: %w", err)
	}
	return sizes(rows)
}

func sizes(rows *sql.Rows) (map[string]int64, error) {
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
func (s *AuditStore) ReadHashes(ctx context.Context, tenant string, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	b, _ := json.Marshal(indexes) // []int64 always encodes
	rows, err := s.read.QueryContext(ctx, `SELECT idx, hash FROM audit_hashes WHERE tenant = ? AND idx IN (SELECT value FROM json_each(?))`, tenant, string(b))
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
func (s *AuditStore) Entries(ctx context.Context, tenant string, f auditlog.Filter, after int64, limit int) ([]auditlog.Entry, error) {
	if limit < 1 || limit > auditlog.MaxLimit {
		return nil, fmt.Errorf("read audit entries of %s: %w: limit %d is not between 1 and %d", tenant, auditlog.ErrInvalid, limit, auditlog.MaxLimit)
	}
	var q strings.Builder
	q.WriteString(`SELECT ` + leafColumns + ` FROM audit_leaves WHERE tenant = ? AND leaf > ?`)
	args := []any{tenant, after}
	cond := func(c string, v any) {
		q.WriteString(" AND " + c)
		args = append(args, v)
	}
	if f.StreamType != "" {
		cond("stream_type = ?", f.StreamType)
	}
	if f.StreamID != "" {
		cond("stream_id = ?", f.StreamID)
	}
	if f.Type != "" {
		cond("type = ?", f.Type)
	}
	if f.Actor != "" {
		cond("actor = ?", f.Actor)
	}
	if f.EventID != "" {
		cond("event_id = ?", f.EventID)
	}
	if !f.Since.IsZero() {
		cond("recorded_at >= ?", formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		cond("recorded_at < ?", formatTime(f.Until))
	}
	q.WriteString(` ORDER BY leaf LIMIT ?`)
	args = append(args, limit)
	rows, err := s.read.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("read audit entries of %s: %w", tenant, err)
	}
	defer rows.Close()
	var out []auditlog.Entry
	for rows.Next() {
		var e auditlog.Entry
		var commit int64
		var data, digest []byte
		if err := rows.Scan(&e.Index, &e.ID, &commit, &e.Position.Seq, &e.Stream.Tenant, &e.Stream.Type, &e.Stream.ID,
			&e.Version, &e.Type, &e.Schema, &data, &digest, &e.Meta.Actor, &e.Meta.CorrelationID, &e.Meta.CausationID,
			textTime{&e.Meta.OccurredAt}, &e.Meta.TraceParent, &e.Meta.Reason, &e.Meta.Source, &e.Meta.UserAgent,
			textTime{&e.RecordedAt}); err != nil {
			return nil, fmt.Errorf("read audit entries of %s: %w", tenant, err)
		}
		e.Position.Commit = uint64(commit)
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
func (s *AuditStore) AddCheckpoint(ctx context.Context, tenant string, c auditlog.SignedCheckpoint) error {
	if c.Size < 1 || tenant == "" {
		return fmt.Errorf("add audit checkpoint: %w: tenant %q, size %d", auditlog.ErrInvalid, tenant, c.Size)
	}
	if _, err := s.write.ExecContext(ctx, `INSERT INTO audit_checkpoints (tenant, size, origin, root, note, signed_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, size) DO NOTHING`,
		tenant, c.Size, c.Origin, c.Root[:], c.Note, formatTime(c.SignedAt)); err != nil {
		return fmt.Errorf("add audit checkpoint of %s at %d: %w", tenant, c.Size, err)
	}
	return nil
}

const checkpointColumns = `size, origin, root, note, signed_at`

// Checkpoints implements [auditlog.Store].
func (s *AuditStore) Checkpoints(ctx context.Context, tenant string, after int64, limit int) ([]auditlog.SignedCheckpoint, error) {
	if limit < 1 || limit > auditlog.MaxLimit {
		return nil, fmt.Errorf("read audit checkpoints of %s: %w: limit %d is not between 1 and %d", tenant, auditlog.ErrInvalid, limit, auditlog.MaxLimit)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE tenant = ? AND size > ? ORDER BY size LIMIT ?`, tenant, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints of %s: %w", tenant, err)
	}
	return checkpoints(tenant, rows)
}

// LatestCheckpoint implements [auditlog.Store].
func (s *AuditStore) LatestCheckpoint(ctx context.Context, tenant string) (auditlog.SignedCheckpoint, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE tenant = ? ORDER BY size DESC LIMIT 1`, tenant)
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

func checkpoints(tenant string, rows *sql.Rows) ([]auditlog.SignedCheckpoint, error) {
	defer rows.Close()
	var out []auditlog.SignedCheckpoint
	for rows.Next() {
		var c auditlog.SignedCheckpoint
		var root []byte
		if err := rows.Scan(&c.Size, &c.Origin, &root, &c.Note, textTime{&c.SignedAt}); err != nil {
			return nil, fmt.Errorf("read audit checkpoints of %s: %w", tenant, err)
		}
		if len(root) != tlog.HashSize {
			return nil, fmt.Errorf("read audit checkpoints of %s: root at %d has %d bytes", tenant, c.Size, len(root))
		}
		c.Root = tlog.Hash(root)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit checkpoints of %s: %w", tenant, err)
	}
	return out, nil
}

// Unsigned implements [auditlog.Store].
func (s *AuditStore) Unsigned(ctx context.Context) (map[string]int64, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT t.tenant, t.size FROM audit_trees t
WHERE t.size > coalesce((SELECT max(c.size) FROM audit_checkpoints c WHERE c.tenant = t.tenant), 0)`)
	if err != nil {
		return nil, fmt.Errorf("read unsigned audit logs: %w", err)
	}
	return sizes(rows)
}

// Tenants implements [auditlog.Store].
func (s *AuditStore) Tenants(ctx context.Context) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT tenant FROM audit_trees UNION SELECT DISTINCT tenant FROM audit_checkpoints ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("read audit log tenants: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("read audit log tenants: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit log tenants: %w", err)
	}
	return out, nil
}

// Reset implements [auditlog.Store].
func (s *AuditStore) Reset(ctx context.Context) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("reset the audit log: begin: %w", err)
	}
	defer tx.Rollback()
	for _, stmt := range []string{`DELETE FROM audit_leaves`, `DELETE FROM audit_hashes`, `DELETE FROM audit_trees`,
		`UPDATE audit_progress SET commit_id = 0, position = 0 WHERE id = 1`} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("reset the audit log: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("reset the audit log: commit: %w", err)
	}
	return nil
}

// Unpublished implements [auditlog.Store].
func (s *AuditStore) Unpublished(ctx context.Context, limit int) ([]auditlog.TenantCheckpoint, error) {
	if limit < 1 || limit > auditlog.MaxLimit {
		return nil, fmt.Errorf("read unpublished audit checkpoints: %w: limit %d is not between 1 and %d", auditlog.ErrInvalid, limit, auditlog.MaxLimit)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT tenant, `+checkpointColumns+` FROM audit_checkpoints
WHERE published = 0 ORDER BY signed_at, tenant, size LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read unpublished audit checkpoints: %w", err)
	}
	defer rows.Close()
	var out []auditlog.TenantCheckpoint
	for rows.Next() {
		var c auditlog.TenantCheckpoint
		var root []byte
		if err := rows.Scan(&c.Tenant, &c.Size, &c.Origin, &root, &c.Note, textTime{&c.SignedAt}); err != nil {
			return nil, fmt.Errorf("read unpublished audit checkpoints: %w", err)
		}
		if len(root) != tlog.HashSize {
			return nil, fmt.Errorf("read unpublished audit checkpoints: %s's root at %d has %d bytes", c.Tenant, c.Size, len(root))
		}
		c.Root = tlog.Hash(root)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read unpublished audit checkpoints: %w", err)
	}
	return out, nil
}

// MarkPublished implements [auditlog.Store].
func (s *AuditStore) MarkPublished(ctx context.Context, tenant string, size int64) error {
	if _, err := s.write.ExecContext(ctx, `UPDATE audit_checkpoints SET published = 1 WHERE tenant = ? AND size = ?`, tenant, size); err != nil {
		return fmt.Errorf("mark %s's audit checkpoint at %d published: %w", tenant, size, err)
	}
	return nil
}
