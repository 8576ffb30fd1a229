package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/webhooks"
)

var _ webhooks.Store = (*WebhookStore)(nil)

// WebhookStore keeps the tenants' webhook endpoints, their deliveries and
// the attempt log in PostgreSQL, in the event store's database: a
// [webhooks.Store]. An Apply first moves the progress row from where the
// projection started (its row lock orders projections on every node, and
// the loser finds the row moved: [webhooks.ErrStale]). A Record locks the
// endpoint's delivery row before it checks the lease and the epoch. An
// Acquire locks the rows it takes with SKIP LOCKED, so that nodes racing
// for endpoints split them rather than wait for each other.
type WebhookStore struct {
	pool *pgxpool.Pool
}

// NewWebhookStore returns the webhook store in the database of pool,
// which the event store's migrations have set up (postgres.Store.Pool
// gives it).
func NewWebhookStore(pool *pgxpool.Pool) *WebhookStore { return &WebhookStore{pool: pool} }

// timeOrNull is t, or NULL when zero.
func timeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// timeOf is a nullable timestamptz as a time: UTC, or zero for NULL.
func timeOf(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// Checkpoint implements [webhooks.Store].
func (s *WebhookStore) Checkpoint(ctx context.Context) (_ eventstore.Position, err error) {
	defer classify(&err)
	var commit, pos int64
	if err := s.pool.QueryRow(ctx, `SELECT commit_id, position FROM webhook_progress`).Scan(&commit, &pos); err != nil {
		return eventstore.Position{}, fmt.Errorf("read the webhook checkpoint: %w", err)
	}
	return eventstore.Position{Commit: uint64(commit), Seq: pos}, nil
}

// Apply implements [webhooks.Store].
func (s *WebhookStore) Apply(ctx context.Context, from, to eventstore.Position, changes []webhooks.Change) (err error) {
	defer classify(&err)
	if err := webhooks.CheckApply(from, to, changes); err != nil {
		return fmt.Errorf("apply webhook changes: %w", err)
	}
	states := make([][]byte, len(changes))
	for i, c := range changes {
		b, err := json.Marshal(c.State)
		if err != nil {
			return fmt.Errorf("apply webhook changes: encode the state of %s/%s: %w", c.Tenant, c.State.ID, err)
		}
		states[i] = b
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_progress SET commit_id = $3, position = $4 WHERE commit_id = $1 AND position = $2`,
			int64(from.Commit), from.Seq, int64(to.Commit), to.Seq)
		if err != nil {
			return fmt.Errorf("move the checkpoint: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return webhooks.ErrStale
		}
		for i, c := range changes {
			if err := applyWebhookChange(ctx, tx, c, states[i]); err != nil {
				return fmt.Errorf("%s/%s: %w", c.Tenant, c.State.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply webhook changes at %s: %w", from, err)
	}
	return nil
}

func applyWebhookChange(ctx context.Context, tx pgx.Tx, c webhooks.Change, state []byte) error {
	tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET state = $3, active = $4, deleted = $5, commit_id = $6, position = $7
WHERE tenant = $1 AND id = $2`, c.Tenant, c.State.ID, string(state), c.State.Active, c.State.Deleted, int64(c.Position.Commit), c.Position.Seq)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		if c.Start == nil {
			return fmt.Errorf("%w: a new endpoint's change needs a start", webhooks.ErrInvalid)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_endpoints (tenant, id, state, active, deleted, commit_id, position)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.Tenant, c.State.ID, string(state), c.State.Active, c.State.Deleted, int64(c.Position.Commit), c.Position.Seq); err != nil {
			return err
		}
	}
	// A start or resume the delivery has seen (a rebuild applies the
	// events again) leaves it be.
	p := c.Position
	switch {
	case c.Start != nil:
		_, err = tx.Exec(ctx, `INSERT INTO webhook_deliveries AS d (tenant, id, cursor_commit, cursor_position, epoch, applied_commit, applied_position)
VALUES ($1, $2, $3, $4, 1, $5, $6)
ON CONFLICT (tenant, id) DO UPDATE SET cursor_commit = excluded.cursor_commit, cursor_position = excluded.cursor_position,
    epoch = d.epoch + 1, failures = 0, failing_since = NULL, next_attempt = NULL,
    applied_commit = excluded.applied_commit, applied_position = excluded.applied_position
WHERE (d.applied_commit, d.applied_position) < (excluded.applied_commit, excluded.applied_position)`,
			c.Tenant, c.State.ID, int64(c.Start.Commit), c.Start.Seq, int64(p.Commit), p.Seq)
	case c.Resume:
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET epoch = epoch + 1, failures = 0, failing_since = NULL, next_attempt = NULL,
    applied_commit = $3, applied_position = $4
WHERE tenant = $1 AND id = $2 AND (applied_commit, applied_position) < ($3::bigint, $4::bigint)`, c.Tenant, c.State.ID, int64(p.Commit), p.Seq)
	}
	return err
}

// States implements [webhooks.Store].
func (s *WebhookStore) States(ctx context.Context, tenant string, ids []string) (_ map[string]webhook.State, err error) {
	defer classify(&err)
	out := make(map[string]webhook.State, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, state FROM webhook_endpoints WHERE tenant = $1 AND id = ANY($2)`, tenant, ids)
	if err != nil {
		return nil, fmt.Errorf("read webhook states of %s: %w", tenant, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("read webhook states of %s: %w", tenant, err)
		}
		var st webhook.State
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, fmt.Errorf("read webhook states of %s: corrupt state of %s: %w", tenant, id, err)
		}
		out[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read webhook states of %s: %w", tenant, err)
	}
	return out, nil
}

