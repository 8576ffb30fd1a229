package tenants_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/tenants"
	"github.com/clavisiam/clavis/tenants/signing"
)

var dbURL string

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &dbURL)) }

// backends opens a fresh, empty store of each kind, as a node opens it.
var backends = []struct {
	name string
	open func(t *testing.T) eventstore.Store
}{
	{"sqlite", func(t *testing.T) eventstore.Store { return testnode.Store(t, "") }},
	{"postgres", func(t *testing.T) eventstore.Store { return testnode.Store(t, dbURL) }},
}

// clock is a test clock that starts at a fixed instant and moves only
// when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// recorder passes every call to the real store and remembers the
// position of the last append, so that tests can wait until readers see
// it: on PostgreSQL, an in-flight transaction anywhere in the cluster
// holds back what ReadAll, ReadTenant and Head show.
type recorder struct {
	eventstore.Store
	mu   sync.Mutex
	last eventstore.Position
}

func (r *recorder) Append(ctx context.Context, stream eventstore.StreamID, expected int64, events []eventstore.Event, claims ...eventstore.Claim) (eventstore.Position, error) {
	p, err := r.Store.Append(ctx, stream, expected, events, claims...)
	if err == nil {
		r.mu.Lock()
		if r.last.Less(p) {
			r.last = p
		}
		r.mu.Unlock()
	}
	return p, err
}

// SaveSnapshot and LatestSnapshot pass to the real store's snapshots.
func (r *recorder) SaveSnapshot(ctx context.Context, s eventstore.Snapshot) error {
	return r.Store.(eventstore.Snapshots).SaveSnapshot(ctx, s)
}

func (r *recorder) LatestSnapshot(ctx context.Context, stream eventstore.StreamID, usable func(eventstore.Snapshot) bool) (eventstore.Snapshot, bool, error) {
	return r.Store.(eventstore.Snapshots).LatestSnapshot(ctx, stream, usable)
}

func (r *recorder) lastAppended() eventstore.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// env is one store with the services over it.
type env struct {
	rec     *recorder
	store   eventstore.Store
	clock   *clock
	tenants *tenants.Tenants
	clients *tenants.Clients
	keys    *signing.Keyring
}

// eventTypes lists the types of events, for failure messages.
func eventTypes(events []eventstore.Event) []string {
	types := make([]string, len(events))
	for i, e := range events {
		types[i] = e.Type
	}
	return types
}

// counter makes deterministic ids with a prefix.
func counter(prefix string) func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("%s%d", prefix, n.Add(1)) }
}

func newEnv(t *testing.T, real eventstore.Store) *env {
	t.Helper()
	rec := &recorder{Store: real}
	var store eventstore.Store = rec
	clk := newClock()
	opts := []tenants.Option{
		tenants.WithClock(clk.Now),
		tenants.WithEventIDs(counter("evt-")),
		tenants.WithClientIDs(counter("cli-")),
	}
	keys := testnode.Keyring(t)
	ts, err := tenants.NewTenants(store, keys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := tenants.NewClients(store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{rec: rec, store: store, clock: clk, tenants: ts, clients: cs, keys: keys}
}

// forEachStore runs f on a fresh environment of each backend.
func forEachStore(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, newEnv(t, b.open(t)))
		})
	}
}

var req = tenants.Request{Actor: "root", CorrelationID: "corr-1", CausationID: "req-1", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}

// createTenant creates a tenant and returns its admin client's secret.
func (e *env) createTenant(t *testing.T, slug string) tenants.CreatedTenant {
	t.Helper()
	out, err := e.tenants.Create(t.Context(), req, slug, strings.ToUpper(slug[:1])+slug[1:])
	if err != nil {
		t.Fatalf("create tenant %s: %v", slug, err)
	}
	return out
}

// head is the store's head once readers see every event the test
// appended (it polls, with a deadline): unchanged when nothing was
// appended since.
func (e *env) head(t *testing.T) eventstore.Position {
	t.Helper()
	want := e.rec.lastAppended()
	var p eventstore.Position
	poll.UntilNil(t, 20*time.Second, func() error {
		var err error
		if p, err = e.store.Head(t.Context()); err != nil {
			t.Fatal(err)
		}
		if p.Less(want) {
			return fmt.Errorf("readers do not see position %v yet (head %v)", want, p)
		}
		return nil
	})
	return p
}

