package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/webhooks"
)

var _ webhooks.Store = (*WebhookStore)(nil)

// WebhookStore keeps the tenants' webhook endpoints, their deliveries and
// the attempt log in the event store's SQLite file: a [webhooks.Store].
// Like [AuditStore], it writes through the event store's writer handle,
// whose one connection holds SQLite's write lock from BEGIN, so every
// write transaction (an Apply, an Acquire, a Record) is alone: the
// checks it makes first (checkpoint, lease, epoch) cannot change before
// it writes. Its transactions are short: states are marshalled before.
// It reads through the reader handle.
type WebhookStore struct {
	write, read *sql.DB
}

// NewWebhookStore returns the webhook store in the database of the event
// store's writer and reader handles (sqlite.Store.DB gives both), which
// the store's migrations have set up.
func NewWebhookStore(writer, reader *sql.DB) *WebhookStore {
	return &WebhookStore{write: writer, read: reader}
}

// nullTime scans a nullable time column in the event store's format:
// NULL is the zero time.
type nullTime struct{ t *time.Time }

func (d nullTime) Scan(src any) error {
	if src == nil {
		*d.t = time.Time{}
		return nil
	}
	return textTime(d).Scan(src)
}

// timeOrNull is t in the event store's format, or NULL when zero.
func timeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

// Checkpoint implements [webhooks.Store].
func (s *WebhookStore) Checkpoint(ctx context.Context) (eventstore.Position, error) {
	var commit, pos int64
	if err := s.read.QueryRowContext(ctx, `SELECT commit_id, position FROM webhook_progress WHERE id = 1`).Scan(&commit, &pos); err != nil {
		return eventstore.Position{}, fmt.Errorf("read the webhook checkpoint: %w", err)
	}
	return eventstore.Position{Commit: uint64(commit), Seq: pos}, nil
}

// marshalled is a change ready to write.
type marshalled struct {
	webhooks.Change
	state []byte
}

func marshalChanges(from, to eventstore.Position, changes []webhooks.Change) ([]marshalled, error) {
	if err := webhooks.CheckApply(from, to, changes); err != nil {
		return nil, err
	}
	out := make([]marshalled, len(changes))
	for i, c := range changes {
		b, err := json.Marshal(c.State)
		if err != nil {
			return nil, fmt.Errorf("encode the state of %s/%s: %w", c.Tenant, c.State.ID, err)
		}
		out[i] = marshalled{Change: c, state: b}
	}
	return out, nil
}

// Apply implements [webhooks.Store].
func (s *WebhookStore) Apply(ctx context.Context, from, to eventstore.Position, changes []webhooks.Change) error {
	ms, err := marshalChanges(from, to, changes)
	if err != nil {
		return fmt.Errorf("apply webhook changes: %w", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_progress SET commit_id = ?, position = ? WHERE id = 1 AND commit_id = ? AND position = ?`,
			int64(to.Commit), to.Seq, int64(from.Commit), from.Seq)
		if err != nil {
			return fmt.Errorf("move the checkpoint: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return webhooks.ErrStale
		}
		for _, m := range ms {
			if err := applyChange(ctx, tx, m); err != nil {
				return fmt.Errorf("%s/%s: %w", m.Tenant, m.State.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply webhook changes at %s: %w", from, err)
	}
	return nil
}

func applyChange(ctx context.Context, tx *sql.Tx, m marshalled) error {
	res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET state = ?, active = ?, deleted = ?, commit_id = ?, position = ?
WHERE tenant = ? AND id = ?`, string(m.state), m.State.Active, m.State.Deleted, int64(m.Position.Commit), m.Position.Seq, m.Tenant, m.State.ID)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		if m.Start == nil {
			return fmt.Errorf("%w: a new endpoint's change needs a start", webhooks.ErrInvalid)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (tenant, id, created, state, active, deleted, commit_id, position)
VALUES (?, ?, (SELECT coalesce(max(created), 0) + 1 FROM webhook_endpoints), ?, ?, ?, ?, ?)`,
			m.Tenant, m.State.ID, string(m.state), m.State.Active, m.State.Deleted, int64(m.Position.Commit), m.Position.Seq); err != nil {
			return err
		}
	}
	// A start or resume the delivery has seen (a rebuild applies the
	// events again) leaves it be.
	p := m.Position
	switch {
	case m.Start != nil:
		_, err = tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (tenant, id, cursor_commit, cursor_position, epoch, applied_commit, applied_position)
VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)
ON CONFLICT (tenant, id) DO UPDATE SET cursor_commit = excluded.cursor_commit, cursor_position = excluded.cursor_position,
    epoch = epoch + 1, failures = 0, failing_since = NULL, next_attempt = NULL,
    applied_commit = excluded.applied_commit, applied_position = excluded.applied_position
WHERE (applied_commit, applied_position) < (?5, ?6)`,
			m.Tenant, m.State.ID, int64(m.Start.Commit), m.Start.Seq, int64(p.Commit), p.Seq)
	case m.Resume:
		_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET epoch = epoch + 1, failures = 0, failing_since = NULL, next_attempt = NULL,
    applied_commit = ?3, applied_position = ?4
WHERE tenant = ?1 AND id = ?2 AND (applied_commit, applied_position) < (?3, ?4)`, m.Tenant, m.State.ID, int64(p.Commit), p.Seq)
	}
	return err
}

// inTx runs fn in a write transaction, committed when fn returns nil.
func (s *WebhookStore) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// States implements [webhooks.Store].
func (s *WebhookStore) States(ctx context.Context, tenant string, ids []string) (map[string]webhook.State, error) {
	out := make(map[string]webhook.State, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, state FROM webhook_endpoints WHERE tenant = ? AND id IN (SELECT value FROM json_each(?))`,
		tenant, jsonArray(ids))
	if err != nil {
		return nil, fmt.Errorf("read webhook states of %s: %w", tenant, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("read webhook states of %s: %w", tenant, err)
		}
		var st webhook.State
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			return nil, fmt.Errorf("read webhook states of %s: corrupt state of %s: %w", tenant, id, err)
		}
		out[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read webhook states of %s: %w", tenant, err)
	}
	return out, nil
}

