package deliver_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/eventtype"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/internal/egress"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/projections/webhooks/deliver"
	"github.com/clavisiam/clavis/tenants"
	"github.com/clavisiam/clavis/tenants/signing"
)

// received is one request a receiver got.
type received struct {
	Header http.Header
	Body   []byte
	Event  struct {
		ID     string `json:"id"`
		Type   string `json:"type"`
		Source string `json:"source"`
		Tenant string `json:"clavistenant"`
		Pos    string `json:"clavisposition"`
	}
	Status int
}

// receiver is a real HTTP server recording every request, answering
// what status says (200 when nil).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	status func(n int) int // n: the request's number, from 1
	// hold, when it says so for request n, keeps it unanswered until the
	// sender gives up (the answer never reaches the deliverer).
	hold func(n int) bool
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		rec := received{Header: req.Header.Clone(), Body: body, Status: http.StatusOK}
		_ = json.Unmarshal(body, &rec.Event)
		r.mu.Lock()
		if r.status != nil {
			rec.Status = r.status(len(r.got) + 1)
		}
		r.got = append(r.got, rec)
		held := r.hold != nil && r.hold(len(r.got))
		r.mu.Unlock()
		if held {
			select {
			case <-req.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		}
		w.WriteHeader(rec.Status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) setStatus(f func(int) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = f
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// delivered is what the receiver accepted, in order of arrival.
func (r *receiver) delivered() []received {
	var out []received
	for _, g := range r.all() {
		if g.Status < 300 {
			out = append(out, g)
		}
	}
	return out
}

// world is a running node, as serve runs it, with its keyring.
type world struct {
	*testnode.Server
	keys *signing.Keyring
}

// fastOptions are deliverer options that make tests quick: a short
// poll and lease, retries every 100 ms.
func fastOptions() []deliver.Option {
	return []deliver.Option{deliver.WithPoll(100 * time.Millisecond), deliver.WithLease(3 * time.Second),
		deliver.WithRetrySchedule(func(int) time.Duration { return 100 * time.Millisecond })}
}

// fastDelivery gives a node's deliverer fastOptions, then extra.
func fastDelivery(extra ...deliver.Option) node.Option {
	return node.WithWebhookDelivery(append(fastOptions(), extra...)...)
}

// dbURL is this package's own PostgreSQL database, made by pgtest.Main.
var dbURL string

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &dbURL)) }

// backends are the stores a node runs on: "" for SQLite.
func backends() map[string]string { return map[string]string{"sqlite": "", "postgres": dbURL} }

func start(t testing.TB, allowPrivate bool, opts ...node.Option) *world {
	t.Helper()
	return startOn(t, "", allowPrivate, opts...)
}

// startOn starts a node on SQLite (db "") or in a schema of its own in
// the PostgreSQL database db.
func startOn(t testing.TB, db string, allowPrivate bool, opts ...node.Option) *world {
	t.Helper()
	cfg := testnode.Config(t, db)
	cfg.WebhooksAllowPrivate = allowPrivate
	return startConfig(t, cfg, opts...)
}

