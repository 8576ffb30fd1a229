package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"

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
// with o's keys, and has the relay announce each checkpoint it signs.
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
// with keys rather than with each tenant's own audit key (the tenants
// service's); the relay publishes each on the public stream.
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