const endpointColumns = `e.tenant, e.state, e.commit_id, e.position, d.cursor_commit, d.cursor_position, d.epoch, d.failures,
    d.failing_since, d.next_attempt, d.last_attempt, d.last_status, d.last_error, d.owner, d.lease_until`

const endpointJoin = ` FROM webhook_endpoints e JOIN webhook_deliveries d ON d.tenant = e.tenant AND d.id = e.id`

// readEndpoints reads rows of endpointColumns.
func readEndpoints(rows *sql.Rows) ([]webhooks.Endpoint, error) {
	defer rows.Close()
	var out []webhooks.Endpoint
	for rows.Next() {
		var e webhooks.Endpoint
		var raw string
		var commit, cursorCommit int64
		d := &e.Delivery
		if err := rows.Scan(&e.Tenant, &raw, &commit, &e.Position.Seq, &cursorCommit, &d.Cursor.Seq, &d.Epoch, &d.Failures,
			nullTime{&d.FailingSince}, nullTime{&d.NextAttempt}, nullTime{&d.LastAttempt}, &d.LastStatus, &d.LastError,
			&d.Owner, nullTime{&d.LeaseUntil}); err != nil {
			return nil, err
		}
		e.Position.Commit, d.Cursor.Commit = uint64(commit), uint64(cursorCommit)
		if err := json.Unmarshal([]byte(raw), &e.State); err != nil {
			return nil, fmt.Errorf("corrupt state of an endpoint of %s: %w", e.Tenant, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Endpoint implements [webhooks.Store].
func (s *WebhookStore) Endpoint(ctx context.Context, tenant, id string) (webhooks.Endpoint, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+endpointColumns+endpointJoin+` WHERE e.tenant = ? AND e.id = ? AND NOT e.deleted`, tenant, id)
	if err != nil {
		return webhooks.Endpoint{}, fmt.Errorf("read webhook %s of %s: %w", id, tenant, err)
	}
	es, err := readEndpoints(rows)
	if err != nil {
		return webhooks.Endpoint{}, fmt.Errorf("read webhook %s of %s: %w", id, tenant, err)
	}
	if len(es) == 0 {
		return webhooks.Endpoint{}, fmt.Errorf("webhook %s of %s: %w", id, tenant, webhooks.ErrNotFound)
	}
	return es[0], nil
}

// Endpoints implements [webhooks.Store].
func (s *WebhookStore) Endpoints(ctx context.Context, tenant string) ([]webhooks.Endpoint, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+endpointColumns+endpointJoin+` WHERE e.tenant = ? AND NOT e.deleted ORDER BY e.created`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %s: %w", tenant, err)
	}
	es, err := readEndpoints(rows)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %s: %w", tenant, err)
	}
	return es, nil
}

// Acquire implements [webhooks.Store]. Its transaction is alone (see
// [WebhookStore]), so two owners never take the same endpoint.
func (s *WebhookStore) Acquire(ctx context.Context, owner string, now, until time.Time, limit int) ([]webhooks.Endpoint, error) {
	if err := webhooks.CheckAcquire(owner, now, until, limit); err != nil {
		return nil, fmt.Errorf("acquire webhooks for %s: %w", owner, err)
	}
	var out []webhooks.Endpoint
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Leases of endpoints no longer to deliver are given up.
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET owner = '', lease_until = NULL
WHERE owner = ? AND EXISTS (SELECT 1 FROM webhook_endpoints e
    WHERE e.tenant = webhook_deliveries.tenant AND e.id = webhook_deliveries.id AND (NOT e.active OR e.deleted))`, owner); err != nil {
			return err
		}
		n := formatTime(now)
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET owner = ?, lease_until = ?
WHERE (tenant, id) IN (
    SELECT d.tenant, d.id`+endpointJoin+`
    WHERE e.active AND NOT e.deleted AND (d.owner = ? OR d.owner = '' OR d.lease_until IS NULL OR d.lease_until <= ?)
    ORDER BY d.owner = ? DESC, e.created LIMIT ?)`, owner, formatTime(until), owner, n, owner, limit); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+endpointColumns+endpointJoin+` WHERE d.owner = ? AND d.lease_until > ? ORDER BY e.created`, owner, n)
		if err != nil {
			return err
		}
		out, err = readEndpoints(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("acquire webhooks for %s: %w", owner, err)
	}
	return out, nil
}

