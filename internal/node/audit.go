package node

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/auditlog"
	projpostgres "github.com/clavisiam/clavis/projections/postgres"
	projsqlite "github.com/clavisiam/clavis/projections/sqlite"
	"github.com/clavisiam/clavis/tenants"
)

// AuditStore is the audit log store in the event store's own database.
func AuditStore(store Backend) (auditlog.Store, error) {
	switch s := store.(type) {
	case *sqlite.Store:
		return projsqlite.NewAuditStore(s.DB()), nil
	case *postgres.Store:
		return projpostgres.NewAuditStore(s.Pool()), nil
	}
	return nil, fmt.Errorf("no audit log store for a %T store", store)
}

// auditLog builds the node's audit log in the store's database; it signs
// only when the node was given keys.
//
// The checkpoints it signs are not published on the public stream yet:
// the relay must publish them itself. It states the stream sequence each
// of its pipelined publishes expects, and a message of anyone else's
// that lands between them takes the sequence the next one expects: the
// first publish is refused and the second lands, out of order, and the
// relay then resumes after it, so the refused event is never published.
func auditLog(store Backend, log *slog.Logger, o options) (*auditlog.Log, error) {
	as, err := AuditStore(store)
	if err != nil {
		return nil, err
	}
	var opts []auditlog.Option
	if o.auditKeys != nil {
		opts = append(opts, auditlog.WithKeys(o.auditKeys))
	}
	l, err := auditlog.New(as, store, log, append(opts, o.audit...)...)
	if err != nil {
		return nil, fmt.Errorf("build audit log: %w", err)
	}
	return l, nil
}

// WithAuditKeys makes the node sign its tenants' audit log checkpoints
// with keys. Without it the node logs every event
// but signs nothing.
func WithAuditKeys(keys auditlog.Keys) Option {
	return func(o *options) { o.auditKeys = keys }
}

// WithAudit adds opts to the audit log's options (a sign interval, say),
// after the node's own.
func WithAudit(opts ...auditlog.Option) Option {
	return func(o *options) { o.audit = append(o.audit, opts...) }
}

// ensureAuditKeys gives every tenant without an audit key one, as the
// platform ("system"): tenants created before audit keys existed get
// theirs when an upgraded node first starts. It reads the tenants from
// the read model, which Run has just caught up, and asks the command
// service, which checks the tenant's own history, so that any number of
// nodes starting at once add one key per tenant. A failure is logged and
// does not stop the node; the next start tries again.
func (n *Node) ensureAuditKeys(ctx context.Context) {
	req := tenants.Request{Actor: "system", Reason: "every tenant has an audit key"}
	after, added := "", 0
	for {
		page, err := n.Admin.ReadModel.Tenants(ctx, after, projections.MaxPage)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("could not list tenants to give them audit keys", "error", err)
			}
			return
		}
		for _, v := range page {
			if len(v.AuditKeys) > 0 {
				continue
			}
			res, err := n.Admin.Tenants.EnsureAuditKey(ctx, req, v.Slug)
			if err != nil {
				n.log.LogAttrs(ctx, slog.LevelWarn, "could not give the tenant an audit key",
					slog.String("tenant", v.Slug), slog.Any("error", err))
				continue
			}
			if !res.Position.IsZero() {
				added++
			}
		}
		if len(page) < projections.MaxPage {
			break
		}
		after = page[len(page)-1].Slug
	}
	if added > 0 {
		n.log.Info("gave tenants without an audit key one", "tenants", added)
	}
}
