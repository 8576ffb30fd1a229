package node

import (
	"fmt"
	"log/slog"

	"github.com/clavisiam/clavis/eventstore"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/egress"
	"github.com/clavisiam/clavis/projections/wake"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/projections/webhooks/deliver"
	"github.com/clavisiam/clavis/tenants"
	"github.com/clavisiam/clavis/tenants/signing"
)

// webhookAdmin builds the webhook command service, appending through
// commands and counting endpoints in store; the deliverer of the
// endpoints in store, reading the tenants' events from events, woken by
// hub and disabling, through the command service, endpoints that fail for
// too long; and the option that serves the management routes, waiting on
// the projection for read-your-writes.
func webhookAdmin(cfg Config, commands, events eventstore.Store, keys *signing.Keyring, store webhooks.Store, proj *webhooks.Projection, hub *wake.Hub, log *slog.Logger) (*tenants.Webhooks, *deliver.Deliverer, httpapi.Option, error) {
	svc, err := tenants.NewWebhooks(commands, keys, store, tenants.WithLogger(log))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("build webhook service: %w", err)
	}
	sending := deliver.Sending{Network: egress.PublicOnly}
	if cfg.WebhooksAllowPrivate {
		log.Warn("webhooks are delivered to private networks too: whoever may manage a tenant's webhooks can make this node call them")
		sending.Network = egress.AllowPrivate
	}
	d, err := deliver.New(store, events, keys, deliver.WithLogger(log), deliver.WithWaker(hub), deliver.WithDisabler(svc.Disabler()),
		deliver.WithSending(sending))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("build webhook deliverer: %w", err)
	}
	opt := httpapi.WithWebhooks(httpapi.Webhooks{Commands: svc, Reads: store, Waiter: proj, Deliverer: d})
	return svc, d, opt, nil
}