// Release implements [webhooks.Store].
func (s *WebhookStore) Release(ctx context.Context, owner, tenant, id string) error {
	if _, err := s.write.ExecContext(ctx, `UPDATE webhook_deliveries SET owner = '', lease_until = NULL WHERE tenant = ? AND id = ? AND owner = ?`,
		tenant, id, owner); err != nil {
		return fmt.Errorf("release webhook %s of %s: %w", id, tenant, err)
	}
	return nil
}

// Record implements [webhooks.Store].
func (s *WebhookStore) Record(ctx context.Context, owner, tenant, id string, now time.Time, d webhooks.Delivery, attempts []webhooks.Attempt) error {
	as := webhooks.OfEndpoint(tenant, id, attempts)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var holder string
		var until time.Time
		var epoch int64
		err := tx.QueryRowContext(ctx, `SELECT owner, lease_until, epoch FROM webhook_deliveries WHERE tenant = ? AND id = ?`, tenant, id).
			Scan(&holder, nullTime{&until}, &epoch)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return webhooks.ErrLeaseLost
		case err != nil:
			return err
		case holder != owner || owner == "" || !until.After(now):
			return webhooks.ErrLeaseLost
		case epoch != d.Epoch:
			return webhooks.ErrStale
		}
		c := d.Cursor
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET
    cursor_commit = CASE WHEN cursor_commit > ?1 OR (cursor_commit = ?1 AND cursor_position > ?2) THEN cursor_commit ELSE ?1 END,
    cursor_position = CASE WHEN cursor_commit > ?1 OR (cursor_commit = ?1 AND cursor_position > ?2) THEN cursor_position ELSE ?2 END,
    failures = ?3, failing_since = ?4, next_attempt = ?5, last_attempt = ?6, last_status = ?7, last_error = ?8
