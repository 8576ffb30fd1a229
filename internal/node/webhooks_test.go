package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/webhooks"
)

// TestWebhookProjectionFollowsTheStore checks the node's wiring: an
// endpoint created in the store reaches the node's webhook store by
// itself (the running projection) and through WaitFor.
func TestWebhookProjectionFollowsTheStore(t *testing.T) {
	t.Parallel()
	srv := testnode.Start(t, testnode.Config(t, ""))
	createTenant(t, srv, "acme")
	now := time.Now()
	create := func(id string) eventstore.Position {
		t.Helper()
		res, err := aggregate.Execute(t.Context(), srv.Store, aggregate.Command[*webhook.Webhook]{
			Stream: webhooks.Stream("acme", id),
			Decode: webhook.Decode,
			Replay: webhook.Replay,
			Decide: func(*webhook.Webhook) ([]domain.Event, error) {
				return webhook.Create(id, webhook.Settings{URL: "https://hooks.example.com/" + id}, webhook.NewSecret{ID: "s1", Sealed: "sealed"}, now)
			},
			Meta:  eventstore.Metadata{Actor: "root", OccurredAt: now},
			NewID: func() string { return "evt-" + id },
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.Position
	}
	create("w1")
	poll.Until(t, 15*time.Second, "the endpoint in the webhook store", func() bool {
		_, err := srv.WebhookStore.Endpoint(t.Context(), "acme", "w1")
		return err == nil
	})
	at := create("w2")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := srv.Webhooks.WaitFor(ctx, at); err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	e, err := srv.WebhookStore.Endpoint(t.Context(), "acme", "w2")
	if err != nil || e.Delivery.Cursor != at {
		t.Errorf("w2 after WaitFor: %+v, %v; want its delivery at %s", e, err, at)
	}
	if _, err := srv.WebhookStore.Endpoint(t.Context(), "globex", "w2"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("w2 at another tenant: %v, want ErrNotFound", err)
	}
}
