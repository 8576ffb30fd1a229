package deliver_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/webhook"
	essqlite "github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/internal/egress"
	"github.com/clavisiam/clavis/internal/poll"
	projsqlite "github.com/clavisiam/clavis/projections/sqlite"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/projections/webhooks/deliver"
)

// lagging is a deliverer whose webhook store learns of the endpoints'
// events only when the test says so: its own projection of the node's
// event store, into a database of its own. It is what any deliverer
// sees for a moment after an endpoint's event commits, held open. The
// node of such a test refuses loopback addresses, so only this
// deliverer calls the test's receivers.
type lagging struct {
	store webhooks.Store
	proj  *webhooks.Projection
}

func startLagging(t *testing.T, w *world, opts ...deliver.Option) *lagging {
	t.Helper()
	db, err := essqlite.Open(t.Context(), filepath.Join(t.TempDir(), "lagging.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := projsqlite.NewWebhookStore(db.DB())
	proj, err := webhooks.NewProjection(store, w.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := append(fastOptions(), deliver.WithSending(deliver.Sending{Network: egress.AllowPrivate}), deliver.WithDisabler(w.WebhookCommands.Disabler()))
	d, err := deliver.New(store, w.Store, w.keys, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &lagging{store: store, proj: proj}
}

// catchUp has the lagging store apply every event so far.
func (l *lagging) catchUp(t *testing.T) {
	t.Helper()
	if err := l.proj.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// quiet checks that r gets nothing more than the n requests it had for
// a second: ten of the lagging deliverer's polls.
func quiet(t *testing.T, r *receiver, n int, what string) {
	t.Helper()
	time.Sleep(time.Second)
	if m := len(r.all()); m != n {
		t.Errorf("%s: %d requests, want %d", what, m, n)
	}
}

// TestChangesTakeEffectAtTheirPosition: an endpoint's change applies to
// every event after it, even at a deliverer whose store has not applied
// the change yet. It waits for its store instead of sending an event
// after a deactivation, or to the URL an update replaced.
func TestChangesTakeEffectAtTheirPosition(t *testing.T) {
	t.Parallel()
	t.Run("deactivated", func(t *testing.T) {
		t.Parallel()
		w := start(t, false)
		w.tenant(t, "acme")
		l := startLagging(t, w)
		r := newReceiver(t)
		id, _ := w.endpoint(t, "acme", r.URL, "client.*")
		l.catchUp(t)
		w.clients(t, "acme", 1)
		waitDelivered(t, r, 1)
		w.execute(t, "acme", id, func(wh *webhook.Webhook) ([]domain.Event, error) { return wh.Deactivate("testing", false, time.Now()) })
		w.clients(t, "acme", 1)
		quiet(t, r, 1, "after the deactivation, its store behind")
		l.catchUp(t)
		quiet(t, r, 1, "after the deactivation, its store caught up")
	})
	t.Run("new URL", func(t *testing.T) {
		t.Parallel()
		w := start(t, false)
		w.tenant(t, "acme")
		l := startLagging(t, w)
		before, after := newReceiver(t), newReceiver(t)
		id, _ := w.endpoint(t, "acme", before.URL, "client.*")
		l.catchUp(t)
		w.clients(t, "acme", 1)
		waitDelivered(t, before, 1)
		w.execute(t, "acme", id, func(wh *webhook.Webhook) ([]domain.Event, error) {
			return wh.Update(webhook.Settings{URL: after.URL, Types: []string{"client.*"}}, time.Now())
		})
		w.clients(t, "acme", 1)
		quiet(t, before, 1, "the old URL, the store behind")
		if n := len(after.all()); n != 0 {
			t.Errorf("the new URL got %d requests before the store had it", n)
		}
		l.catchUp(t)
		waitDelivered(t, after, 1)
		quiet(t, before, 1, "the old URL, the store caught up")
	})
}

// TestDeactivatedForFailingIsNotTriedAgain: once a deliverer has
// deactivated an endpoint that kept failing, it never tries it again,
// though its store still says it is active and its lease is free.
func TestDeactivatedForFailingIsNotTriedAgain(t *testing.T) {
	t.Parallel()
	w := start(t, false)
	w.tenant(t, "acme")
	l := startLagging(t, w, deliver.WithFailurePeriod(time.Second))
	r := newReceiver(t)
	r.setStatus(func(int) int { return http.StatusInternalServerError })
	id, _ := w.endpoint(t, "acme", r.URL, "client.*")
	l.catchUp(t)
	w.clients(t, "acme", 1)
	poll.Until(t, 20*time.Second, "the endpoint deactivated", func() bool {
		stream, err := w.Store.ReadStream(t.Context(), webhooks.Stream("acme", id), 0)
		return err == nil && stream[len(stream)-1].Type == webhook.EventTypeDeactivated
	})
	n := len(r.all())
	quiet(t, r, n, "after the deactivation, the store behind")
	l.catchUp(t)
	if ep, err := l.store.Endpoint(t.Context(), "acme", id); err != nil || ep.State.Active {
		t.Fatalf("the lagging store's endpoint %+v, %v: want it inactive", ep.State, err)
	}
	quiet(t, r, n, "after the deactivation, the store caught up")
}
