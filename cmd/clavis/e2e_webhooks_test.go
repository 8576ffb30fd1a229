package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/eventtype"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
	projpostgres "github.com/clavisiam/clavis/projections/postgres"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/tenants/signing"
)

// hookReceiver records every delivery it gets, answering after a short
// delay. The holdAt-th distinct event is held unanswered until hold is
// closed: the node that sent it dies with it in flight.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []hookDelivery
	seen   map[string]bool
	holdAt int
	hold   chan struct{}
}

type hookDelivery struct {
	header http.Header
	body   []byte
	id     string
}

func newHookReceiver(t *testing.T, holdAt int) *hookReceiver {
	r := &hookReceiver{seen: map[string]bool{}, holdAt: holdAt, hold: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		time.Sleep(5 * time.Millisecond)
		var ce struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(body, &ce)
		r.mu.Lock()
		r.got = append(r.got, hookDelivery{header: req.Header.Clone(), body: body, id: ce.ID})
		held := !r.seen[ce.ID] && len(r.seen)+1 == r.holdAt
		r.seen[ce.ID] = true
		r.mu.Unlock()
		if held {
			select {
			case <-r.hold:
			case <-time.After(time.Minute):
			}
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) all() []hookDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookDelivery(nil), r.got...)
}

// distinct is how many different events were received.
func (r *hookReceiver) distinct() int {
	seen := map[string]bool{}
	for _, g := range r.all() {
		seen[g.id] = true
	}
	return len(seen)
}

