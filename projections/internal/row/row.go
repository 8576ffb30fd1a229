// Package row holds what the read-model backends share apart from their
// SQL: the columns a view becomes and how a result row becomes a view
// again, the checks on query arguments, and paging, so that PostgreSQL
// and SQLite store and answer alike.
package row

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/projections"
)

// Client is a client view as the columns of its row.
type Client struct {
	Tenant    string
	ClientID  string
	Code      string
	Name      string
	Type      string
	Active    bool
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	// APIScopes is the JSON array of the client's api_scopes ("[]" when
	// it defines none, which the catalogue index leaves out).
	APIScopes []byte
	// Search is what Search terms are looked for in: see [SearchText].
	Search string
	// Doc is the whole view as JSON.
	Doc []byte
	// UsedSecretIDs is the JSON array of the view's UsedSecretIDs, which
	// Doc leaves out.
	UsedSecretIDs []byte
}

// FromClient returns the row of v.
func FromClient(v projections.ClientView) (Client, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return Client{}, fmt.Errorf("encode client %s: %w", v.ClientID, err)
	}
	scopes := []byte("[]")
	if len(v.Settings.APIScopes) > 0 {
		if scopes, err = json.Marshal(v.Settings.APIScopes); err != nil {
			return Client{}, fmt.Errorf("encode client %s: %w", v.ClientID, err)
		}
	}
	used, err := json.Marshal(v.UsedSecretIDs)
	if err != nil {
		return Client{}, fmt.Errorf("encode client %s: %w", v.ClientID, err)
	}
	if v.UsedSecretIDs == nil {
		used = []byte("[]")
	}
	s := v.Settings
	return Client{
		Tenant: v.Tenant, ClientID: v.ClientID, Code: s.Code, Name: s.ClientName, Type: string(s.Type),
		Active: v.Active, Version: v.Version, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
		APIScopes: scopes, Search: SearchText(s.ClientName, s.Code), Doc: doc, UsedSecretIDs: used,
	}, nil
}

// SearchText is the search column of a client: its name and its code,
// lowercased by Go (so that both databases fold case alike, beyond ASCII)
// and joined by a newline, which neither may contain.
func SearchText(name, code string) string {
	return strings.ToLower(name) + "\n" + strings.ToLower(code)
}

// Term is a Search filter as it is looked for in the search column, and
// whether it can match at all (a newline never can: it would match across
// name and code).
func Term(search string) (string, bool) {
	return strings.ToLower(search), !strings.Contains(search, "\n")
}

// CheckLimit refuses a page size outside 1..MaxPage.
func CheckLimit(limit int) error {
	if limit < 1 || limit > projections.MaxPage {
		return fmt.Errorf("page size %d is not within 1..%d: %w", limit, projections.MaxPage, projections.ErrInvalid)
	}
	return nil
}

// CheckFilter refuses a filter with a bad page size, client type or sort.
func CheckFilter(f projections.ClientFilter) error {
	if f.Type != "" && !f.Type.Valid() {
		return fmt.Errorf("client type %q: %w", f.Type, projections.ErrInvalid)
	}
	if !f.Sort.Valid() {
		return fmt.Errorf("sort %q: %w", f.Sort, projections.ErrInvalid)
	}
	return CheckLimit(f.Limit)
}

// Page cuts rows, read with f.Limit+1 of them, to one page and returns
// the cursor of the next page in f's order ("" when there is none);
// summary gives what the cursor is made of.
func Page[T any](rows []T, f projections.ClientFilter, summary func(T) projections.ClientSummary) ([]T, string) {
	if len(rows) <= f.Limit {
		return rows, ""
	}
	rows = rows[:f.Limit]
	return rows, EncodeCursor(f, summary(rows[f.Limit-1]))
}

// SummaryColumns are the columns a [SummaryReader] scans.
const SummaryColumns = `tenant, client_id, client_name, code, type, active, version, created_at, updated_at`

// SummaryReader returns the reader of client summaries from their
// [SummaryColumns]; timeDest gives what the database's time columns scan
// into, to land in the given time.
func SummaryReader(timeDest func(*time.Time) any) Reader[projections.ClientSummary] {
	return func(scan func(dest ...any) error) (projections.ClientSummary, error) {
		var s projections.ClientSummary
		var typ string
		if err := scan(&s.Tenant, &s.ClientID, &s.Name, &s.Code, &typ, &s.Active, &s.Version,
			timeDest(&s.CreatedAt), timeDest(&s.UpdatedAt)); err != nil {
			return projections.ClientSummary{}, err
		}
		s.Type = client.Type(typ)
		s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
		return s, nil
	}
}