const (
	webhookColumns = `e.tenant, e.state, e.commit_id, e.position, d.cursor_commit, d.cursor_position, d.epoch, d.failures,
    d.failing_since, d.next_attempt, d.last_attempt, d.last_status, d.last_error, d.owner, d.lease_until`
	webhookJoin = ` FROM webhook_endpoints e JOIN webhook_deliveries d ON d.tenant = e.tenant AND d.id = e.id`
)

// readWebhooks reads rows of webhookColumns.
func readWebhooks(rows pgx.Rows) ([]webhooks.Endpoint, error) {
	defer rows.Close()
	var out []webhooks.Endpoint
	for rows.Next() {
		var e webhooks.Endpoint
		var raw []byte
		var commit, cursorCommit int64
		var failingSince, nextAttempt, lastAttempt, leaseUntil pgtype.Timestamptz
		d := &e.Delivery
		if err := rows.Scan(&e.Tenant, &raw, &commit, &e.Position.Seq, &cursorCommit, &d.Cursor.Seq, &d.Epoch, &d.Failures,
			&failingSince, &nextAttempt, &lastAttempt, &d.LastStatus, &d.LastError, &d.Owner, &leaseUntil); err != nil {
			return nil, err
		}
		e.Position.Commit, d.Cursor.Commit = uint64(commit), uint64(cursorCommit)
		d.FailingSince, d.NextAttempt, d.LastAttempt, d.LeaseUntil = timeOf(failingSince), timeOf(nextAttempt), timeOf(lastAttempt), timeOf(leaseUntil)
		if err := json.Unmarshal(raw, &e.State); err != nil {
			return nil, fmt.Errorf("corrupt state of an endpoint of %s: %w", e.Tenant, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Endpoint implements [webhooks.Store].
func (s *WebhookStore) Endpoint(ctx context.Context, tenant, id string) (_ webhooks.Endpoint, err error) {
	defer classify(&err)
	rows, err := s.pool.Query(ctx, `SELECT `+webhookColumns+webhookJoin+` WHERE e.tenant = $1 AND e.id = $2 AND NOT e.deleted`, tenant, id)
	if err != nil {
		return webhooks.Endpoint{}, fmt.Errorf("read webhook %s of %s: %w", id, tenant, err)
	}
	es, err := readWebhooks(rows)
	if err != nil {
		return webhooks.Endpoint{}, fmt.Errorf("read webhook %s of %s: %w", id, tenant, err)
	}
	if len(es) == 0 {
		return webhooks.Endpoint{}, fmt.Errorf("webhook %s of %s: %w", id, tenant, webhooks.ErrNotFound)
	}
	return es[0], nil
}

// Endpoints implements [webhooks.Store].
func (s *WebhookStore) Endpoints(ctx context.Context, tenant string) (_ []webhooks.Endpoint, err error) {
	defer classify(&err)
	rows, err := s.pool.Query(ctx, `SELECT `+webhookColumns+webhookJoin+` WHERE e.tenant = $1 AND NOT e.deleted ORDER BY e.created`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %s: %w", tenant, err)
	}
	es, err := readWebhooks(rows)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %s: %w", tenant, err)
	}
	return es, nil
}

// Acquire implements [webhooks.Store].
func (s *WebhookStore) Acquire(ctx context.Context, owner string, now, until time.Time, limit int) (_ []webhooks.Endpoint, err error) {
	defer classify(&err)
	if err := webhooks.CheckAcquire(owner, now, until, limit); err != nil {
		return nil, fmt.Errorf("acquire webhooks for %s: %w", owner, err)
	}
	var out []webhooks.Endpoint
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Leases of endpoints no longer to deliver are given up.
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET owner = '', lease_until = NULL
WHERE (tenant, id) IN (SELECT d.tenant, d.id`+webhookJoin+` WHERE d.owner = $1 AND (NOT e.active OR e.deleted) FOR UPDATE OF d SKIP LOCKED)`,
			owner); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET owner = $1, lease_until = $3
WHERE (tenant, id) IN (
    SELECT d.tenant, d.id`+webhookJoin+`
    WHERE e.active AND NOT e.deleted AND (d.owner = $1 OR d.owner = '' OR d.lease_until IS NULL OR d.lease_until <= $2)
    ORDER BY d.owner = $1 DESC, e.created LIMIT $4
    FOR UPDATE OF d SKIP LOCKED)`, owner, now, until, limit); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+webhookColumns+webhookJoin+` WHERE d.owner = $1 AND d.lease_until > $2 ORDER BY e.created`, owner, now)
		if err != nil {
			return err
		}
		out, err = readWebhooks(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("acquire webhooks for %s: %w", owner, err)
	}
	return out, nil
}

// Release implements [webhooks.Store].
func (s *WebhookStore) Release(ctx context.Context, owner, tenant, id string) (err error) {
	defer classify(&err)
	if _, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET owner = '', lease_until = NULL WHERE tenant = $1 AND id = $2 AND owner = $3`,
		tenant, id, owner); err != nil {
		return fmt.Errorf("release webhook %s of %s: %w", id, tenant, err)
	}
	return nil
}

// recordDelivery checks the lease and the epoch, moves the delivery and
// adds the attempts, in one statement: the attempts are
// $1..$11, as attemptArgs gives them. It answers the delivery as it was
// (none when the endpoint has none) and whether it was moved.
const recordDelivery = `WITH cur AS (
    SELECT owner, lease_until, epoch FROM webhook_deliveries WHERE tenant = $12 AND id = $13 FOR UPDATE
), ok AS (
    SELECT 1 FROM cur WHERE owner = $14 AND lease_until > $15 AND epoch = $16
), upd AS (
    UPDATE webhook_deliveries SET
        cursor_commit = CASE WHEN (cursor_commit, cursor_position) > ($17::bigint, $18::bigint) THEN cursor_commit ELSE $17 END,
        cursor_position = CASE WHEN (cursor_commit, cursor_position) > ($17::bigint, $18::bigint) THEN cursor_position ELSE $18 END,
        failures = $19, failing_since = $20, next_attempt = $21, last_attempt = $22, last_status = $23, last_error = $24
    WHERE tenant = $12 AND id = $13 AND EXISTS (SELECT 1 FROM ok)
    RETURNING 1
), ins AS (
    ` + insertAttempts + ` WHERE EXISTS (SELECT 1 FROM ok) ORDER BY n
    RETURNING 1
)
SELECT owner, lease_until, epoch, (SELECT count(*) FROM upd) FROM cur`

// Record implements [webhooks.Store]. Its transaction commits without
// waiting for the disk (three times the records a second): a commit
// that a crash of PostgreSQL itself loses (the last fraction of a second
// of them) moves the cursor back to where an earlier one left it, so the
// events after it are delivered again, with the same webhook-id, as
// at-least-once delivery allows. Any later commit that waits for the
// disk (an Apply, an Acquire) makes the records before it durable too.
func (s *WebhookStore) Record(ctx context.Context, owner, tenant, id string, now time.Time, d webhooks.Delivery, attempts []webhooks.Attempt) (err error) {
	defer classify(&err)
	c := d.Cursor
	args := append(attemptArgs(webhooks.OfEndpoint(tenant, id, attempts)), tenant, id, owner, now, d.Epoch, int64(c.Commit), c.Seq,
		d.Failures, timeOrNull(d.FailingSince), timeOrNull(d.NextAttempt), timeOrNull(d.LastAttempt), d.LastStatus, d.LastError)
	var holder string
	var until pgtype.Timestamptz
	var epoch, moved int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SET LOCAL synchronous_commit = off`)
		b.Queue(recordDelivery, args...)
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		if err := br.QueryRow().Scan(&holder, &until, &epoch, &moved); err != nil {
			return err
		}
		return br.Close()
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = webhooks.ErrLeaseLost
	case err != nil:
	case holder != owner || owner == "" || !timeOf(until).After(now):
		err = webhooks.ErrLeaseLost
	case epoch != d.Epoch:
		err = webhooks.ErrStale
	case moved != 1:
		err = fmt.Errorf("the delivery was not moved")
	}
	if err != nil {
		return fmt.Errorf("record deliveries of webhook %s of %s: %w", id, tenant, err)
	}
	return nil
}