// TestWebhooksSurviveSIGKILLAndNATSOutage delivers a tenant's client
// events to a webhook endpoint from two `clavis serve` nodes on one
// PostgreSQL and one NATS server, while commands keep coming: the node
// delivering is killed with SIGKILL mid-batch and restarted, then NATS
// is stopped for a while. Every event the endpoint's types match
// arrives, new events in store order, every signature verifies with the
// Standard Webhooks library, and an event received more than once (what
// the killed node had sent but not recorded) carries its own webhook-id
// each time.
func TestWebhooksSurviveSIGKILLAndNATSOutage(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	url := pgtest.Schema(t, dbURL)
	env := []string{"CLAVIS_DATABASE_URL=" + url, "CLAVIS_NATS_URL=" + ns.url(), "CLAVIS_WEBHOOKS_ALLOW_PRIVATE=true"}
	a := startServe(t, "a", env...)
	b := startServe(t, "b", append(env, "CLAVIS_MIGRATE=false")...)
	if !strings.Contains(a.logs.String(), "webhooks are delivered to private networks too") {
		t.Error("no warning logged with CLAVIS_WEBHOOKS_ALLOW_PRIVATE=true")
	}
	store := openPostgres(t, url)
	hooks := projpostgres.NewWebhookStore(store.Pool())
	keys, err := node.LoadMasterKeys(node.Config{MasterKey: e2eMasterKey}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	slug := uniqueSlug("hooks")
	a.do(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Hooks"}, http.StatusCreated)
	const holdAt = 30
	r := newHookReceiver(t, holdAt)
	// The endpoint, as the admin API creates it: its secret sealed for
	// it, a webhook.created event in its own stream.
	id := uuid.NewString()
	secret := signing.NewWebhookSecret()
	sealed, err := keys.SealWebhookSecret(slug, id, secret)
	if err != nil {
		t.Fatal(err)
	}
	types := []string{"client.*"}
	created, err := aggregate.Execute(t.Context(), store, aggregate.Command[*webhook.Webhook]{
		Stream: webhooks.Stream(slug, id), Decode: webhook.Decode, Replay: webhook.Replay,
		Decide: func(*webhook.Webhook) ([]domain.Event, error) {
			return webhook.Create(id, webhook.Settings{URL: r.URL + "/hooks", Types: types}, webhook.NewSecret{ID: "s1", Sealed: sealed}, time.Now())
		},
		Meta:  eventstore.Metadata{Actor: "test", OccurredAt: time.Now()},
		NewID: func() string { return uuid.Must(uuid.NewV7()).String() },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Which node delivers: the one whose process holds the lease.
	var holder, other *serveProc
	poll.Until(t, 30*time.Second, "a node taking the endpoint's lease", func() bool {
		ep, err := hooks.Endpoint(t.Context(), slug, id)
		if err != nil || ep.Delivery.Owner == "" {
			return false
		}
		for _, n := range []*serveProc{a, b} {
			if strings.Contains(ep.Delivery.Owner, "/"+strconv.Itoa(n.cmd.Process.Pid)+"/") {
				holder = n
			}
		}
		return true
	})
	if holder == nil {
		t.Fatal("the lease's owner names neither node's process")
	}
	other = a
	if holder == a {
		other = b
	}
	l := startLoad(t, "hooks", slug, 50, 4, func(int) *serveProc { return other })

	// The kill comes while the holdAt-th event is in flight, with what
	// was delivered since the last record not recorded.
	poll.Until(t, 30*time.Second, "30 deliveries before the kill", func() bool { return r.distinct() >= holdAt })
	holder.kill()
	killed := time.Now()
	close(r.hold)
	deliveredAtKill := r.distinct()
	holder.start()
	// The lease of the killed process runs out (30 s); then one of the
	// nodes takes it and goes on from the recorded cursor.
	poll.Until(t, 90*time.Second, "deliveries after the kill", func() bool { return r.distinct() >= deliveredAtKill+20 })
	resumed := time.Since(killed)

	// NATS down: commands go on, and what they write is delivered
	// without NATS, found by polling the store.
	ns.stop()
	down := time.Now()
	acked := l.ackedCount()
	poll.Until(t, 20*time.Second, "8 writes while NATS is down", func() bool { return l.ackedCount() >= acked+8 })
	matched := func() int {
		n := 0
		for _, e := range readAll(t, store) {
			if e.Stream.Tenant == slug && e.Stream.Type == "client" {
				n++
			}
		}
		return n
	}
	during := matched()
	poll.Until(t, 30*time.Second, "the events written while NATS is down delivered", func() bool { return r.distinct() >= during })
	ns.start()
	up := time.Now()
	l.halt()
	_, failures, _ := l.snapshot()

	// Everything the endpoint's types match, from its creation on.
	f, _ := eventtype.Parse(types)
	var want []eventstore.Event
	for _, e := range readAll(t, store) {
		if e.Stream.Tenant == slug && created.Position.Less(e.Position) && f.Match(e.Type) {
			want = append(want, e)
		}
	}
	poll.Until(t, 60*time.Second, fmt.Sprintf("all %d events delivered", len(want)), func() bool { return r.distinct() >= len(want) })

	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	got := r.all()
	index := map[string]int{}
	for i, e := range want {
		index[e.ID] = i
	}
	next, dups := 0, 0
	bodies := map[string]string{}
	for _, g := range got {
		if err := wh.Verify(g.body, g.header); err != nil {
			t.Errorf("event %s: %v", g.id, err)
		}
		if h := g.header.Get("webhook-id"); h != g.id {
			t.Errorf("event %s delivered with webhook-id %s", g.id, h)
		}
		i, ok := index[g.id]
		switch {
		case !ok:
			t.Errorf("received %s, which is not one of the tenant's client events", g.id)
		case i == next:
			next++
			bodies[g.id] = string(g.body)
		case i < next:
			dups++ // again, at least once: the same event, the same body
			if bodies[g.id] != string(g.body) {
				t.Errorf("event %s received twice with different bodies", g.id)
			}
		default:
			t.Fatalf("received event %d (%s) before event %d: out of order", i, g.id, next)
		}
	}
	if next != len(want) {
		t.Errorf("%d of %d events delivered", next, len(want))
	}
	if dups == 0 {
		t.Error("nothing was received twice: the kill did not come with a delivery in flight")
	}
	t.Logf("webhooks: %d events delivered (%d received again after the kill, with the same webhook-id) from %d commands (%d failed with the node down); deliveries resumed %s after the SIGKILL; NATS down for %s",
		next, dups, len(want), len(failures), resumed.Round(time.Millisecond), up.Sub(down).Round(time.Millisecond))
}