// Resource turns a row's code and api_scopes into what the catalogue
// takes.
func Resource(code string, apiScopes []byte) (scope.Resource, error) {
	r := scope.Resource{Code: code}
	if err := json.Unmarshal(apiScopes, &r.Scopes); err != nil {
		return scope.Resource{}, fmt.Errorf("decode api_scopes of %s: %w", code, err)
	}
	return r, nil
}

// key is a signing key as the keys column stores it (a JSON array).
type key struct {
	KID            string          `json:"kid"`
	Alg            string          `json:"alg"`
	PublicJWK      json.RawMessage `json:"public_jwk"`
	Sealed         string          `json:"sealed_private_key"`
	AddedAt        time.Time       `json:"added_at"`
	ActiveFrom     time.Time       `json:"active_from"`
	SignsUntil     *time.Time      `json:"signs_until,omitempty"`
	PublishedUntil *time.Time      `json:"published_until,omitempty"`
}

// Keys encodes a tenant's signing keys for its keys column.
func Keys(keys []tenant.Key) ([]byte, error) {
	rows := make([]key, len(keys))
	for i, k := range keys {
		rows[i] = key{KID: k.KID, Alg: k.Alg, PublicJWK: k.PublicJWK, Sealed: k.Sealed, AddedAt: k.AddedAt, ActiveFrom: k.ActiveFrom}
		if k.Retired() {
			rows[i].SignsUntil, rows[i].PublishedUntil = &k.SignsUntil, &k.PublishedUntil
		}
	}
	return json.Marshal(rows)
}