// settle waits until readers see every event the test appended, so that
// scans of the store (export, import) see them too.
func (e *env) settle(t *testing.T) { t.Helper(); e.head(t) }

// unchanged fails the test when anything was appended since the head was
// before. (On PostgreSQL an append held back by a concurrent transaction
// could hide for a moment; the same tests on SQLite, which has no such
// lag, catch it for sure.)
func (e *env) unchanged(t *testing.T, before eventstore.Position) {
	t.Helper()
	if last := e.rec.lastAppended(); before.Less(last) {
		t.Errorf("the store changed: an append returned %v after head %v", last, before)
	}
	if after := e.head(t); after != before {
		t.Errorf("the store changed: head %v, was %v", after, before)
	}
}

// loadClient replays a client from its stream: the truth, with no read
// model in between.
func (e *env) loadClient(t *testing.T, tenantSlug, id string) *client.Client {
	t.Helper()
	history, _, err := aggregate.Load(t.Context(), e.store, tenants.ClientStream(tenantSlug, id), client.Decode)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Replay(history)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) loadTenant(t *testing.T, slug string) *tenant.Tenant {
	t.Helper()
	history, _, err := aggregate.Load(t.Context(), e.store, tenants.TenantStream(slug), tenant.Decode)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := tenant.Replay(history)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// events reads every event of the store.
func (e *env) events(t *testing.T) []eventstore.Event {
	t.Helper()
	e.settle(t)
	var all []eventstore.Event
	var after eventstore.Position
	for {
		page, err := e.store.ReadAll(context.Background(), after, eventstore.MaxRead)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < eventstore.MaxRead {
			return all
		}
		after = page[len(page)-1].Position
	}
}

// wantProblem fails unless err is a validation error naming field with code.
func wantProblem(t *testing.T, err error, field, code string) {
	t.Helper()
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a validation error with %s/%s", err, field, code)
	}
	for _, f := range ve.Fields {
		if f.Field == field && f.Code == code {
			return
		}
	}
	t.Fatalf("want problem %s/%s, got %v", field, code, err)
}

// webApp is a valid confidential client with a redirect URI.
func webApp(code string) client.Settings {
	s := client.DefaultSettings(client.TypeConfidential)
	s.ClientName = "Web " + code
	s.Code = code
	s.RedirectURIs = []string{"https://app.example.com/callback"}
	s.DefaultScopes = []string{"openid", "profile"}
	return s
}

// spa is a valid public client.
func spa(code string) client.Settings {
	s := client.DefaultSettings(client.TypePublic)
	s.ClientName = "SPA " + code
	s.Code = code
	s.RedirectURIs = []string{"https://spa.example.com/callback"}
	s.AllowedCORSOrigins = []string{"https://spa.example.com"}
	return s
}

func ptr[T any](v T) *T { return &v }

// changeLongStream makes the i-th change (i ≥ 2) of a long client
// stream: a secret rotated at every 50th of a hundred and revoked right
// after, a deactivation and a reactivation every ten, a rename
// otherwise. last is the result of the change before.
func changeLongStream(ctx context.Context, cs *tenants.Clients, id string, i int, last tenants.ClientResult) (tenants.ClientResult, error) {
	switch {
	case i%100 == 50:
		return cs.RotateSecret(ctx, req, "acme", id, time.Minute)
	case i%100 == 51:
		return cs.RevokeSecret(ctx, req, "acme", id, last.Client.Secrets[0].ID)
	case i%10 == 5:
		return cs.Deactivate(ctx, req, "acme", id, "paused")
	case i%10 == 6:
		return cs.Activate(ctx, req, "acme", id)
	default:
		return cs.Update(ctx, req, "acme", id, client.Patch{ClientName: ptr(fmt.Sprintf("Web %d", i))}, 0)
	}
}
