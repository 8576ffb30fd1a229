// Package projections builds the read models that the admin API and the
// token endpoints read: the clients of each tenant (with their secret
// hashes, for verification), the tenants, and a lookup by client_id. The
// read models live in the same database as the event store (PostgreSQL or
// SQLite); each backend keeps its own SQL in a subpackage.
//
// A [Projector] applies events in store order, exactly once in effect: the
// read-model writes and the projection's checkpoint commit in one
// transaction, guarded so that an event at or below the checkpoint is
// skipped. Any number of nodes may therefore feed the same events to the
// same database. Events normally arrive from NATS; [Projector.Rebuild]
// drops the read models and replays them from the event store itself.
package projections

import (
	"context"
	"errors"
	"time"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
)

// ErrNotFound is returned for a tenant or client the read model does not
// hold. Across tenants it is the same answer as for a client that never
// existed, so existence never leaks.
var ErrNotFound = errors.New("projections: not found")

// Name is the name of the read-model projection and its checkpoint.
const Name = "read_model"

// TenantView is a tenant as the read model holds it.
type TenantView struct {
	Slug             string    `json:"slug"`
	Name             string    `json:"name"`
	Suspended        bool      `json:"suspended"`
	SuspensionReason string    `json:"suspension_reason,omitempty"`
	Version          int64     `json:"version"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	// LoginURL is the tenant's login application URL, where the
	// authorization endpoint sends browsers to sign in and consent; ""
	// when it has none (see tenant.Tenant.SetLoginURL).
	LoginURL string `json:"login_url"`
	// Keys are the tenant's signing keys in the order added, retired ones
	// included until the read model is rebuilt after they left the JWKS
	// (see tenant.Key). Each holds its private key sealed: the view is
	// for the token endpoints, and the platform API never shows Keys.
	Keys []tenant.Key `json:"-"`
	// AuditKeys are the keys of the tenant's audit log in the order
	// added, the last one active (see tenant.AuditKey). Each holds its
	// signer key sealed; only the verifier keys are public.
	AuditKeys []tenant.AuditKey `json:"-"`
}

// SigningKey is the key that signs at now (see tenant.Signing).
func (v TenantView) SigningKey(now time.Time) (tenant.Key, bool) { return tenant.Signing(v.Keys, now) }

// PublishedKeys are the keys that belong in the JWKS at now, in the order
// added (see tenant.Published).
func (v TenantView) PublishedKeys(now time.Time) []tenant.Key { return tenant.Published(v.Keys, now) }

// AuditVerifiers are the verifier keys of the tenant's audit log, the
// active one first (see tenant.AuditVerifiers).
func (v TenantView) AuditVerifiers() []string { return tenant.AuditVerifiers(v.AuditKeys) }

// SecretView is a client secret as the read model holds it: its hash is
// there for the token endpoint's verification and never leaves the server.
type SecretView struct {
	ID          string     `json:"id"`
	Hash        string     `json:"hash"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Description string     `json:"description,omitempty"`
}

// UsableAt reports whether the secret can authenticate its client at t:
// it has no expiry or expires after t (as client.Secret.UsableAt).
func (s SecretView) UsableAt(t time.Time) bool { return s.ExpiresAt == nil || s.ExpiresAt.After(t) }

// ClientView is a client as the read model holds it: its settings, state
// and secrets, as of Version.
type ClientView struct {
	Tenant             string          `json:"tenant"`
	ClientID           string          `json:"client_id"`
	Settings           client.Settings `json:"settings"`
	Active             bool            `json:"active"`
	DeactivationReason string          `json:"deactivation_reason,omitempty"`
	Secrets            []SecretView    `json:"secrets"`
	ClonedFrom         string          `json:"cloned_from,omitempty"`
	Version            int64           `json:"version"`
	CreatedAt          time.Time       `json:"created_at"`
	UpdatedAt          time.Time       `json:"updated_at"`
	// UsedSecretIDs are the ids of every secret the client ever held,
	// revoked ones included, sorted (see client.State): what the fold
	// needs to refuse a reused id, as the aggregate does. The backends
	// keep it beside the view's document, and the API never shows it.
	UsedSecretIDs []string `json:"-"`
	// Deleted marks a tombstone, which only a [Loader] returns: what the
	// read model keeps of a deleted client (its tenant, id and version),
	// so that the fold refuses an event after the deletion as the
	// aggregate does. Reads of the read model never return one; a
	// client's past state, folded from the store, is marked deleted with
	// it when the client had been deleted by then.
	Deleted bool `json:"-"`
}