// insertAttempts adds the attempts of $1..$11 in their order (n), so
// that their IDs ascend as they do.
const insertAttempts = `INSERT INTO webhook_attempts (tenant, webhook, message_id, event_type, cursor, kind, at, status,
    latency_us, error, next_retry)
SELECT tenant, webhook, message_id, event_type, cursor, kind, at, status, latency_us, error, next_retry
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::integer[],
    $9::bigint[], $10::text[], $11::timestamptz[])
    WITH ORDINALITY AS a(tenant, webhook, message_id, event_type, cursor, kind, at, status, latency_us, error, next_retry, n)`

// attemptArgs are the arrays insertAttempts reads.
func attemptArgs(as []webhooks.Attempt) []any {
	n := len(as)
	var (
		tenants, hooks, messages, types, cursors, kinds, errs = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		at, next = make([]time.Time, n), make([]pgtype.Timestamptz, n)
		status   = make([]int32, n)
		latency  = make([]int64, n)
	)
	for i, a := range as {
		tenants[i], hooks[i], messages[i], types[i], cursors[i], kinds[i], errs[i] = a.Tenant, a.Webhook, a.MessageID, a.EventType, a.Cursor, string(a.Trigger), a.Error
		at[i], status[i], latency[i] = a.At, int32(a.Status), a.Latency.Microseconds()
		next[i] = pgtype.Timestamptz{Time: a.NextRetry, Valid: !a.NextRetry.IsZero()}
	}
	return []any{tenants, hooks, messages, types, cursors, kinds, at, status, latency, errs, next}
}

