package node

import (
	"fmt"
	"log/slog"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	projpostgres "github.com/clavisiam/clavis/projections/postgres"
	projsqlite "github.com/clavisiam/clavis/projections/sqlite"
	"github.com/clavisiam/clavis/projections/webhooks"
)

// WebhookStore is the webhook store (endpoints, delivery cursors, the
// attempt log) in the event store's own database.
func WebhookStore(store Backend) (webhooks.Store, error) {
	switch s := store.(type) {
	case *sqlite.Store:
		return projsqlite.NewWebhookStore(s.DB()), nil
	case *postgres.Store:
		return projpostgres.NewWebhookStore(s.Pool()), nil
	}
	return nil, fmt.Errorf("no webhook store for a %T store", store)
}

// webhookProjection builds the projection of the webhook streams into
// the store's database, and the channel that wakes it: the projector
// signals on it when a page it applied holds webhook events, so that an
// endpoint's change reaches the deliverers at once (the projection also
// catches up every second, and WaitFor catches up itself).
func webhookProjection(store Backend, log *slog.Logger) (*webhooks.Projection, webhooks.Store, chan struct{}, func([]eventstore.Event), error) {
	ws, err := WebhookStore(store)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	p, err := webhooks.NewProjection(ws, store, log)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("build webhook projection: %w", err)
	}
	wake := make(chan struct{}, 1)
	observe := func(events []eventstore.Event) {
		for _, e := range events {
			if e.Stream.Type == webhooks.StreamType {
				select {
				case wake <- struct{}{}:
				default:
				}
				return
			}
		}
	}
	return p, ws, wake, observe, nil
}