// ErrBadCursor is returned for a [ClientFilter.After] that is not a
// cursor of the filter's order: a cursor of another sort or direction,
// a client_id where an order other than client_id's needs its own cursor,
// or something that is no cursor at all. It wraps nothing; the error
// returned wraps it and [ErrInvalid] both.
var ErrBadCursor = errors.New("projections: bad cursor")

// ClientSort is the order of the pages [ReadModel.Clients] returns. Every
// order ends with client_id, so that clients equal in the sort key still
// come in one fixed order, and a cursor names one place in it.
type ClientSort string

// The orders of a client list.
const (
	// SortClientID orders by client_id, in byte order: the default (the
	// zero value means it too), and the order of the admin API.
	SortClientID ClientSort = "client_id"
	// SortName orders by client_name ignoring case (the lowercase name,
	// in byte order; a client without a name comes first).
	SortName ClientSort = "name"
	// SortCreated orders by when the client was registered.
	SortCreated ClientSort = "created"
	// SortUpdated orders by when the client last changed.
	SortUpdated ClientSort = "updated"
)

// ClientSorts are the orders of a client list, the default first.
var ClientSorts = []ClientSort{SortClientID, SortName, SortCreated, SortUpdated}

// Valid reports whether s is one of [ClientSorts] or "" (client_id).
func (s ClientSort) Valid() bool {
	return s == "" || s == SortClientID || s == SortName || s == SortCreated || s == SortUpdated
}