// startConfig starts a node of cfg: a second one on the same data
// restarts the first.
func startConfig(t testing.TB, cfg node.Config, opts ...node.Option) *world {
	t.Helper()
	s := testnode.Start(t, cfg, opts...)
	keys, err := node.LoadMasterKeys(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &world{Server: s, keys: keys}
}

func (w *world) tenant(t testing.TB, slug string) {
	t.Helper()
	if _, err := w.Admin.Tenants.Create(t.Context(), tenants.Request{Actor: "test"}, slug, slug); err != nil {
		t.Fatal(err)
	}
}

// clients registers n clients at tenant and returns their last position.
func (w *world) clients(t testing.TB, tenant string, n int) eventstore.Position {
	t.Helper()
	var pos eventstore.Position
	for i := range n {
		s := client.DefaultSettings(client.TypeM2M)
		s.ClientName, s.Code = fmt.Sprintf("C%d", i), "urn:test/"+uuid.NewString()
		res, err := w.Admin.Clients.Register(t.Context(), tenants.Request{Actor: "test"}, tenant, s)
		if err != nil {
			t.Fatal(err)
		}
		pos = res.Position
	}
	return pos
}

// execute runs a command on endpoint id of tenant and waits for the
// webhook projection to apply it.
func (w *world) execute(t testing.TB, tenant, id string, decide func(*webhook.Webhook) ([]domain.Event, error)) {
	t.Helper()
	now := time.Now()
	res, err := aggregate.Execute(t.Context(), w.Store, aggregate.Command[*webhook.Webhook]{
		Stream: webhooks.Stream(tenant, id), Decode: webhook.Decode, Replay: webhook.Replay, Decide: decide,
		Meta:  eventstore.Metadata{Actor: "test", OccurredAt: now},
		NewID: func() string { return uuid.Must(uuid.NewV7()).String() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Webhooks.WaitFor(t.Context(), res.Position); err != nil {
		t.Fatal(err)
	}
}

// newSecret makes a signing secret for endpoint id and seals it.
func (w *world) newSecret(t testing.TB, tenant, id string) (string, webhook.NewSecret) {
	t.Helper()
	secret := signing.NewWebhookSecret()
	sealed, err := w.keys.SealWebhookSecret(tenant, id, secret)
	if err != nil {
		t.Fatal(err)
	}
	return secret, webhook.NewSecret{ID: uuid.NewString(), Sealed: sealed}
}

// endpoint creates an endpoint of tenant at url and returns its id and
// signing secret.
func (w *world) endpoint(t testing.TB, tenant, url string, types ...string) (string, string) {
	t.Helper()
	id := uuid.NewString()
	secret, sealed := w.newSecret(t, tenant, id)
	w.execute(t, tenant, id, func(*webhook.Webhook) ([]domain.Event, error) {
		return webhook.Create(id, webhook.Settings{URL: url, Types: types}, sealed, time.Now())
	})
	return id, secret
}

// events are tenant's events after from that types match, in order.
func (w *world) events(t testing.TB, tenant string, from eventstore.Position, types ...string) []eventstore.Event {
	t.Helper()
	f, err := eventtype.Parse(types)
	if err != nil {
		t.Fatal(err)
	}
	var out []eventstore.Event
	for {
		page, err := w.Store.ReadTenant(t.Context(), tenant, from, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			if f.Match(e.Type) {
				out = append(out, e)
			}
		}
		from = page[len(page)-1].Position
	}
}

func (w *world) endpointState(t testing.TB, tenant, id string) webhooks.Endpoint {
	t.Helper()
	ep, err := w.WebhookStore.Endpoint(t.Context(), tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func verify(t *testing.T, secret string, g received) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh.Verify(g.Body, g.Header)
}

func ids(events []eventstore.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// inOrder checks that got holds want's events, each delivered, in
// order: a message accepted again (at least once) is the same event
// with the same webhook-id, and never comes after a later event.
func inOrder(t *testing.T, got []received, want []string) {
	t.Helper()
	var seq []string
	for _, g := range got {
		if id := g.Header.Get(deliver.HeaderID); id != g.Event.ID {
			t.Errorf("webhook-id %s for event %s", id, g.Event.ID)
		}
		if n := len(seq); n > 0 && seq[n-1] == g.Event.ID {
			continue
		}
		seq = append(seq, g.Event.ID)
	}
	if !slices.Equal(seq, want) {
		t.Errorf("delivered %d events, want %d in store order:\n got %v\nwant %v", len(seq), len(want), seq, want)
	}
}

func waitDelivered(t *testing.T, r *receiver, n int) {
	t.Helper()
	poll.Until(t, 30*time.Second, fmt.Sprintf("%d deliveries", n), func() bool { return len(r.delivered()) >= n })
}

func TestDeliversInOrderSigned(t *testing.T) {
	t.Parallel()
	for name, db := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testDeliversInOrderSigned(t, startOn(t, db, true, fastDelivery()))
		})
	}
}

func testDeliversInOrderSigned(t *testing.T, w *world) {
	w.tenant(t, "acme")
	r := newReceiver(t)
	id, secret := w.endpoint(t, "acme", r.URL+"/hook", "client.*")
	created := w.endpointState(t, "acme", id).Delivery.Cursor
	w.clients(t, "acme", 40)
	want := w.events(t, "acme", created, "client.*")
	waitDelivered(t, r, len(want))
	got := r.delivered()
	inOrder(t, got, ids(want))
	if len(got) != len(want) {
		t.Errorf("%d deliveries of %d events without a failure: duplicates", len(got), len(want))
	}
	for _, g := range got {
		if err := verify(t, secret, g); err != nil {
			t.Errorf("event %s: %v", g.Event.ID, err)
		}
		if ct := g.Header.Get("Content-Type"); ct != deliver.ContentType {
			t.Errorf("Content-Type %q", ct)
		}
		if ua := g.Header.Get("User-Agent"); !strings.HasPrefix(ua, "Clavis-Webhooks/") {
			t.Errorf("User-Agent %q", ua)
		}
		if !strings.HasPrefix(g.Event.Type, "dev.clavis.client.") || g.Event.Tenant != "acme" {
			t.Errorf("event %s: type %s, tenant %s", g.Event.ID, g.Event.Type, g.Event.Tenant)
		}
	}
	// The cursor reaches the last event, and every attempt is logged.
	poll.Until(t, 10*time.Second, "the cursor at the last event", func() bool {
		return w.endpointState(t, "acme", id).Delivery.Cursor == want[len(want)-1].Position
	})
	log, err := w.WebhookStore.Attempts(t.Context(), "acme", id, 0, webhooks.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != len(want) {
		t.Errorf("%d attempts logged, want %d", len(log), len(want))
	}
	for _, a := range log {
		if !a.Succeeded() || a.Trigger != webhooks.TriggerDelivery || a.Status != 200 {
			t.Errorf("attempt %+v", a)
		}
	}
}

func TestReceiverDownThenUp(t *testing.T) {
	t.Parallel()
	w := start(t, true, fastDelivery())
	w.tenant(t, "acme")
	r := newReceiver(t)
	down := make(chan struct{})
	r.setStatus(func(int) int {
		select {
		case <-down:
			return http.StatusOK
		default:
			return http.StatusServiceUnavailable
		}
	})
	id, secret := w.endpoint(t, "acme", r.URL, "client.*")
	created := w.endpointState(t, "acme", id).Delivery.Cursor
	w.clients(t, "acme", 10)
	// Down: attempts fail, each logged with its next retry, nothing is
	// accepted.
	poll.Until(t, 10*time.Second, "5 attempts", func() bool { return len(r.all()) >= 5 })
	ep := w.endpointState(t, "acme", id)
	if ep.Delivery.Failures == 0 || ep.Delivery.Cursor != created {
		t.Errorf("while down: delivery %+v", ep.Delivery)
	}
	log, err := w.WebhookStore.Attempts(t.Context(), "acme", id, 0, 10)
	if err != nil || len(log) == 0 {
		t.Fatalf("attempts: %v, %v", log, err)
	}
	if a := log[0]; a.Succeeded() || a.Status != 503 || a.NextRetry.IsZero() || !strings.Contains(a.Error, "503") {
		t.Errorf("failed attempt logged as %+v", a)
	}
	w.clients(t, "acme", 10)
	close(down)
	want := w.events(t, "acme", created, "client.*")
	waitDelivered(t, r, len(want))
	got := r.delivered()
	inOrder(t, got, ids(want))
	for _, g := range r.all() {
		if err := verify(t, secret, g); err != nil {
			t.Errorf("event %s: %v", g.Event.ID, err)
		}
	}
	poll.Until(t, 10*time.Second, "failures cleared", func() bool { return w.endpointState(t, "acme", id).Delivery.Failures == 0 })
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	w := start(t, true, fastDelivery())
	w.tenant(t, "acme")
	w.tenant(t, "bravo")
	ra, rb := newReceiver(t), newReceiver(t)
	idA, _ := w.endpoint(t, "acme", ra.URL)
	idB, _ := w.endpoint(t, "bravo", rb.URL, "*")
	fromA := w.endpointState(t, "acme", idA).Delivery.Cursor
	fromB := w.endpointState(t, "bravo", idB).Delivery.Cursor
	for range 5 {
		w.clients(t, "acme", 2)
		w.clients(t, "bravo", 3)
	}
	wantA, wantB := w.events(t, "acme", fromA), w.events(t, "bravo", fromB)
	waitDelivered(t, ra, len(wantA))
	waitDelivered(t, rb, len(wantB))
	inOrder(t, ra.delivered(), ids(wantA))
	inOrder(t, rb.delivered(), ids(wantB))
	for _, c := range []struct {
		tenant string
		r      *receiver
	}{{"acme", ra}, {"bravo", rb}} {
		for _, g := range c.r.all() {
			if g.Event.Tenant != c.tenant || g.Event.Source != "/t/"+c.tenant {
				t.Errorf("%s's endpoint received %s (tenant %s, source %s)", c.tenant, g.Event.ID, g.Event.Tenant, g.Event.Source)
			}
		}
	}
	// Another tenant's endpoint, and another tenant's cursor, are not
	// found.
	if _, err := w.Deliverer.Ping(t.Context(), "bravo", idA); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("ping acme's endpoint at bravo: %v", err)
	}
	if _, err := w.Deliverer.Resend(t.Context(), "acme", idA, wantB[0].Position.String()); !errors.Is(err, deliver.ErrNoEvent) {
		t.Errorf("resend bravo's event to acme's endpoint: %v", err)
	}
}

func TestSecretRotation(t *testing.T) {
	t.Parallel()
	w := start(t, true, fastDelivery())
	w.tenant(t, "acme")
	r := newReceiver(t)
	id, old := w.endpoint(t, "acme", r.URL, "client.*")
	w.clients(t, "acme", 3)
	waitDelivered(t, r, 3)
	before := len(r.all())
	const overlap = 3 * time.Second
	next, sealed := w.newSecret(t, "acme", id)
	rotated := time.Now()
	w.execute(t, "acme", id, func(wh *webhook.Webhook) ([]domain.Event, error) { return wh.RotateSecret(sealed, overlap, time.Now()) })
	w.clients(t, "acme", 3)
	waitDelivered(t, r, before+3)
	during := r.all()[before:]
	// Past the overlap, only the new secret signs.
	time.Sleep(time.Until(rotated.Add(overlap + time.Second)))
	w.clients(t, "acme", 3)
	waitDelivered(t, r, before+6)
	after := r.all()[before+3:]
	for _, g := range r.all()[:before] {
		if err := verify(t, old, g); err != nil {
			t.Errorf("before the rotation: %v", err)
		}
	}
	for _, g := range during {
		sigs := strings.Fields(g.Header.Get(deliver.HeaderSignature))
		if len(sigs) != 2 {
			t.Errorf("during the overlap: %d signatures, want 2", len(sigs))
		}
		for _, s := range []string{old, next} {
			if err := verify(t, s, g); err != nil {
				t.Errorf("during the overlap, with each secret: %v", err)
			}
		}
	}
	for _, g := range after {
		if n := len(strings.Fields(g.Header.Get(deliver.HeaderSignature))); n != 1 {
			t.Errorf("after the overlap: %d signatures, want 1", n)
		}
		if err := verify(t, next, g); err != nil {
			t.Errorf("after the overlap, with the new secret: %v", err)
		}
		if err := verify(t, old, g); err == nil {
			t.Error("after the overlap, the old secret still verifies")
		}
	}
}

func TestDisabledAfterFailingPeriod(t *testing.T) {
	t.Parallel()
	w := start(t, true, fastDelivery(deliver.WithFailurePeriod(time.Second)))
	w.tenant(t, "acme")
	r := newReceiver(t)
	r.setStatus(func(int) int { return http.StatusInternalServerError })
	id, _ := w.endpoint(t, "acme", r.URL, "client.*")
	created := w.endpointState(t, "acme", id).Delivery.Cursor
	w.clients(t, "acme", 2)
	poll.Until(t, 20*time.Second, "the endpoint deactivated", func() bool { return !w.endpointState(t, "acme", id).State.Active })
	ep := w.endpointState(t, "acme", id)
	if !ep.State.Automatic || !strings.Contains(ep.State.Reason, "deliveries failed") {
		t.Errorf("deactivated with automatic %v, reason %q", ep.State.Automatic, ep.State.Reason)
	}
	stream, err := w.Store.ReadStream(t.Context(), webhooks.Stream("acme", id), 0)
	if err != nil {
		t.Fatal(err)
	}
	last := stream[len(stream)-1]
	var d webhook.Deactivated
	if err := json.Unmarshal(last.Data, &d); err != nil || last.Type != webhook.EventTypeDeactivated || !d.Automatic || last.Meta.Actor != "system" {
		t.Errorf("last event %s by %s: %+v (%v)", last.Type, last.Meta.Actor, d, err)
	}
	// Nothing more is tried.
	n := len(r.all())
	time.Sleep(500 * time.Millisecond)
	if m := len(r.all()); m != n {
		t.Errorf("%d attempts after the deactivation", m-n)
	}
	log, err := w.WebhookStore.Attempts(t.Context(), "acme", id, 0, 1)
	if err != nil || len(log) != 1 || !log[0].NextRetry.IsZero() || log[0].Status != 500 {
		t.Errorf("last attempt %+v, %v: want a 500 with no next retry", log, err)
	}
	// Activated again, it resumes where it stopped: nothing was skipped.
	r.setStatus(nil)
	w.execute(t, "acme", id, func(wh *webhook.Webhook) ([]domain.Event, error) { return wh.Activate(time.Now()) })
	want := w.events(t, "acme", created, "client.*")
	waitDelivered(t, r, len(want))
	inOrder(t, r.delivered(), ids(want))
}

// TestReplay: a replay sends the events after its cursor again, in
// order, with their own webhook-ids, and goes on with new ones.
func TestReplay(t *testing.T) {
	t.Parallel()
	w := start(t, true, fastDelivery())
	w.tenant(t, "acme")
	r := newReceiver(t)
	id, secret := w.endpoint(t, "acme", r.URL, "client.*")
	created := w.endpointState(t, "acme", id).Delivery.Cursor
	w.clients(t, "acme", 6)
	first := w.events(t, "acme", created, "client.*")
	waitDelivered(t, r, len(first))
	from := first[1].Position.String()
	w.execute(t, "acme", id, func(wh *webhook.Webhook) ([]domain.Event, error) { return wh.Replay(from, time.Now()) })
	w.clients(t, "acme", 2)
	all := w.events(t, "acme", created, "client.*")
	want := append(ids(first), ids(all[2:])...)
	waitDelivered(t, r, len(want))
	got := r.delivered()
	var seq []string
	for _, g := range got {
		seq = append(seq, g.Header.Get(deliver.HeaderID))
		if err := verify(t, secret, g); err != nil {
			t.Error(err)
		}
	}
	if !slices.Equal(seq, want) {
		t.Errorf("webhook-ids received\n got %v\nwant %v", seq, want)
	}
}

// TestPrivateAddressesRefused: without the flag, an endpoint whose URL
// resolves to loopback, private, link-local or metadata addresses is
// never called, and each attempt's log entry says why.
func TestPrivateAddressesRefused(t *testing.T) {
	t.Parallel()
	// One ping per endpoint, more than the default burst.
	w := start(t, false, fastDelivery(deliver.WithOnDemand(deliver.OnDemand{InFlight: 2, PerMinute: 10, Burst: 10})))
	w.tenant(t, "acme")
	r := newReceiver(t)
	_, port, _ := net.SplitHostPort(r.Listener.Addr().String())
	var ids []string
	for _, url := range []string{r.URL, "http://localhost:" + port, "https://169.254.169.254/latest/meta-data/", "https://10.1.2.3/", "https://[fe80::1]/", "https://192.168.1.1:8443/"} {
		id, _ := w.endpoint(t, "acme", url)
		ids = append(ids, id)
	}
	w.clients(t, "acme", 1)
	for i, id := range ids {
		poll.Until(t, 10*time.Second, "an attempt logged", func() bool {
			log, err := w.WebhookStore.Attempts(t.Context(), "acme", id, 0, 1)
			return err == nil && len(log) == 1
		})
		log, _ := w.WebhookStore.Attempts(t.Context(), "acme", id, 0, 1)
		if a := log[0]; a.Status != 0 || !strings.Contains(a.Error, "not a public address") || a.NextRetry.IsZero() {
			t.Errorf("endpoint %d: attempt %+v", i, a)
		}
		if p, err := w.Deliverer.Ping(t.Context(), "acme", id); err != nil || p.Succeeded() || !strings.Contains(p.Error, "not a public address") {
			t.Errorf("endpoint %d: ping %+v, %v", i, p, err)
		}
	}
	if n := len(r.all()); n != 0 {
		t.Errorf("the loopback receiver was called %d times", n)
	}
}

func TestPingAndResend(t *testing.T) {
	t.Parallel()
	w := start(t, true, fastDelivery())
	w.tenant(t, "acme")
	r := newReceiver(t)
	id, secret := w.endpoint(t, "acme", r.URL, "client.*")
	// Inactive: pings and resends still go; deliveries do not.
	w.execute(t, "acme", id, func(wh *webhook.Webhook) ([]domain.Event, error) { return wh.Deactivate("testing", false, time.Now()) })
	w.clients(t, "acme", 1)
	events := w.events(t, "acme", eventstore.Position{}, "client.*")
	p, err := w.Deliverer.Ping(t.Context(), "acme", id)
	if err != nil || !p.Succeeded() || p.Trigger != webhooks.TriggerPing || p.EventType != deliver.PingType {
		t.Fatalf("ping: %+v, %v", p, err)
	}
	ev := events[0]
	a, err := w.Deliverer.Resend(t.Context(), "acme", id, ev.Position.String())
	if err != nil || !a.Succeeded() || a.MessageID != ev.ID || a.Cursor != ev.Position.String() || a.Trigger != webhooks.TriggerResend {
		t.Fatalf("resend: %+v, %v", a, err)
	}
	got := r.all()
	if len(got) != 2 {
		t.Fatalf("%d messages, want the ping and the resend", len(got))
	}
	if got[0].Event.Type != deliver.PingType || got[0].Header.Get(deliver.HeaderID) != p.MessageID || p.MessageID == ev.ID {
		t.Errorf("ping received as %+v", got[0].Event)
	}
	if got[1].Header.Get(deliver.HeaderID) != ev.ID {
		t.Errorf("resend's webhook-id %s, want the event's %s", got[1].Header.Get(deliver.HeaderID), ev.ID)
	}
	for _, g := range got {
		if err := verify(t, secret, g); err != nil {
			t.Error(err)
		}
	}
	log, err := w.WebhookStore.Attempts(t.Context(), "acme", id, 0, 10)
	if err != nil || len(log) != 2 {
		t.Fatalf("log %+v, %v: want the two attempts", log, err)
	}
	// The attempts returned carry the IDs the log gave them.
	if p.ID == 0 || p.ID != log[1].ID || a.ID != log[0].ID {
		t.Errorf("ping's ID %d and resend's %d, the log's %d and %d", p.ID, a.ID, log[1].ID, log[0].ID)
	}
	// An event the endpoint's types do not match is not resent.
	other := w.events(t, "acme", eventstore.Position{}, "webhook.*")
	if len(other) == 0 {
		t.Fatal("no webhook event")
	}
	if _, err := w.Deliverer.Resend(t.Context(), "acme", id, other[0].Position.String()); !errors.Is(err, deliver.ErrNoEvent) {
		t.Errorf("resend of a %s event to a client.* endpoint: %v, want ErrNoEvent", other[0].Type, err)
	}
	for _, c := range []struct {
		cursor string
		want   error
	}{{"", webhooks.ErrInvalid}, {"x.1", webhooks.ErrInvalid}, {"0.0", webhooks.ErrInvalid}, {"99999999.1", deliver.ErrNoEvent}} {
		if _, err := w.Deliverer.Resend(t.Context(), "acme", id, c.cursor); !errors.Is(err, c.want) {
			t.Errorf("resend at %q: %v, want %v", c.cursor, err, c.want)
		}
	}
	if _, err := w.Deliverer.Ping(t.Context(), "acme", "nope"); !errors.Is(err, webhooks.ErrNotFound) {
		t.Errorf("ping an unknown endpoint: %v", err)
	}
	if n := len(r.all()); n != 2 {
		t.Errorf("%d messages after the refused requests, want 2", n)
	}
}

// TestBadReceiversLogged: a redirect, a receiver that never answers, an
// endless answer and a huge one each end as one log entry that says
// what happened and holds nothing of the answer; the redirect's target
// is never called.
func TestBadReceiversLogged(t *testing.T) {
	t.Parallel()
	w := start(t, true, fastDelivery(deliver.WithSending(deliver.Sending{Network: egress.AllowPrivate, Timeout: time.Second}),
		deliver.WithRetrySchedule(func(int) time.Duration { return time.Hour })))
	w.tenant(t, "acme")
	const marker = "RESPONSE-BODY-MARKER"
	var followed atomic.Int64
	release := make(chan struct{})
	defer close(release)
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, "/target", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/target", func(http.ResponseWriter, *http.Request) { followed.Add(1) })
	mux.HandleFunc("/silent", func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("/endless", func(rw http.ResponseWriter, r *http.Request) {
		rw.WriteHeader(http.StatusBadGateway)
		for r.Context().Err() == nil {
			if _, err := rw.Write([]byte(strings.Repeat(marker, 1000))); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/huge", func(rw http.ResponseWriter, r *http.Request) {
		rw.WriteHeader(http.StatusInternalServerError)
		_, _ = rw.Write([]byte(strings.Repeat(marker, 1<<16)))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.CloseClientConnections)
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		path   string
		status int
		error  string
	}{
		{"/redirect", 307, "redirect not followed"},
		{"/silent", 0, "timeout"},
		{"/endless", 502, "answered 502"},
		{"/huge", 500, "answered 500"},
	} {
		id, _ := w.endpoint(t, "acme", srv.URL+c.path, "client.*")
		w.clients(t, "acme", 1)
		poll.Until(t, 20*time.Second, c.path+" attempted", func() bool {
			log, err := w.WebhookStore.Attempts(t.Context(), "acme", id, 0, 10)
			return err == nil && len(log) > 0
		})
		log, _ := w.WebhookStore.Attempts(t.Context(), "acme", id, 0, 10)
		a := log[0]
		if len(log) != 1 || a.Status != c.status || !strings.Contains(a.Error, c.error) || a.NextRetry.IsZero() || strings.Contains(a.Error, marker) {
			t.Errorf("%s: log %+v, want one attempt, status %d, error %q", c.path, log, c.status, c.error)
		}
		if d := w.endpointState(t, "acme", id).Delivery; d.Failures != 1 || strings.Contains(d.LastError, marker) {
			t.Errorf("%s: delivery %+v", c.path, d)
		}
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect's target was called %d times", n)
	}
}

// TestPruneKeepsThirtyDays: the log keeps an attempt for 30 days.
func TestPruneKeepsThirtyDays(t *testing.T) {
	t.Parallel()
	w := start(t, true, fastDelivery())
	w.tenant(t, "acme")
	r := newReceiver(t)
	id, _ := w.endpoint(t, "acme", r.URL, "client.*")
	if _, err := w.Deliverer.Ping(t.Context(), "acme", id); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		log, err := w.WebhookStore.Attempts(t.Context(), "acme", id, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(log)
	}
	for _, c := range []struct {
		later time.Duration
		want  int
	}{{29 * 24 * time.Hour, 1}, {31 * 24 * time.Hour, 0}} {
		at := time.Now().Add(c.later)
		d, err := deliver.New(w.WebhookStore, w.Store, w.keys, deliver.WithClock(func() time.Time { return at }))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Prune(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != c.want {
			t.Errorf("pruned %s later: %d attempts left, want %d", c.later, n, c.want)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	w := start(t, true)
	for name, opt := range map[string]deliver.Option{
		"nil clock":         deliver.WithClock(nil),
		"nil schedule":      deliver.WithRetrySchedule(nil),
		"no failure period": deliver.WithFailurePeriod(0),
		"short lease":       deliver.WithLease(time.Millisecond),
		"no poll":           deliver.WithPoll(0),
		"no endpoints":      deliver.WithMaxEndpoints(0),
		"empty owner":       deliver.WithOwner(""),
		"negative timeout":  deliver.WithSending(deliver.Sending{Timeout: -time.Second}),
	} {
		if _, err := deliver.New(w.WebhookStore, w.Store, w.keys, opt); !errors.Is(err, deliver.ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := deliver.New(nil, w.Store, w.keys); !errors.Is(err, deliver.ErrInvalidOption) {
		t.Errorf("no store: %v", err)
	}
}

// TestRestartResumes stops a node while a delivery is in flight, with a
// backlog behind it, and starts it again on the same data: the leases
// were given back and what was delivered recorded, so it goes on at
// once from where it stopped, in order, sending again only the message
// that was in flight.
func TestRestartResumes(t *testing.T) {
	t.Parallel()
	cfg := testnode.Config(t, "")
	cfg.WebhooksAllowPrivate = true
	// A lease that outlives the test: only a release lets the restarted
	// node deliver.
	opts := []node.Option{fastDelivery(deliver.WithLease(time.Hour))}
	w := startConfig(t, cfg, opts...)
	w.tenant(t, "acme")
	r := newReceiver(t)
	const inFlight = 30
	r.hold = func(n int) bool { return n == inFlight }
	id, secret := w.endpoint(t, "acme", r.URL, "client.*")
	created := w.endpointState(t, "acme", id).Delivery.Cursor
	w.clients(t, "acme", 60)
	poll.Until(t, 20*time.Second, "the delivery held in flight", func() bool { return len(r.all()) >= inFlight })
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	w = startConfig(t, cfg, opts...)
	want := w.events(t, "acme", created, "client.*")
	poll.Until(t, 20*time.Second, "every event delivered", func() bool {
		seen := map[string]bool{}
		for _, g := range r.all() {
			seen[g.Event.ID] = true
		}
		return len(seen) == len(want)
	})
	got := r.all()
	inOrder(t, got, ids(want))
	if again := len(got) - len(want); again != 1 {
		t.Errorf("%d messages sent again after a clean restart, want the one in flight", again)
	}
	for _, g := range got {
		if err := verify(t, secret, g); err != nil {
			t.Error(err)
		}
	}
}
