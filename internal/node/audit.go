package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/clavisiam/clavis/eventstore/message"
	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/relay"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/eventstore/subject"
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

// auditLog builds the node's audit log over the audit store as; it signs
// only when the node was given keys, and has the relay announce each
// checkpoint it signs.
func auditLog(as auditlog.Store, store Backend, rl *relay.Relay, log *slog.Logger, o options) (*auditlog.Log, error) {
	opts := []auditlog.Option{auditlog.WithPublish(func(context.Context, string, auditlog.SignedCheckpoint) error {
		rl.Announce()
		return nil
	})}
	if o.auditKeys != nil {
		opts = append(opts, auditlog.WithKeys(o.auditKeys))
	}
	l, err := auditlog.New(as, store, log, append(opts, o.audit...)...)
	if err != nil {
		return nil, fmt.Errorf("build audit log: %w", err)
	}
	return l, nil
}

// CheckpointType is the CloudEvent type of an audit checkpoint on the
// public stream.
const CheckpointType = message.TypePrefix + "audit.checkpoint"

// checkpointData is the data of a checkpoint's CloudEvent.
type checkpointData struct {
	Origin string `json:"origin"`
	Size   int64  `json:"size"`
	Root   string `json:"root"` // standard base64
	Note   string `json:"note"` // the signed note
}

// announcePage bounds the checkpoints one relay round publishes.
const announcePage = 100

// checkpointAnnouncer gives the relay the checkpoints not published yet,
// whichever node signed them, as CloudEvents of type [CheckpointType] on
// {prefix}.events.{tenant}.audit.checkpoint with the message id
// {tenant}/checkpoint/{size}; each is marked published once the relay has
// published it.
func checkpointAnnouncer(as auditlog.Store, names subject.Names) relay.Announcer {
	return func(ctx context.Context) ([]relay.Announcement, error) {
		cs, err := as.Unpublished(ctx, announcePage)
		if err != nil {
			return nil, err
		}
		out := make([]relay.Announcement, 0, len(cs))
		for _, c := range cs {
			m, id, err := checkpointMessage(names, c)
			if err != nil {
				return nil, err
			}
			out = append(out, relay.Announcement{ID: id, Msg: m, Published: func(ctx context.Context) error {
				return as.MarkPublished(ctx, c.Tenant, c.Size)
			}})
		}
		return out, nil
	}
}

// checkpointMessage is a checkpoint's CloudEvent and its message id.
func checkpointMessage(names subject.Names, c auditlog.TenantCheckpoint) (*nats.Msg, string, error) {
	size := strconv.FormatInt(c.Size, 10)
	ce := event.New(message.SpecVersion)
	ce.SetID(c.Tenant + "/checkpoint/" + size)
	ce.SetSource("/t/" + c.Tenant)
	ce.SetType(CheckpointType)
	ce.SetSubject("audit/checkpoints/" + size)
	ce.SetTime(c.SignedAt)
	ce.SetExtension("clavistenant", c.Tenant)
	data := checkpointData{Origin: c.Origin, Size: c.Size, Root: base64.StdEncoding.EncodeToString(c.Root[:]), Note: string(c.Note)}
	if err := ce.SetData(event.ApplicationJSON, data); err != nil {
		return nil, "", fmt.Errorf("encode checkpoint %s: %w", ce.ID(), err)
	}
	body, err := json.Marshal(ce)
	if err != nil {
		return nil, "", fmt.Errorf("encode checkpoint %s: %w", ce.ID(), err)
	}
	m := nats.NewMsg(names.PublicSubject(c.Tenant, "audit.checkpoint"))
	m.Header.Set("Content-Type", "application/cloudevents+json")
	m.Data = body
	return m, ce.ID(), nil
}

// WithAuditKeys makes the node sign its tenants' audit log checkpoints
// with keys; the relay publishes each on the public stream. Without it the node logs every event
// but signs nothing.
func WithAuditKeys(keys auditlog.Keys) Option {
	return func(o *options) { o.auditKeys = keys }
}

// WithAudit adds opts to the audit log's options (a sign interval, say),
// after the node's own.
func WithAudit(opts ...auditlog.Option) Option {
	return func(o *options) { o.audit = append(o.audit, opts...) }
}