// Log implements [webhooks.Store].
func (s *WebhookStore) Log(ctx context.Context, attempts []webhooks.Attempt) (_ []int64, err error) {
	defer classify(&err)
	if err := webhooks.CheckLog(attempts); err != nil {
		return nil, fmt.Errorf("log webhook attempts: %w", err)
	}
	if len(attempts) == 0 {
		return nil, nil
	}
	// The rows are inserted in the order of n, so their IDs grow in the
	// order of attempts: sorted, the IDs returned are theirs in turn.
	rows, err := s.pool.Query(ctx, insertAttempts+` ORDER BY n RETURNING id`, attemptArgs(attempts)...)
	if err != nil {
		return nil, fmt.Errorf("log webhook attempts: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("log webhook attempts: %w", err)
	}
	if len(ids) != len(attempts) {
		return nil, fmt.Errorf("log webhook attempts: %d rows inserted for %d attempts", len(ids), len(attempts))
	}
	slices.Sort(ids)
	return ids, nil
}

// Attempts implements [webhooks.Store].
func (s *WebhookStore) Attempts(ctx context.Context, tenant, id string, before int64, limit int) (_ []webhooks.Attempt, err error) {
	defer classify(&err)
	if err := webhooks.CheckLimit(limit); err != nil {
		return nil, fmt.Errorf("read attempts of webhook %s of %s: %w", id, tenant, err)
	}
	q := `SELECT id, tenant, webhook, message_id, event_type, cursor, kind, at, status, latency_us, error, next_retry
FROM webhook_attempts WHERE tenant = $1 AND webhook = $2 AND ($3 <= 0 OR id < $3) ORDER BY id DESC LIMIT $4`
	rows, err := s.pool.Query(ctx, q, tenant, id, before, limit)
	if err != nil {
		return nil, fmt.Errorf("read attempts of webhook %s of %s: %w", id, tenant, err)
	}
	defer rows.Close()
	var out []webhooks.Attempt
	for rows.Next() {
		var a webhooks.Attempt
		var trigger string
		var latency int64
		var next pgtype.Timestamptz
		if err := rows.Scan(&a.ID, &a.Tenant, &a.Webhook, &a.MessageID, &a.EventType, &a.Cursor, &trigger, &a.At,
			&a.Status, &latency, &a.Error, &next); err != nil {
			return nil, fmt.Errorf("read attempts of webhook %s of %s: %w", id, tenant, err)
		}
		a.Trigger, a.Latency, a.At, a.NextRetry = webhooks.Trigger(trigger), time.Duration(latency)*time.Microsecond, a.At.UTC(), timeOf(next)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read attempts of webhook %s of %s: %w", id, tenant, err)
	}
	return out, nil
}

// Prune implements [webhooks.Store].
func (s *WebhookStore) Prune(ctx context.Context, before time.Time, keep int) (_ int, err error) {
	defer classify(&err)
	if keep < 0 {
		return 0, fmt.Errorf("prune webhook attempts: %w: keep %d is negative", webhooks.ErrInvalid, keep)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_attempts WHERE ($1::timestamptz IS NOT NULL AND at < $1)
    OR id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY tenant, webhook ORDER BY id DESC) AS n
        FROM webhook_attempts) r WHERE n > $2)`, timeOrNull(before), keep)
	if err != nil {
		return 0, fmt.Errorf("prune webhook attempts: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Reset implements [webhooks.Store]. It truncates the tables after
// locking the progress row, so that no Apply is half way.
func (s *WebhookStore) Reset(ctx context.Context) (err error) {
	defer classify(&err)
	return s.reset(ctx, `TRUNCATE webhook_endpoints, webhook_deliveries, webhook_attempts`)
}

// ResetEndpoints implements [webhooks.Store], as Reset does.
func (s *WebhookStore) ResetEndpoints(ctx context.Context) (err error) {
	defer classify(&err)
	return s.reset(ctx, `TRUNCATE webhook_endpoints`)
}

func (s *WebhookStore) reset(ctx context.Context, truncate string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT 1 FROM webhook_progress FOR UPDATE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, truncate); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE webhook_progress SET commit_id = 0, position = 0`)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset the webhooks: %w", err)
	}
	return nil
}
