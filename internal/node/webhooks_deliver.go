package node

import (
	"log/slog"

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
// for too long through disabler (the webhook command service's, as the
// platform).
func webhookDeliverer(cfg Config, ws webhooks.Store, store Backend, disabler deliver.Disabler, keys *signing.Keyring, hub *wake.Hub,
	log *slog.Logger, opts []deliver.Option) (*deliver.Deliverer, error) {
	sending := deliver.Sending{UserAgent: "Clavis-Webhooks/" + cfg.Version}
	if cfg.WebhooksAllowPrivate {
		log.Warn("webhooks are delivered to private networks too: whoever may create a webhook endpoint can make this node call them")
		sending.Network = egress.AllowPrivate
	}
	base := []deliver.Option{deliver.WithLogger(log), deliver.WithWaker(hub), deliver.WithSending(sending),
		deliver.WithDisabler(disabler)}
	return deliver.New(ws, store, keys, append(base, opts...)...)
}
