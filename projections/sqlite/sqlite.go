// Package sqlite keeps the read model in SQLite, in the file of the event
// store (eventstore/sqlite), through database/sql: a [projections.Backend].
//
// Writes go through the event store's writer handle, whose one connection
// takes SQLite's write lock at BEGIN: a write transaction is therefore
// alone, and the checkpoint it reads cannot move under it. The event
// store's appends wait for that connection too, so a transaction here
// only reads the views it changes and writes them; decoding and folding
// the events happen before, and the marshalling in between takes
// microseconds a view. Reads go through the reader handle, whose
// connections never block the writer.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/internal/row"
)

var _ projections.Backend = (*Backend)(nil)

// Backend is the SQLite read model. Create it with [New].
type Backend struct {
	write, read *sql.DB
}

// New returns the read model kept in the database of the event store's
// writer and reader handles (sqlite.Store.DB gives both), which the
// store's migrations have set up.
func New(writer, reader *sql.DB) *Backend { return &Backend{write: writer, read: reader} }

// timeFormat is the event store's: sortable as text, to the microsecond.
const timeFormat = "2006-01-02T15:04:05.000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("corrupt time %q: %w", s, err)
	}
	return t, nil
}

// textTime scans a time column in the event store's format.
type textTime struct{ t *time.Time }

func (d textTime) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("time column holds %T", src)
	}
	t, err := parseTime(s)
	*d.t = t
	return err
}

// readTenant reads tenant rows: times are text.
var readTenant = row.TenantReader(func(t *time.Time) any { return textTime{t} })

// queryer is what the reader pool and a transaction both offer.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// query runs q and reads every result row with read.
func query[T any](ctx context.Context, db queryer, read row.Reader[T], q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return row.Collect(rows, read)
}

// Tenant implements [projections.ReadModel].
func (b *Backend) Tenant(ctx context.Context, slug string) (projections.TenantView, error) {
	views, err := query(ctx, b.read, readTenant, `SELECT `+row.TenantColumns+` FROM rm_tenants WHERE slug = ?`, slug)
	if err != nil {
		return projections.TenantView{}, fmt.Errorf("read tenant %s: %w", slug, err)
	}
	return row.First(views, projections.ErrNotFound)
}