// ClientSummary is what a list of clients shows of each: a [ClientView]'s
// identity, state and times, without the rest of its settings or its
// secrets. [ReadModel.ClientSummaries] reads it from the read model's
// columns, without decoding whole views.
type ClientSummary struct {
	Tenant   string
	ClientID string
	// Name, Code and Type are the settings' client_name, code and type.
	Name      string
	Code      string
	Type      client.Type
	Active    bool
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Summary is v's summary, as [ReadModel.ClientSummaries] reads it.
func (v ClientView) Summary() ClientSummary {
	return ClientSummary{Tenant: v.Tenant, ClientID: v.ClientID, Name: v.Settings.ClientName, Code: v.Settings.Code,
		Type: v.Settings.Type, Active: v.Active, Version: v.Version, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt}
}

// ClientFilter selects clients of one tenant for [ReadModel.Clients].
type ClientFilter struct {
	// Type keeps clients of one type ("" for all).
	Type client.Type
	// Active keeps active (true) or inactive (false) clients; nil for all.
	Active *bool
	// Search keeps clients whose name or code contains it, ignoring case,
	// and those whose client_id is it or begins with it (byte for byte:
	// client ids are case-sensitive).
	Search string
	// Sort is the order of the pages ("" is SortClientID).
	Sort ClientSort
	// Desc reverses the order: the sort key descending, and clients with
	// equal keys by client_id descending.
	Desc bool
	// After is the cursor: "" for the first page, otherwise the cursor
	// [ReadModel.Clients] returned with the previous page of the same
	// order (same Sort and Desc). In client_id order it is the client_id
	// of the last client of the previous page, so any client_id is a
	// cursor there; other orders have cursors of their own, which carry
	// the order they belong to, and refuse any other with [ErrBadCursor].
	After string
	// Limit is the page size, 1..MaxPage.
	Limit int
}

// MaxPage is the largest page [ReadModel.Clients] and [ReadModel.Tenants]
// return.
const MaxPage = 500

// ReadModel answers queries from the projected state. Reads are
// eventually consistent with the event store; callers that need their own
// writes wait with [Projector.WaitFor] first.
type ReadModel interface {
	// Tenant returns a tenant, or ErrNotFound.
	Tenant(ctx context.Context, slug string) (TenantView, error)
	// Tenants returns up to limit tenants with slugs after after, by slug.
	Tenants(ctx context.Context, after string, limit int) ([]TenantView, error)
	// Client returns a client of tenant, or ErrNotFound (also when the
	// client exists in another tenant, or was deleted).
	Client(ctx context.Context, tenant, clientID string) (ClientView, error)
	// ClientByID finds a client by its platform-unique id, or ErrNotFound.
	ClientByID(ctx context.Context, clientID string) (ClientView, error)
	// Clients returns one page of a tenant's clients matching f, in f's
	// order, and the cursor of the next page ("" on the last page). A
	// cursor of another order is ErrBadCursor, a bad page size, type or
	// sort ErrInvalid.
	Clients(ctx context.Context, tenant string, f ClientFilter) ([]ClientView, string, error)
	// ClientSummaries is Clients for lists that show only a summary of
	// each client: the same pages, cursors and errors, each client as
	// its view's Summary, read without decoding the views.
	ClientSummaries(ctx context.Context, tenant string, f ClientFilter) ([]ClientSummary, string, error)
	// Catalogue returns the tenant's scope catalogue: the identity and
	// platform scopes plus the API scopes its live clients define.
	Catalogue(ctx context.Context, tenant string) (scope.Catalogue, error)
	// Checkpoint returns the position up to which events are applied.
	Checkpoint(ctx context.Context, name string) (eventstore.Position, error)
}

// Status reports where a projection stands.
type Status struct {
	Name string `json:"name"`
	// Position is the checkpoint: every event up to it is applied.
	Position eventstore.Position `json:"position"`
	// Head is the newest position the event store shows readers.
	Head eventstore.Position `json:"head"`
	// CaughtUp is true when Position has reached Head.
	CaughtUp bool `json:"caught_up"`
	// Lag is how long ago the newest applied event was recorded, while
	// the projection is behind (0 when caught up).
	Lag time.Duration `json:"lag_ns"`
}

// NewClientView is the view of a client aggregate, as the read model
// will hold it once it has applied the same events. Command handlers use
// it to answer from the command's result, and the fold to write what it
// applied.
func NewClientView(tenant string, c *client.Client) ClientView {
	return clientView(tenant, c.State())
}

// clientView is the view of a client in state st, which it keeps.
func clientView(tenant string, st client.State) ClientView {
	views := make([]SecretView, len(st.Secrets))
	for i, s := range st.Secrets {
		views[i] = SecretView{ID: s.ID, Hash: s.Hash, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, Description: s.Description}
	}
	return ClientView{
		Tenant:             tenant,
		ClientID:           st.ID,
		Settings:           st.Settings,
		Active:             st.Active,
		DeactivationReason: st.DeactivationReason,
		Secrets:            views,
		ClonedFrom:         st.ClonedFrom,
		Version:            st.Version,
		CreatedAt:          st.CreatedAt,
		UpdatedAt:          st.UpdatedAt,
		UsedSecretIDs:      st.UsedSecretIDs,
		Deleted:            st.Deleted,
	}
}

// State is the state of the client v shows, from which client.FromState
// rebuilds the aggregate.
func (v ClientView) State() client.State {
	var secrets []client.Secret
	if len(v.Secrets) > 0 {
		secrets = make([]client.Secret, len(v.Secrets))
		for i, s := range v.Secrets {
			secrets[i] = client.Secret{ID: s.ID, Hash: s.Hash, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, Description: s.Description}
		}
	}
	return client.State{
		ID:                 v.ClientID,
		Settings:           v.Settings,
		Active:             v.Active,
		DeactivationReason: v.DeactivationReason,
		Secrets:            secrets,
		UsedSecretIDs:      v.UsedSecretIDs,
		Deleted:            v.Deleted,
		ClonedFrom:         v.ClonedFrom,
		CreatedAt:          v.CreatedAt,
		UpdatedAt:          v.UpdatedAt,
		Version:            v.Version,
	}
}

// NewTenantView is the view of a tenant aggregate, as the read model
// holds it once it has applied the same events.
func NewTenantView(t *tenant.Tenant) TenantView {
	st := t.State()
	return TenantView{
		Slug:             st.Slug,
		Name:             st.Name,
		Suspended:        st.Suspended,
		SuspensionReason: st.SuspensionReason,
		LoginURL:         st.LoginURL,
		Version:          st.Version,
		CreatedAt:        st.CreatedAt,
		UpdatedAt:        st.UpdatedAt,
		Keys:             st.Keys,
		AuditKeys:        st.AuditKeys,
	}
}

// State is the state of the tenant v shows, from which tenant.FromState
// rebuilds the aggregate.
func (v TenantView) State() tenant.State {
	return tenant.State{
		Slug:             v.Slug,
		Name:             v.Name,
		Suspended:        v.Suspended,
		SuspensionReason: v.SuspensionReason,
		LoginURL:         v.LoginURL,
		Keys:             v.Keys,
		AuditKeys:        v.AuditKeys,
		CreatedAt:        v.CreatedAt,
		UpdatedAt:        v.UpdatedAt,
		Version:          v.Version,
	}
}
