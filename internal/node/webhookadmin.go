package node

import (
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/tenants"
)

// webhookAdmin is the option that serves the webhook management routes:
// commands by svc, reads from store, read-your-writes from the
// projection, pings and resends by the deliverer.
func webhookAdmin(svc *tenants.Webhooks, store webhooks.Store, proj *webhooks.Projection, d httpapi.WebhookDeliverer) httpapi.Option {
	return httpapi.WithWebhooks(httpapi.Webhooks{Commands: svc, Reads: store, Waiter: proj, Deliverer: d})
}