// Tenants implements [projections.ReadModel].
func (b *Backend) Tenants(ctx context.Context, after string, limit int) ([]projections.TenantView, error) {
	if err := row.CheckLimit(limit); err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	views, err := query(ctx, b.read, readTenant, `SELECT `+row.TenantColumns+` FROM rm_tenants WHERE slug > ? ORDER BY slug LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return views, nil
}

// Client implements [projections.ReadModel].
func (b *Backend) Client(ctx context.Context, tenant, clientID string) (projections.ClientView, error) {
	return b.client(ctx, `SELECT `+row.ClientColumns+` FROM rm_clients WHERE tenant = ? AND client_id = ?`, tenant, clientID)
}

// ClientByID implements [projections.ReadModel].
func (b *Backend) ClientByID(ctx context.Context, clientID string) (projections.ClientView, error) {
	return b.client(ctx, `SELECT `+row.ClientColumns+` FROM rm_clients WHERE client_id = ?`, clientID)
}

func (b *Backend) client(ctx context.Context, q string, args ...any) (projections.ClientView, error) {
	views, err := query(ctx, b.read, row.ReadClient, q, args...)
	if err != nil {
		return projections.ClientView{}, fmt.Errorf("read client %s: %w", args[len(args)-1], err)
	}
	return row.First(views, projections.ErrNotFound)
}

// sortIndexes are the key column and the index of each order. Each
// index is (tenant, key, client_id) followed by everything the filters
// test, so that SQLite reads a row only once it matches; queries name it
// (INDEXED BY), because without statistics SQLite would pick the primary
// key. The client_id order's key is client_id alone.
var sortIndexes = map[projections.ClientSort]struct{ key, index string }{
	projections.SortClientID: {"", "rm_clients_filter_idx"},
	projections.SortName:     {"sort_name", "rm_clients_name_idx"},
	projections.SortCreated:  {"created_at", "rm_clients_created_idx"},
	projections.SortUpdated:  {"updated_at", "rm_clients_updated_idx"},
}

// Clients implements [projections.ReadModel].
func (b *Backend) Clients(ctx context.Context, tenant string, f projections.ClientFilter) ([]projections.ClientView, string, error) {
	return clients(ctx, b, tenant, f, row.ClientColumns, row.ReadClient, projections.ClientView.Summary)
}

// readSummary reads client summaries: times are text.
var readSummary = row.SummaryReader(func(t *time.Time) any { return textTime{t} })

// ClientSummaries implements [projections.ReadModel].
func (b *Backend) ClientSummaries(ctx context.Context, tenant string, f projections.ClientFilter) ([]projections.ClientSummary, string, error) {
	return clients(ctx, b, tenant, f, row.SummaryColumns, readSummary, func(s projections.ClientSummary) projections.ClientSummary { return s })
}

// clients reads a page of the clients f selects as columns, read by
// read. The page walks the index of its order from the cursor on, in
// either direction, until it has one more than the page holds; the
// index holds what the filters test, so that only the rows of the page
// are read from the table.
func clients[T any](ctx context.Context, b *Backend, tenant string, f projections.ClientFilter, columns string,
	read row.Reader[T], summary func(T) projections.ClientSummary) ([]T, string, error) {
	if err := row.CheckFilter(f); err != nil {
		return nil, "", fmt.Errorf("list clients of %s: %w", tenant, err)
	}
	cur, after, err := row.DecodeCursor(f)
	if err != nil {
		return nil, "", fmt.Errorf("list clients of %s: %w", tenant, err)
	}
	order := sortIndexes[row.SortOf(f)]
	var q strings.Builder
	q.WriteString(`SELECT ` + columns + ` FROM rm_clients INDEXED BY ` + order.index + ` WHERE tenant = ?`)
	args := []any{tenant}
	cmp, dir := " > ", ""
	if f.Desc {
		cmp, dir = " < ", " DESC"
	}
	if after {
		switch row.SortOf(f) {
		case projections.SortClientID:
			q.WriteString(` AND client_id` + cmp + `?`)
			args = append(args, cur.ClientID)
		case projections.SortName:
			q.WriteString(` AND (` + order.key + `, client_id)` + cmp + `(?, ?)`)
			args = append(args, cur.Name, cur.ClientID)
		default: // the times, stored as sortable text
			q.WriteString(` AND (` + order.key + `, client_id)` + cmp + `(?, ?)`)
			args = append(args, formatTime(cur.At), cur.ClientID)
		}
	}
	if f.Type != "" {
		q.WriteString(` AND type = ?`)
		args = append(args, string(f.Type))
	}
	if f.Active != nil {
		q.WriteString(` AND active = ?`)
		args = append(args, *f.Active)
	}
	if f.Search != "" {
		term, ok := row.Term(f.Search)
		if !ok {
			return nil, "", nil
		}
		// A client_id begins with the search exactly when it is at or
		// after the search and before the search followed by DEL, since
		// client ids are printable ASCII: two byte comparisons, cheaper
		// for the scan than a function call, and literal where LIKE
		// would read _ and % as wildcards.
		q.WriteString(` AND (instr(search, ?) > 0 OR (client_id >= ? AND client_id < ?))`)
		args = append(args, term, f.Search, f.Search+"\x7f")
	}
	q.WriteString(` ORDER BY `)
	if order.key != "" {
		q.WriteString(order.key + dir + `, `)
	}
	q.WriteString(`client_id` + dir + ` LIMIT ?`)
	args = append(args, f.Limit+1)
	rows, err := query(ctx, b.read, read, q.String(), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list clients of %s: %w", tenant, err)
	}
	page, next := row.Page(rows, f, summary)
	return page, next, nil
}

// Catalogue implements [projections.ReadModel]. Inactive clients count:
// deactivating a resource server does not invalidate the scopes other
// clients were given.
func (b *Backend) Catalogue(ctx context.Context, tenant string) (scope.Catalogue, error) {
	resources, err := query(ctx, b.read, row.ReadResource, `SELECT code, api_scopes FROM rm_clients WHERE tenant = ? AND api_scopes <> '[]'`, tenant)
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
func (b *Backend) Progress(ctx context.Context, name string) (projections.Progress, error) {
	var commit, position int64
	var recorded sql.NullString
	var updated string
	err := b.read.QueryRowContext(ctx, `SELECT commit_id, position, recorded_at, updated_at FROM projection_checkpoints WHERE name = ?`, name).
		Scan(&commit, &position, &recorded, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return projections.Progress{}, nil
	case err != nil:
		return projections.Progress{}, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	p := projections.Progress{Position: eventstore.Position{Commit: uint64(commit), Seq: position}}
	if p.Position.IsZero() {
		return p, nil
	}
	if recorded.Valid {
		if p.RecordedAt, err = parseTime(recorded.String); err != nil {
			return projections.Progress{}, fmt.Errorf("read checkpoint %s: %w", name, err)
		}
	}
	if p.UpdatedAt, err = parseTime(updated); err != nil {
		return projections.Progress{}, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	return p, nil
}

const (
	ensureCheckpoint = `INSERT INTO projection_checkpoints (name, commit_id, position, updated_at)
VALUES (?, 0, 0, ?) ON CONFLICT (name) DO NOTHING`
	readCheckpoint = `SELECT commit_id, position FROM projection_checkpoints WHERE name = ?`
	moveCheckpoint = `UPDATE projection_checkpoints SET commit_id = ?, position = ?, recorded_at = ?, updated_at = ?
WHERE name = ? AND (commit_id, position) < (?, ?)`
	loadTenants = `SELECT ` + row.TenantColumns + ` FROM rm_tenants WHERE slug IN (SELECT value FROM json_each(?))`
	loadClients = `SELECT ` + row.ClientColumns + `, NULL, NULL, NULL FROM rm_clients WHERE client_id IN (SELECT value FROM json_each(?1))
UNION ALL SELECT NULL, NULL, tenant, client_id, version FROM rm_deleted_clients WHERE client_id IN (SELECT value FROM json_each(?1))`
	upsertTenant = `INSERT INTO rm_tenants (` + row.TenantColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (slug) DO UPDATE SET name = excluded.name, suspended = excluded.suspended,
    suspension_reason = excluded.suspension_reason, version = excluded.version,
    created_at = excluded.created_at, updated_at = excluded.updated_at, keys = excluded.keys,
    login_url = excluded.login_url, audit_keys = excluded.audit_keys`
	upsertClient = `INSERT INTO rm_clients (tenant, client_id, code, client_name, type, active, version,
    created_at, updated_at, api_scopes, search, doc, used_secret_ids)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant, client_id) DO UPDATE SET code = excluded.code, client_name = excluded.client_name,
    type = excluded.type, active = excluded.active, version = excluded.version,
    created_at = excluded.created_at, updated_at = excluded.updated_at,
    api_scopes = excluded.api_scopes, search = excluded.search, doc = excluded.doc,
    used_secret_ids = excluded.used_secret_ids`
	deleteClient = `DELETE FROM rm_clients WHERE tenant = ? AND client_id = ?`
	buryClient   = `INSERT INTO rm_deleted_clients (tenant, client_id, version) VALUES (?, ?, ?)
ON CONFLICT (client_id) DO UPDATE SET tenant = excluded.tenant, version = excluded.version`
)

// lock creates name's checkpoint if need be and reads it. The writer's
// transaction already holds SQLite's write lock.
func lock(ctx context.Context, tx *sql.Tx, name string) (eventstore.Position, error) {
	if _, err := tx.ExecContext(ctx, ensureCheckpoint, name, formatTime(time.Now())); err != nil {
		return eventstore.Position{}, err
	}
	var commit, position int64
	if err := tx.QueryRowContext(ctx, readCheckpoint, name).Scan(&commit, &position); err != nil {
		return eventstore.Position{}, err
	}
	return eventstore.Position{Commit: uint64(commit), Seq: position}, nil
}

// Update implements [projections.Backend].
func (b *Backend) Update(ctx context.Context, name string, fn projections.UpdateFunc) error {
	tx, err := b.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("update read model: begin: %w", err)
	}
	defer tx.Rollback()
	cp, err := lock(ctx, tx, name)
	if err != nil {
		return fmt.Errorf("update read model: lock checkpoint %s: %w", name, err)
	}
	changes, err := fn(ctx, cp, loader{tx})
	if err != nil {
		return err
	}
	if changes == nil {
		return nil
	}
	if !cp.Less(changes.Checkpoint) {
		return fmt.Errorf("update read model: checkpoint %s would move from %s back to %s", name, cp, changes.Checkpoint)
	}
	if err := write(ctx, tx, changes); err != nil {
		return fmt.Errorf("update read model: %w", err)
	}
	var recorded any
	if !changes.RecordedAt.IsZero() {
		recorded = formatTime(changes.RecordedAt)
	}
	commit, seq := int64(changes.Checkpoint.Commit), changes.Checkpoint.Seq
	res, err := tx.ExecContext(ctx, moveCheckpoint, commit, seq, recorded, formatTime(time.Now()), name, commit, seq)
	if err != nil {
		return fmt.Errorf("update read model: move checkpoint %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("update read model: checkpoint %s is not below %s", name, changes.Checkpoint)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update read model: commit: %w", err)
	}
	return nil
}

// write stores the views of c, each statement prepared once for the
// transaction.
func write(ctx context.Context, tx *sql.Tx, c *projections.Changes) error {
	if len(c.Tenants) > 0 {
		stmt, err := tx.PrepareContext(ctx, upsertTenant)
		if err != nil {
			return fmt.Errorf("write tenants: %w", err)
		}
		defer stmt.Close()
		for _, v := range c.Tenants {
			keys, err := row.Keys(v.Keys)
			if err != nil {
				return fmt.Errorf("write tenant %s: %w", v.Slug, err)
			}
			auditKeys, err := row.AuditKeys(v.AuditKeys)
			if err != nil {
				return fmt.Errorf("write tenant %s: %w", v.Slug, err)
			}
			if _, err := stmt.ExecContext(ctx, v.Slug, v.Name, v.Suspended, v.SuspensionReason, v.Version,
				formatTime(v.CreatedAt), formatTime(v.UpdatedAt), string(keys), v.LoginURL, string(auditKeys)); err != nil {
				return fmt.Errorf("write tenant %s: %w", v.Slug, err)
			}
		}
	}
	if len(c.Clients) > 0 {
		stmt, err := tx.PrepareContext(ctx, upsertClient)
		if err != nil {
			return fmt.Errorf("write clients: %w", err)
		}
		defer stmt.Close()
		for _, v := range c.Clients {
			r, err := row.FromClient(v)
			if err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, r.Tenant, r.ClientID, r.Code, r.Name, r.Type, r.Active, r.Version,
				formatTime(r.CreatedAt), formatTime(r.UpdatedAt), string(r.APIScopes), r.Search, string(r.Doc),
				string(r.UsedSecretIDs)); err != nil {
				return fmt.Errorf("write client %s: %w", v.ClientID, err)
			}
		}
	}
	if len(c.Deleted) > 0 {
		stmt, err := tx.PrepareContext(ctx, deleteClient)
		if err != nil {
			return fmt.Errorf("delete clients: %w", err)
		}
		defer stmt.Close()
		bury, err := tx.PrepareContext(ctx, buryClient)
		if err != nil {
			return fmt.Errorf("delete clients: %w", err)
		}
		defer bury.Close()
		for _, r := range c.Deleted {
			if _, err := stmt.ExecContext(ctx, r.Tenant, r.ClientID); err != nil {
				return fmt.Errorf("delete client %s: %w", r.ClientID, err)
			}
			if _, err := bury.ExecContext(ctx, r.Tenant, r.ClientID, r.Version); err != nil {
				return fmt.Errorf("delete client %s: %w", r.ClientID, err)
			}
		}
	}
	return nil
}