// TenantKeys decodes a keys column; none when it holds an empty array.
func TenantKeys(column []byte) ([]tenant.Key, error) {
	var rows []key
	if err := json.Unmarshal(column, &rows); err != nil {
		return nil, fmt.Errorf("decode signing keys: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	keys := make([]tenant.Key, len(rows))
	for i, r := range rows {
		keys[i] = tenant.Key{KID: r.KID, Alg: r.Alg, PublicJWK: r.PublicJWK, Sealed: r.Sealed,
			AddedAt: r.AddedAt.UTC(), ActiveFrom: r.ActiveFrom.UTC()}
		if r.SignsUntil != nil && r.PublishedUntil != nil {
			keys[i].SignsUntil, keys[i].PublishedUntil = r.SignsUntil.UTC(), r.PublishedUntil.UTC()
		}
	}
	return keys, nil
}

// auditKey is an audit key as the audit_keys column stores it (a JSON
// array).
type auditKey struct {
	Name     string    `json:"name"`
	Verifier string    `json:"verifier"`
	Sealed   string    `json:"sealed"`
	AddedAt  time.Time `json:"added_at"`
}

// AuditKeys encodes a tenant's audit keys for its audit_keys column.
func AuditKeys(keys []tenant.AuditKey) ([]byte, error) {
	rows := make([]auditKey, len(keys))
	for i, k := range keys {
		rows[i] = auditKey{Name: k.Name, Verifier: k.Verifier, Sealed: k.Sealed, AddedAt: k.AddedAt}
	}
	return json.Marshal(rows)
}

// TenantAuditKeys decodes an audit_keys column; none when it holds an
// empty array. The key hash is read again from each verifier key.
func TenantAuditKeys(column []byte) ([]tenant.AuditKey, error) {
	var rows []auditKey
	if err := json.Unmarshal(column, &rows); err != nil {
		return nil, fmt.Errorf("decode audit keys: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	keys := make([]tenant.AuditKey, len(rows))
	for i, r := range rows {
		_, hash, err := tenant.ParseAuditVerifier(r.Verifier)
		if err != nil {
			return nil, fmt.Errorf("decode audit key %d: %w", i+1, err)
		}
		keys[i] = tenant.AuditKey{Name: r.Name, Verifier: r.Verifier, Hash: hash, Sealed: r.Sealed, AddedAt: r.AddedAt.UTC()}
	}
	return keys, nil
}

// Rows is a query's result as both drivers give it (pgx.Rows, *sql.Rows).
// Whoever ran the query closes it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Reader turns the current result row into a value, scanning it with
// scan.
type Reader[T any] func(scan func(dest ...any) error) (T, error)

// Collect reads every row of rows with read, in order: the one loop over
// result rows of both backends.
func Collect[T any](rows Rows, read Reader[T]) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := read(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ClientColumns are the columns [ReadClient] scans.
const ClientColumns = `doc, used_secret_ids`

// ReadClient reads a client view from its [ClientColumns].
func ReadClient(scan func(dest ...any) error) (projections.ClientView, error) {
	var doc, used []byte
	if err := scan(&doc, &used); err != nil {
		return projections.ClientView{}, err
	}
	return decodeClient(doc, used)
}

func decodeClient(doc, used []byte) (projections.ClientView, error) {
	var v projections.ClientView
	if err := json.Unmarshal(doc, &v); err != nil {
		return projections.ClientView{}, fmt.Errorf("decode client view: %w", err)
	}
	if err := json.Unmarshal(used, &v.UsedSecretIDs); err != nil {
		return projections.ClientView{}, fmt.Errorf("decode used secret ids of %s: %w", v.ClientID, err)
	}
	if len(v.UsedSecretIDs) == 0 {
		v.UsedSecretIDs = nil
	}
	return v, nil
}

// StoredClientColumns are the columns [ReadStoredClient] scans, those
// of [ClientColumns] and a tombstone's; a query gives one or the other,
// the rest NULL.
const StoredClientColumns = ClientColumns + `, tenant, client_id, version`

// ReadStoredClient reads a client view from its [StoredClientColumns]: a
// live client's, or a deleted one's tombstone (ClientView.Deleted).
func ReadStoredClient(scan func(dest ...any) error) (projections.ClientView, error) {
	var doc, used []byte
	var tenant, id *string
	var version *int64
	if err := scan(&doc, &used, &tenant, &id, &version); err != nil {
		return projections.ClientView{}, err
	}
	if doc == nil {
		if tenant == nil || id == nil || version == nil {
			return projections.ClientView{}, fmt.Errorf("decode client view: neither a view nor a tombstone")
		}
		return projections.ClientView{Tenant: *tenant, ClientID: *id, Version: *version, Deleted: true}, nil
	}
	return decodeClient(doc, used)
}

// TenantColumns are the columns a [TenantReader] scans, and those a
// tenant's row is written with.
const TenantColumns = `slug, name, suspended, suspension_reason, version, created_at, updated_at, keys, login_url, audit_keys`

// TenantReader returns the reader of tenant views from their
// [TenantColumns]; timeDest gives what the database's time columns scan
// into, to land in the given time.
func TenantReader(timeDest func(*time.Time) any) Reader[projections.TenantView] {
	return func(scan func(dest ...any) error) (projections.TenantView, error) {
		var v projections.TenantView
		var keys, auditKeys []byte
		if err := scan(&v.Slug, &v.Name, &v.Suspended, &v.SuspensionReason, &v.Version,
			timeDest(&v.CreatedAt), timeDest(&v.UpdatedAt), &keys, &v.LoginURL, &auditKeys); err != nil {
			return projections.TenantView{}, err
		}
		v.CreatedAt, v.UpdatedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC()
		var err error
		if v.Keys, err = TenantKeys(keys); err != nil {
			return projections.TenantView{}, fmt.Errorf("tenant %s: %w", v.Slug, err)
		}
		if v.AuditKeys, err = TenantAuditKeys(auditKeys); err != nil {
			return projections.TenantView{}, fmt.Errorf("tenant %s: %w", v.Slug, err)
		}
		return v, nil
	}
}

// ReadResource reads what the catalogue takes from a row's code and
// api_scopes columns.
func ReadResource(scan func(dest ...any) error) (scope.Resource, error) {
	var code string
	var scopes []byte
	if err := scan(&code, &scopes); err != nil {
		return scope.Resource{}, err
	}
	return Resource(code, scopes)
}

// First is the one value a query for one key found, or notFound.
func First[T any](values []T, notFound error) (T, error) {
	if len(values) == 0 {
		var zero T
		return zero, notFound
	}
	return values[0], nil
}
