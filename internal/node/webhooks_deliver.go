package node

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/internal/egress"
	"github.com/clavisiam/clavis/projections/wake"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/projections/webhooks/deliver"
	"github.com/clavisiam/clavis/tenants/signing"
)

// WithWebhookDelivery adds opts to the webhook deliverer's options,
// after the ones cfg implies, so that they win over them: a test sets
// the retry schedule, the failure period or the receivers' roots so.
func WithWebhookDelivery(opts ...deliver.Option) Option {
	return func(o *options) { o.deliver = append(o.deliver, opts...) }
}

// webhookDeliverer builds the deliverer of the webhook endpoints in ws:
// it reads the tenants' events from store, opens the signing secrets
// with keys, wakes at hub's events, and deactivates endpoints that fail
// for too long by appending to commands.
func webhookDeliverer(cfg Config, ws webhooks.Store, store Backend, commands eventstore.Store, keys *signing.Keyring, hub *wake.Hub,
	log *slog.Logger, opts []deliver.Option) (*deliver.Deliverer, error) {
	sending := deliver.Sending{UserAgent: "Clavis-Webhooks/" + cfg.Version}
	if cfg.WebhooksAllowPrivate {
		log.Warn("webhooks are delivered to private networks too: whoever may create a webhook endpoint can make this node call them")
		sending.Network = egress.AllowPrivate
	}
	base := []deliver.Option{deliver.WithLogger(log), deliver.WithWaker(hub), deliver.WithSending(sending),
		deliver.WithDisabler(streamDisabler{store: commands})}
	return deliver.New(ws, store, keys, append(base, opts...)...)
}

// streamDisabler deactivates an endpoint by appending its deactivation,
// by the platform (actor "system"), to its stream.
type streamDisabler struct{ store eventstore.Store }

// Deactivate implements deliver.Disabler. An endpoint that is gone or
// inactive already needs nothing.
func (d streamDisabler) Deactivate(ctx context.Context, tenant, id, reason string, automatic bool) error {
	now := time.Now()
	_, err := aggregate.Execute(ctx, d.store, aggregate.Command[*webhook.Webhook]{
		Stream: webhooks.Stream(tenant, id),
		Decode: webhook.Decode,
		Replay: webhook.Replay,
		Decide: func(w *webhook.Webhook) ([]domain.Event, error) { return w.Deactivate(reason, automatic, now) },
		Meta:   eventstore.Metadata{Actor: "system", OccurredAt: now, Reason: reason},
		NewID:  func() string { return uuid.Must(uuid.NewV7()).String() },
	})
	if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrDeleted) {
		return nil
	}
	return err
}
