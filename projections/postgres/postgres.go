// Package postgres keeps the read model in PostgreSQL, in the database of
// the event store (eventstore/postgres), on pgx/v5: a [projections.Backend].
//
// A write transaction first locks the projection's checkpoint row (SELECT
// … FOR UPDATE), so that nodes applying the same events one after the
// other, never both; it then reads the views it changes, and writes them
// all, the deletions and the guarded checkpoint in one pipelined batch,
// with one multi-row INSERT … ON CONFLICT per table.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres/pgerr"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/internal/row"
)

var _ projections.Backend = (*Backend)(nil)

// Backend is the PostgreSQL read model. Create it with [New].
type Backend struct {
	pool *pgxpool.Pool
}

// New returns the read model kept in the database of pool, which the event
// store's migrations have set up (postgres.Store.Pool gives it).
func New(pool *pgxpool.Pool) *Backend { return &Backend{pool: pool} }

// queryer is what the pool and a transaction both offer.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// query runs sql and reads every result row with read. On the pool, a
// query that met a broken connection is tried once more (pgerr.Retry);
// in a transaction, it is not. Its errors are classified.
func query[T any](ctx context.Context, db queryer, read row.Reader[T], sql string, args ...any) ([]T, error) {
	run := func() ([]T, error) {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return row.Collect(rows, read)
	}
	if pool, ok := db.(*pgxpool.Pool); ok {
		return pgerr.Retry(ctx, pool, run)
	}
	out, err := run()
	return out, pgerr.Classify(err)
}

// classify marks *err as eventstore.ErrUnavailable when the database
// could not be reached (pgerr.Classify).
func classify(err *error) { *err = pgerr.Classify(*err) }

// readTenant reads tenant rows: timestamptz scans into time.Time.
var readTenant = row.TenantReader(func(t *time.Time) any { return t })

// Tenant implements [projections.ReadModel].
func (b *Backend) Tenant(ctx context.Context, slug string) (_ projections.TenantView, err error) {
	defer classify(&err)
	views, err := query(ctx, b.pool, readTenant, `SELECT `+row.TenantColumns+` FROM rm_tenants WHERE slug = $1`, slug)
	if err != nil {
		return projections.TenantView{}, fmt.Errorf("read tenant %s: %w", slug, err)
	}
	return row.First(views, projections.ErrNotFound)
}