// loader reads views inside the write transaction.
type loader struct{ tx *sql.Tx }

func (l loader) Tenants(ctx context.Context, slugs []string) ([]projections.TenantView, error) {
	return query(ctx, l.tx, readTenant, loadTenants, jsonArray(slugs))
}

func (l loader) Clients(ctx context.Context, ids []string) ([]projections.ClientView, error) {
	return query(ctx, l.tx, row.ReadStoredClient, loadClients, jsonArray(ids))
}

// jsonArray encodes keys as a JSON array for json_each: one parameter
// however many keys, so one statement serves every batch.
func jsonArray(keys []string) string {
	b, _ := json.Marshal(keys) // a []string always encodes
	return string(b)
}

// Reset implements [projections.Backend].
func (b *Backend) Reset(ctx context.Context, name string) error {
	tx, err := b.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("reset read model: begin: %w", err)
	}
	defer tx.Rollback()
	for _, stmt := range []string{`DELETE FROM rm_clients`, `DELETE FROM rm_deleted_clients`, `DELETE FROM rm_tenants`} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("reset read model: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE projection_checkpoints SET commit_id = 0, position = 0, recorded_at = NULL, updated_at = ? WHERE name = ?`,
		formatTime(time.Now()), name); err != nil {
		return fmt.Errorf("reset read model: reset checkpoint %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("reset read model: commit: %w", err)
	}
	return nil
}
