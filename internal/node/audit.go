package node

import (
	"fmt"
	"log/slog"

	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/projections/auditlog"
	projpostgres "github.com/clavisiam/clavis/projections/postgres"
	projsqlite "github.com/clavisiam/clavis/projections/sqlite"
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