// Tenants implements [projections.ReadModel].
func (b *Backend) Tenants(ctx context.Context, after string, limit int) (_ []projections.TenantView, err error) {
	defer classify(&err)
	if err := row.CheckLimit(limit); err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	views, err := query(ctx, b.pool, readTenant, `SELECT `+row.TenantColumns+` FROM rm_tenants WHERE slug > $1 ORDER BY slug LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return views, nil
}

// Client implements [projections.ReadModel].
func (b *Backend) Client(ctx context.Context, tenant, clientID string) (_ projections.ClientView, err error) {
	defer classify(&err)
	return b.client(ctx, `SELECT `+row.ClientColumns+` FROM rm_clients WHERE tenant = $1 AND client_id = $2`, tenant, clientID)
}

// ClientByID implements [projections.ReadModel].
func (b *Backend) ClientByID(ctx context.Context, clientID string) (_ projections.ClientView, err error) {
	defer classify(&err)
	return b.client(ctx, `SELECT `+row.ClientColumns+` FROM rm_clients WHERE client_id = $1`, clientID)
}

func (b *Backend) client(ctx context.Context, sql string, args ...any) (projections.ClientView, error) {
	views, err := query(ctx, b.pool, row.ReadClient, sql, args...)
	if err != nil {
		return projections.ClientView{}, fmt.Errorf("read client %s: %w", args[len(args)-1], err)
	}
	return row.First(views, projections.ErrNotFound)
}

// sortColumns are the key column of each order but client_id's (whose
// only key is client_id). Each order has its index (tenant, key,
// client_id) which also holds what the filters test.
var sortColumns = map[projections.ClientSort]string{
	projections.SortName:    "sort_name",
	projections.SortCreated: "created_at",
	projections.SortUpdated: "updated_at",
}

// Clients implements [projections.ReadModel].
func (b *Backend) Clients(ctx context.Context, tenant string, f projections.ClientFilter) (_ []projections.ClientView, _ string, err error) {
	defer classify(&err)
	return clients(ctx, b, tenant, f, row.ClientColumns, row.ReadClient, projections.ClientView.Summary)
}

// readSummary reads client summaries: timestamptz scans into time.Time.
var readSummary = row.SummaryReader(func(t *time.Time) any { return t })

// ClientSummaries implements [projections.ReadModel].
func (b *Backend) ClientSummaries(ctx context.Context, tenant string, f projections.ClientFilter) (_ []projections.ClientSummary, _ string, err error) {
	defer classify(&err)
	return clients(ctx, b, tenant, f, row.SummaryColumns, readSummary, func(s projections.ClientSummary) projections.ClientSummary { return s })
}

// clients reads a page of the clients f selects as columns, read by
// read. The page is found first, by an index-only scan of its order's
// index from the cursor on, in either direction, which tests the filters
// on each entry until it has one more than the page holds; only then
// are those rows read.
func clients[T any](ctx context.Context, b *Backend, tenant string, f projections.ClientFilter, columns string,
	read row.Reader[T], summary func(T) projections.ClientSummary) ([]T, string, error) {
	if err := row.CheckFilter(f); err != nil {
		return nil, "", fmt.Errorf("list clients of %s: %w", tenant, err)
	}
	cur, after, err := row.DecodeCursor(f)
	if err != nil {
		return nil, "", fmt.Errorf("list clients of %s: %w", tenant, err)
	}
	key := sortColumns[row.SortOf(f)]
	keys := "tenant, client_id"
	if key != "" {
		keys += ", " + key
	}
	var sql strings.Builder
	sql.WriteString(`SELECT c.` + strings.ReplaceAll(columns, ", ", ", c.") + ` FROM (SELECT ` + keys + ` FROM rm_clients WHERE tenant = $1`)
	args := []any{tenant}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	cmp, dir := " > ", ""
	if f.Desc {
		cmp, dir = " < ", " DESC"
	}
	if after {
		switch row.SortOf(f) {
		case projections.SortClientID:
			sql.WriteString(" AND client_id" + cmp + arg(cur.ClientID))
		case projections.SortName:
			sql.WriteString(" AND (" + key + ", client_id)" + cmp + "(" + arg(cur.Name) + ", " + arg(cur.ClientID) + ")")
		default: // the times
			sql.WriteString(" AND (" + key + ", client_id)" + cmp + "(" + arg(cur.At) + ", " + arg(cur.ClientID) + ")")
		}
	}
	if f.Type != "" {
		sql.WriteString(" AND type = " + arg(string(f.Type)))
	}
	if f.Active != nil {
		sql.WriteString(" AND active = " + arg(*f.Active))
	}
	if f.Search != "" {
		term, ok := row.Term(f.Search)
		if !ok {
			return nil, "", nil
		}
		sql.WriteString(" AND (strpos(search, " + arg(term) + ") > 0 OR starts_with(client_id, " + arg(f.Search) + "))")
	}
	order := "client_id" + dir
	if key != "" {
		order = key + dir + ", " + order
	}
	sql.WriteString(" ORDER BY " + order + " LIMIT " + arg(f.Limit+1) + ") p")
	sql.WriteString(" JOIN rm_clients c ON c.tenant = p.tenant AND c.client_id = p.client_id ORDER BY p." + strings.ReplaceAll(order, ", ", ", p."))
	rows, err := query(ctx, b.pool, read, sql.String(), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list clients of %s: %w", tenant, err)
	}
	page, next := row.Page(rows, f, summary)
	return page, next, nil
}

// Catalogue implements [projections.ReadModel]. Inactive clients count:
// deactivating a resource server does not invalidate the scopes other
// clients were given.
func (b *Backend) Catalogue(ctx context.Context, tenant string) (_ scope.Catalogue, err error) {
	defer classify(&err)
	resources, err := query(ctx, b.pool, row.ReadResource, `SELECT code, api_scopes FROM rm_clients WHERE tenant = $1 AND api_scopes <> '[]'::jsonb`, tenant)
	if err != nil {
		return scope.Catalogue{}, fmt.Errorf("read catalogue of %s: %w", tenant, err)
	}
	return scope.NewCatalogue(resources...), nil
}

// Checkpoint implements [projections.ReadModel].
func (b *Backend) Checkpoint(ctx context.Context, name string) (eventstore.Position, error) {
	p, err := b.Progress(ctx, name)
	return p.Position, err
}

// Progress implements [projections.Backend].
func (b *Backend) Progress(ctx context.Context, name string) (_ projections.Progress, err error) {
	defer classify(&err)
	var commit, position int64
	var recorded *time.Time
	var updated time.Time
	_, err = pgerr.Retry(ctx, b.pool, func() (struct{}, error) {
		err := b.pool.QueryRow(ctx, `SELECT commit_id, position, recorded_at, updated_at FROM projection_checkpoints WHERE name = $1`, name).
			Scan(&commit, &position, &recorded, &updated)
		return struct{}{}, err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return projections.Progress{}, nil
	case err != nil:
		return projections.Progress{}, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	p := projections.Progress{Position: eventstore.Position{Commit: uint64(commit), Seq: position}}
	if p.Position.IsZero() {
		return p, nil
	}
	if recorded != nil {
		p.RecordedAt = recorded.UTC()
	}
	p.UpdatedAt = updated.UTC()
	return p, nil
}

const (
	ensureCheckpoint = `INSERT INTO projection_checkpoints (name, commit_id, position, updated_at)
VALUES ($1, 0, 0, now()) ON CONFLICT (name) DO NOTHING`
	lockCheckpoint = `SELECT commit_id, position FROM projection_checkpoints WHERE name = $1 FOR UPDATE`
	moveCheckpoint = `SELECT clavis_move_checkpoint($1, $2, $3, $4, $5, $6)`
	loadTenants    = `SELECT ` + row.TenantColumns + ` FROM rm_tenants WHERE slug = ANY($1)`
	loadClients    = `SELECT ` + row.ClientColumns + `, NULL, NULL, NULL FROM rm_clients WHERE client_id = ANY($1)
UNION ALL SELECT NULL, NULL, tenant, client_id, version FROM rm_deleted_clients WHERE client_id = ANY($1)`
	upsertTenants = `INSERT INTO rm_tenants (` + row.TenantColumns + `)
SELECT s, n, susp, reason, v, c, u, k::json, login, ak::json
  FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::bigint[], $6::timestamptz[], $7::timestamptz[], $8::text[], $9::text[], $10::text[])
       AS t(s, n, susp, reason, v, c, u, k, login, ak)
ON CONFLICT (slug) DO UPDATE SET name = excluded.name, suspended = excluded.suspended,
    suspension_reason = excluded.suspension_reason, version = excluded.version,
    created_at = excluded.created_at, updated_at = excluded.updated_at, keys = excluded.keys,
    login_url = excluded.login_url, audit_keys = excluded.audit_keys`
	upsertClients = `INSERT INTO rm_clients (tenant, client_id, code, client_name, type, active, version,
    created_at, updated_at, api_scopes, search, doc, used_secret_ids)
SELECT t, id, code, name, type, active, version, created, updated, scopes::jsonb, search, doc::json, used::json
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::bigint[],
              $8::timestamptz[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[])
       AS u(t, id, code, name, type, active, version, created, updated, scopes, search, doc, used)
ON CONFLICT (tenant, client_id) DO UPDATE SET code = excluded.code, client_name = excluded.client_name,
    type = excluded.type, active = excluded.active, version = excluded.version,
    created_at = excluded.created_at, updated_at = excluded.updated_at,
    api_scopes = excluded.api_scopes, search = excluded.search, doc = excluded.doc,
    used_secret_ids = excluded.used_secret_ids`
	deleteClients = `DELETE FROM rm_clients WHERE (tenant, client_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`
	buryClients   = `INSERT INTO rm_deleted_clients (tenant, client_id, version)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
ON CONFLICT (client_id) DO UPDATE SET tenant = excluded.tenant, version = excluded.version`
)

// lock creates name's checkpoint if need be and locks it for the rest of
// tx, waiting for any other transaction holding it.
//
// It also lets tx commit without waiting for the disk: the read model is
// derived data that commits together with its checkpoint, so a commit
// that a crash loses is lost with the checkpoint that covers it, and its
// events are applied again.
func lock(ctx context.Context, tx pgx.Tx, name string) (eventstore.Position, error) {
	b := &pgx.Batch{}
	b.Queue(`SET LOCAL synchronous_commit = off`)
	b.Queue(ensureCheckpoint, name)
	b.Queue(lockCheckpoint, name)
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	for range 2 {
		if _, err := br.Exec(); err != nil {
			return eventstore.Position{}, err
		}
	}
	var commit, position int64
	if err := br.QueryRow().Scan(&commit, &position); err != nil {
		return eventstore.Position{}, err
	}
	return eventstore.Position{Commit: uint64(commit), Seq: position}, br.Close()
}

// Update implements [projections.Backend]. It first tries without a
// lock: it reads the checkpoint, and fn loads views, outside any
// transaction; the changes are then written in one pipelined batch, one
// implicit transaction, that first moves the checkpoint from the position
// fn was given (clavis_move_checkpoint) and so writes nothing when another
// writer moved it meanwhile. The transaction thus takes its id for one
// round trip, not for a whole update, which would hold back what the event
// store's readers may see. When another writer did move the checkpoint,
// fn's answer (changes or an error: its reads may mix two states) is
// dropped and fn runs again from the new checkpoint; usually the other
// writer applied the same events, and nothing is left to do. Writers that
// keep colliding end up running holding the checkpoint's row lock, so
// that they take turns rather than starve.
func (b *Backend) Update(ctx context.Context, name string, fn projections.UpdateFunc) (err error) {
	defer classify(&err)
	for range optimisticAttempts {
		cp, err := b.Checkpoint(ctx, name)
		if err != nil {
			return fmt.Errorf("update read model: %w", err)
		}
		changes, err := fn(ctx, cp, loader{b.pool})
		if err != nil {
			if b.moved(ctx, name, cp) {
				continue
			}
			return err
		}
		if changes == nil {
			return nil
		}
		batch, err := writes(name, cp, changes)
		if err != nil {
			return fmt.Errorf("update read model: %w", err)
		}
		err = exec(b.pool.SendBatch(ctx, batch), batch.Len())
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "CL412" {
			continue
		}
		if err != nil {
			return fmt.Errorf("update read model: %w", err)
		}
		return nil
	}
	return b.lockedUpdate(ctx, name, fn)
}

// optimisticAttempts is how many times Update tries without a lock. (A
// locked first retry made propagation's 99th percentile worse: locking
// the row gives the transaction an id while it waits.)
const optimisticAttempts = 3

// lockedUpdate runs an update in a transaction that holds name's
// checkpoint row lock from the start.
func (b *Backend) lockedUpdate(ctx context.Context, name string, fn projections.UpdateFunc) error {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("update read model: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	cp, err := lock(ctx, tx, name)
	if err != nil {
		return fmt.Errorf("update read model: lock checkpoint %s: %w", name, err)
	}
	changes, err := fn(ctx, cp, loader{tx})
	if err != nil || changes == nil {
		return err
	}
	batch, err := writes(name, cp, changes)
	if err != nil {
		return fmt.Errorf("update read model: %w", err)
	}
	br := tx.SendBatch(ctx, batch)
	if err := exec(br, batch.Len()); err != nil {
		return fmt.Errorf("update read model: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("update read model: commit: %w", err)
	}
	return nil
}

// moved reports whether name's checkpoint is no longer cp.
func (b *Backend) moved(ctx context.Context, name string, cp eventstore.Position) bool {
	now, err := b.Checkpoint(ctx, name)
	return err == nil && now != cp
}

// exec reads the n results of a sent batch and closes it; the first
// error is returned.
func exec(br pgx.BatchResults, n int) error {
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	return br.Close()
}

// writes queues what changes writes, after moving the checkpoint from cp
// (which fails unless the checkpoint is there, and c's is beyond it).
func writes(name string, cp eventstore.Position, c *projections.Changes) (*pgx.Batch, error) {
	if !cp.Less(c.Checkpoint) {
		return nil, fmt.Errorf("checkpoint %s would move from %s back to %s", name, cp, c.Checkpoint)
	}
	var recorded *time.Time
	if !c.RecordedAt.IsZero() {
		recorded = &c.RecordedAt
	}
	b := &pgx.Batch{}
	b.Queue(moveCheckpoint, name, int64(cp.Commit), cp.Seq, int64(c.Checkpoint.Commit), c.Checkpoint.Seq, recorded)
	if n := len(c.Tenants); n > 0 {
		slugs, names, reasons := make([]string, n), make([]string, n), make([]string, n)
		suspended, versions := make([]bool, n), make([]int64, n)
		created, updated := make([]time.Time, n), make([]time.Time, n)
		keys, logins, auditKeys := make([]string, n), make([]string, n), make([]string, n)
		for i, v := range c.Tenants {
			slugs[i], names[i], reasons[i], logins[i] = v.Slug, v.Name, v.SuspensionReason, v.LoginURL
			suspended[i], versions[i], created[i], updated[i] = v.Suspended, v.Version, v.CreatedAt, v.UpdatedAt
			k, err := row.Keys(v.Keys)
			if err != nil {
				return nil, fmt.Errorf("tenant %s: %w", v.Slug, err)
			}
			keys[i] = string(k)
			ak, err := row.AuditKeys(v.AuditKeys)
			if err != nil {
				return nil, fmt.Errorf("tenant %s: %w", v.Slug, err)
			}
			auditKeys[i] = string(ak)
		}
		b.Queue(upsertTenants, slugs, names, suspended, reasons, versions, created, updated, keys, logins, auditKeys)
	}
	if n := len(c.Clients); n > 0 {
		tenants, ids, codes, names, types := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		active, versions := make([]bool, n), make([]int64, n)
		created, updated := make([]time.Time, n), make([]time.Time, n)
		scopes, search, docs, used := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, v := range c.Clients {
			r, err := row.FromClient(v)
			if err != nil {
				return nil, err
			}
			tenants[i], ids[i], codes[i], names[i], types[i] = r.Tenant, r.ClientID, r.Code, r.Name, r.Type
			active[i], versions[i], created[i], updated[i] = r.Active, r.Version, r.CreatedAt, r.UpdatedAt
			scopes[i], search[i], docs[i], used[i] = string(r.APIScopes), r.Search, string(r.Doc), string(r.UsedSecretIDs)
		}
		b.Queue(upsertClients, tenants, ids, codes, names, types, active, versions, created, updated, scopes, search, docs, used)
	}
	if n := len(c.Deleted); n > 0 {
		tenants, ids, versions := make([]string, n), make([]string, n), make([]int64, n)
		for i, r := range c.Deleted {
			tenants[i], ids[i], versions[i] = r.Tenant, r.ClientID, r.Version
		}
		b.Queue(deleteClients, tenants, ids)
		b.Queue(buryClients, tenants, ids, versions)
	}
	return b, nil
}

// loader reads the views an update starts from, through the pool or in
// the update's transaction.
type loader struct{ db queryer }

func (l loader) Tenants(ctx context.Context, slugs []string) ([]projections.TenantView, error) {
	return query(ctx, l.db, readTenant, loadTenants, slugs)
}

// Clients runs its query as an unnamed statement (QueryExecModeExec), so
// that PostgreSQL plans it for the ids at hand every time. As a cached
// prepared statement it gets a generic plan, and the one made after a
// rebuild's TRUNCATE, for a nearly empty table, is a sequential scan that
// then reads every row of the growing table for each page (some 40% of a
// rebuild's time went there). Its json columns, doc and
// used_secret_ids, read back byte for byte in the text format this mode
// uses. It reads the tombstones of deleted clients in the same round
// trip.
func (l loader) Clients(ctx context.Context, ids []string) ([]projections.ClientView, error) {
	return query(ctx, l.db, row.ReadStoredClient, loadClients, pgx.QueryExecModeExec, ids)
}

// Reset implements [projections.Backend]. It truncates the tables, which
// briefly blocks readers, rather than deleting row by row.
func (b *Backend) Reset(ctx context.Context, name string) (err error) {
	defer classify(&err)
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("reset read model: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := lock(ctx, tx, name); err != nil {
		return fmt.Errorf("reset read model: lock checkpoint %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, `TRUNCATE rm_clients, rm_deleted_clients, rm_tenants`); err != nil {
		return fmt.Errorf("reset read model: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET commit_id = 0, position = 0, recorded_at = NULL, updated_at = now() WHERE name = $1`, name); err != nil {
		return fmt.Errorf("reset read model: reset checkpoint %s: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("reset read model: commit: %w", err)
	}
	return nil
}