WHERE tenant = ?9 AND id = ?10`, int64(c.Commit), c.Seq, d.Failures, timeOrNull(d.FailingSince), timeOrNull(d.NextAttempt),
			timeOrNull(d.LastAttempt), d.LastStatus, d.LastError, tenant, id); err != nil {
			return err
		}
		if _, err := insertAttempts(ctx, tx, as); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record deliveries of webhook %s of %s: %w", id, tenant, err)
	}
	return nil
}

// insertAttempts adds as to the log and returns the IDs given them, in
// the order of as.
func insertAttempts(ctx context.Context, tx *sql.Tx, as []webhooks.Attempt) ([]int64, error) {
	if len(as) == 0 {
		return nil, nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO webhook_attempts (tenant, webhook, message_id, event_type, cursor, kind, at, status,
    latency_us, error, next_retry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ids := make([]int64, len(as))
	for i, a := range as {
		res, err := st.ExecContext(ctx, a.Tenant, a.Webhook, a.MessageID, a.EventType, a.Cursor, string(a.Trigger), formatTime(a.At),
			a.Status, a.Latency.Microseconds(), a.Error, timeOrNull(a.NextRetry))
		if err != nil {
			return nil, err
		}
		if ids[i], err = res.LastInsertId(); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Log implements [webhooks.Store].
func (s *WebhookStore) Log(ctx context.Context, attempts []webhooks.Attempt) ([]int64, error) {
	if err := webhooks.CheckLog(attempts); err != nil {
		return nil, fmt.Errorf("log webhook attempts: %w", err)
	}
	var ids []int64
	if err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		ids, err = insertAttempts(ctx, tx, attempts)
		return err
	}); err != nil {
		return nil, fmt.Errorf("log webhook attempts: %w", err)
	}
	return ids, nil
}

// Attempts implements [webhooks.Store].
func (s *WebhookStore) Attempts(ctx context.Context, tenant, id string, before int64, limit int) ([]webhooks.Attempt, error) {
	if err := webhooks.CheckLimit(limit); err != nil {
		return nil, fmt.Errorf("read attempts of webhook %s of %s: %w", id, tenant, err)
	}
	q := `SELECT id, tenant, webhook, message_id, event_type, cursor, kind, at, status, latency_us, error, next_retry
FROM webhook_attempts WHERE tenant = ? AND webhook = ?`
	args := []any{tenant, id}
	if before > 0 {
		q += ` AND id < ?`
		args = append(args, before)
	}
	rows, err := s.read.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("read attempts of webhook %s of %s: %w", id, tenant, err)
	}
	defer rows.Close()
	var out []webhooks.Attempt
	for rows.Next() {
		var a webhooks.Attempt
		var trigger string
		var latency int64
		if err := rows.Scan(&a.ID, &a.Tenant, &a.Webhook, &a.MessageID, &a.EventType, &a.Cursor, &trigger, textTime{&a.At},
			&a.Status, &latency, &a.Error, nullTime{&a.NextRetry}); err != nil {
			return nil, fmt.Errorf("read attempts of webhook %s of %s: %w", id, tenant, err)
		}
		a.Trigger, a.Latency = webhooks.Trigger(trigger), time.Duration(latency)*time.Microsecond
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read attempts of webhook %s of %s: %w", id, tenant, err)
	}
	return out, nil
}

// Prune implements [webhooks.Store].
func (s *WebhookStore) Prune(ctx context.Context, before time.Time, keep int) (int, error) {
	if keep < 0 {
		return 0, fmt.Errorf("prune webhook attempts: %w: keep %d is negative", webhooks.ErrInvalid, keep)
	}
	var conds []string
	var args []any
	if !before.IsZero() {
		conds = append(conds, `at < ?`)
		args = append(args, formatTime(before))
	}
	conds = append(conds, `id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY tenant, webhook ORDER BY id DESC) AS n
    FROM webhook_attempts) WHERE n > ?)`)
	args = append(args, keep)
	res, err := s.write.ExecContext(ctx, `DELETE FROM webhook_attempts WHERE `+strings.Join(conds, " OR "), args...)
	if err != nil {
		return 0, fmt.Errorf("prune webhook attempts: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune webhook attempts: %w", err)
	}
	return int(n), nil
}

// Reset implements [webhooks.Store].
func (s *WebhookStore) Reset(ctx context.Context) error {
	return s.reset(ctx, `DELETE FROM webhook_endpoints`, `DELETE FROM webhook_deliveries`, `DELETE FROM webhook_attempts`)
}

// ResetEndpoints implements [webhooks.Store].
func (s *WebhookStore) ResetEndpoints(ctx context.Context) error {
	return s.reset(ctx, `DELETE FROM webhook_endpoints`)
}

// reset runs deletes and moves the checkpoint to the start.
func (s *WebhookStore) reset(ctx context.Context, deletes ...string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, stmt := range append(deletes, `UPDATE webhook_progress SET commit_id = 0, position = 0 WHERE id = 1`) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reset the webhooks: %w", err)
	}
	return nil
}
