package projectiontest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/projections"
)

var idSeq atomic.Int64

// newID returns an event id unique within the test binary.
func newID() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", idSeq.Add(1)) }

// world writes realistic history into an event store: every event comes
// from a domain command run by aggregate.Execute, as the API would run it.
type world struct {
	t       testing.TB
	store   eventstore.Store
	now     time.Time
	last    eventstore.Position
	tenants []string
	clients []eventstore.StreamID
}

func newWorld(t testing.TB, s eventstore.Store) *world {
	return &world{t: t, store: s, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

// tick is the clock of the next command: a second later each time.
func (w *world) tick() time.Time {
	w.now = w.now.Add(time.Second)
	return w.now
}

func (w *world) meta() eventstore.Metadata {
	return eventstore.Metadata{Actor: "root", CorrelationID: "req-" + newID(), OccurredAt: w.now}
}

func (w *world) done(res aggregate.Result, err error, what string) aggregate.Result {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
	if w.last.Less(res.Position) {
		w.last = res.Position
	}
	return res
}

func tenantStream(slug string) eventstore.StreamID {
	return eventstore.StreamID{Tenant: slug, Type: "tenant", ID: slug}
}

func clientStream(tenant, id string) eventstore.StreamID {
	return eventstore.StreamID{Tenant: tenant, Type: "client", ID: id}
}

// onTenant runs a tenant command.
func (w *world) onTenant(slug string, decide func(*tenant.Tenant, time.Time) ([]domain.Event, error)) aggregate.Result {
	w.t.Helper()
	now := w.tick()
	res, err := aggregate.Execute(w.t.Context(), w.store, aggregate.Command[*tenant.Tenant]{
		Stream: tenantStream(slug), Decode: tenant.Decode, Replay: tenant.Replay,
		Decide: func(t *tenant.Tenant) ([]domain.Event, error) { return decide(t, now) },
		Meta:   w.meta(), NewID: newID,
	})
	return w.done(res, err, "tenant command on "+slug)
}

// createTenant creates a tenant.
func (w *world) createTenant(slug, name string) aggregate.Result {
	w.t.Helper()
	w.tenants = append(w.tenants, slug)
	return w.onTenant(slug, func(_ *tenant.Tenant, now time.Time) ([]domain.Event, error) {
		return tenant.Create(slug, name, testKey(slug+"-k1"), now)
	})
}

// setLoginURL sets (or, with "", clears) a tenant's login URL.
func (w *world) setLoginURL(slug, loginURL string) aggregate.Result {
	w.t.Helper()
	return w.onTenant(slug, func(t *tenant.Tenant, now time.Time) ([]domain.Event, error) { return t.SetLoginURL(loginURL, now) })
}

// testKey is a signing key as the domain sees one: a public JWK and an
// opaque sealed private key (which the read model only carries).
func testKey(kid string) tenant.NewKey {
	return tenant.NewKey{KID: kid, Alg: tenant.AlgES256, Sealed: "v1.test." + kid,
		PublicJWK: json.RawMessage(`{"kty":"EC","crv":"P-256","kid":"` + kid + `","alg":"ES256","use":"sig",` +
			`"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`)}
}

// testAuditKey is a new audit key of tenant slug as the domain sees one:
// a real verifier key and an opaque sealed signer key.
func testAuditKey(slug string) tenant.NewAuditKey {
	name := "localhost/t/" + slug + "/audit"
	_, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		panic(fmt.Sprintf("generate audit key: %v", err))
	}
	return tenant.NewAuditKey{Name: name, Verifier: vkey, Sealed: "v1.test.audit." + vkey}
}

// onClient runs a client command.
func (w *world) onClient(tenantSlug, id string, decide func(*client.Client, time.Time) ([]domain.Event, error)) aggregate.Result {
	w.t.Helper()
	now := w.tick()
	res, err := aggregate.Execute(w.t.Context(), w.store, aggregate.Command[*client.Client]{
		Stream: clientStream(tenantSlug, id), Decode: client.Decode, Replay: client.Replay,
		Decide: func(c *client.Client) ([]domain.Event, error) { return decide(c, now) },
		Meta:   w.meta(), NewID: newID,
	})
	return w.done(res, err, "client command on "+tenantSlug+"/"+id)
}

// settings returns valid settings of a client type.
func settings(typ client.Type, name, code string) client.Settings {
	s := client.DefaultSettings(typ)
	s.ClientName, s.Code = name, code
	s.DefaultScopes = []string{scope.OpenID}
	if typ != client.TypeM2M {
		s.RedirectURIs = []string{"https://app.example.com/cb"}
	}
	return s
}

// register registers a client with settings s, and an initial secret
// unless it is public.
func (w *world) register(tenantSlug, id string, s client.Settings) aggregate.Result {
	w.t.Helper()
	w.clients = append(w.clients, clientStream(tenantSlug, id))
	return w.onClient(tenantSlug, id, func(_ *client.Client, now time.Time) ([]domain.Event, error) {
		var initial *client.Secret
		if s.Type != client.TypePublic {
			initial = &client.Secret{ID: "s1", Hash: "sha256$" + id + "-s1"}
		}
		return client.Register(id, s, scope.NewCatalogue(), initial, now)
	})
}

// clone registers newID as a clone of the client id.
func (w *world) clone(tenantSlug, id, newID_, name, code string) aggregate.Result {
	w.t.Helper()
	ctx := w.t.Context()
	history, _, err := aggregate.Load(ctx, w.store, clientStream(tenantSlug, id), client.Decode)
	if err != nil {
		w.t.Fatal(err)
	}
	src, err := client.Replay(history)
	if err != nil {
		w.t.Fatal(err)
	}
	events, err := src.Clone(newID_, name, code, "salt-of-"+newID_, scope.NewCatalogue(), &client.Secret{ID: "s1", Hash: "sha256$clone"}, w.tick())
	if err != nil {
		w.t.Fatalf("clone %s: %v", id, err)
	}
	envelopes, claims, err := aggregate.Envelopes(events, w.meta(), newID)
	if err != nil {
		w.t.Fatal(err)
	}
	pos, err := w.store.Append(ctx, clientStream(tenantSlug, newID_), eventstore.NoStream, envelopes, claims...)
	w.clients = append(w.clients, clientStream(tenantSlug, newID_))
	return w.done(aggregate.Result{Events: envelopes, Version: 1, Position: pos}, err, "clone "+id)
}

// rich writes a history with every kind of event: tenants created,
// renamed, suspended and resumed, their login URL set, changed and
// cleared, their signing and audit keys rotated; clients of every type registered,
// updated, cloned, with secrets added, rotated and revoked, deactivated,
// activated and deleted.
func (w *world) rich() {
	w.t.Helper()
	w.createTenant("acme", "Acme")
	w.createTenant("globex", "Globex")
	w.onTenant("acme", func(t *tenant.Tenant, now time.Time) ([]domain.Event, error) { return t.Rename("Acme Corp", now) })
	w.onTenant("globex", func(t *tenant.Tenant, now time.Time) ([]domain.Event, error) { return t.Suspend("unpaid", now) })
	w.onTenant("globex", func(t *tenant.Tenant, now time.Time) ([]domain.Event, error) { return t.Resume(now) })
	w.onTenant("globex", func(t *tenant.Tenant, now time.Time) ([]domain.Event, error) { return t.Suspend("audit", now) })
	w.setLoginURL("acme", "https://login.acme.example/signin")
	w.setLoginURL("globex", "http://localhost:3000/login")
	w.setLoginURL("globex", "")
	w.onTenant("acme", func(t *tenant.Tenant, now time.Time) ([]domain.Event, error) {
		return t.RotateKey(testKey("acme-k2"), 5*time.Minute, 24*time.Hour, now)
	})
	w.onTenant("acme", func(t *tenant.Tenant, now time.Time) ([]domain.Event, error) {
		return t.RotateKey(testKey("acme-k3"), 0, time.Hour, now)
	})
	for _, slug := range []string{"acme", "globex", "acme"} {
		w.onTenant(slug, func(t *tenant.Tenant, now time.Time) ([]domain.Event, error) {
			return t.AddAuditKey(testAuditKey(slug), now)
		})
	}

	orders := settings(client.TypeConfidential, "Orders API", "urn:acme/orders")
	orders.APIScopes = []string{"read", "write"}
	orders.Metadata = map[string]string{"team": "orders"}
	w.register("acme", "orders", orders)
	w.register("acme", "spa", settings(client.TypePublic, "Shop SPA", "urn:acme/spa"))
	w.register("acme", "batch", settings(client.TypeM2M, "Nightly batch", "urn:acme/batch"))
	w.register("globex", "portal", settings(client.TypeConfidential, "Portal", "urn:globex/portal"))

	w.onClient("acme", "orders", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		name, desc := "Orders API v2", "Takes orders"
		return c.Update(client.Patch{ClientName: &name, Description: &desc}, scope.NewCatalogue(), now)
	})
	w.onClient("acme", "orders", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		exp := now.Add(72 * time.Hour)
		return c.AddSecret(client.Secret{ID: "s2", Hash: "sha256$orders-s2", ExpiresAt: &exp, Description: "ci"}, now)
	})
	w.onClient("acme", "orders", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		return c.RotateSecret(client.Secret{ID: "s3", Hash: "sha256$orders-s3"}, time.Hour, now)
	})
	w.onClient("acme", "orders", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		return c.RevokeSecret("s1", now)
	})
	w.onClient("acme", "batch", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		return c.Deactivate("compromised", now)
	})
	w.onClient("acme", "spa", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		return c.Deactivate("", now)
	})
	w.onClient("acme", "spa", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		return c.Activate(now)
	})
	w.clone("acme", "orders", "orders-eu", "Orders API (EU)", "urn:acme/orders-eu")
	w.register("acme", "legacy", settings(client.TypeConfidential, "Legacy", "urn:acme/legacy"))
	w.onClient("acme", "legacy", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		// Turning it public revokes its secrets in the same command.
		typ, auth := client.TypePublic, client.AuthNone
		return c.Update(client.Patch{Type: &typ, TokenEndpointAuthMethod: &auth}, scope.NewCatalogue(), now)
	})
	w.onClient("acme", "legacy", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		return c.Delete(now)
	})
	w.onClient("globex", "portal", func(c *client.Client, now time.Time) ([]domain.Event, error) {
		code := "urn:globex/portal-2"
		return c.Update(client.Patch{Code: &code}, scope.NewCatalogue(), now)
	})
}

// settle waits until the store shows readers every event written so far.
// PostgreSQL shows an event only once every transaction that started
// before it has ended, in any test.
func (w *world) settle() {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		head, err := w.store.Head(w.t.Context())
		if err != nil {
			w.t.Fatalf("read head: %v", err)
		}
		if !head.Less(w.last) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("head stayed at %s, below %s", head, w.last)
		}
		time.Sleep(time.Millisecond)
	}
}

// events returns every event of the store, in order.
func (w *world) events() []eventstore.Event {
	w.t.Helper()
	w.settle()
	var all []eventstore.Event
	var after eventstore.Position
	for {
		page, err := w.store.ReadAll(w.t.Context(), after, 100)
		if err != nil {
			w.t.Fatalf("read all after %s: %v", after, err)
		}
		all = append(all, page...)
		if len(page) < 100 {
			return all
		}
		after = page[len(page)-1].Position
	}
}

// model is a whole read model: every tenant and every live client.
type model struct {
	Tenants map[string]projections.TenantView
	Clients map[string]projections.ClientView
}

// want returns the model the store's history gives: each aggregate
// replayed by the domain, each client as NewClientView shows it.
func (w *world) want() model {
	w.t.Helper()
	ctx := w.t.Context()
	m := model{Tenants: map[string]projections.TenantView{}, Clients: map[string]projections.ClientView{}}
	for _, slug := range w.tenants {
		history, _, err := aggregate.Load(ctx, w.store, tenantStream(slug), tenant.Decode)
		if err != nil {
			w.t.Fatal(err)
		}
		a, err := tenant.Replay(history)
		if err != nil {
			w.t.Fatal(err)
		}
		m.Tenants[slug] = projections.NewTenantView(a)
	}
	for _, st := range w.clients {
		history, _, err := aggregate.Load(ctx, w.store, st, client.Decode)
		if err != nil {
			w.t.Fatal(err)
		}
		a, err := client.Replay(history)
		if err != nil {
			w.t.Fatal(err)
		}
		if !a.Deleted() {
			m.Clients[st.ID] = projections.NewClientView(st.Tenant, a)
		}
	}
	return m
}

// read returns the whole read model, walking every page of Tenants and,
// for every tenant the world knows, of Clients.
func (w *world) read(rm projections.ReadModel) model {
	w.t.Helper()
	ctx := w.t.Context()
	m := model{Tenants: map[string]projections.TenantView{}, Clients: map[string]projections.ClientView{}}
	after := ""
	for {
		page, err := rm.Tenants(ctx, after, 2)
		if err != nil {
			w.t.Fatalf("list tenants after %q: %v", after, err)
		}
		for _, v := range page {
			if _, dup := m.Tenants[v.Slug]; dup {
				w.t.Fatalf("tenant %s listed twice", v.Slug)
			}
			m.Tenants[v.Slug] = v
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].Slug
	}
	for _, slug := range w.tenants {
		for _, v := range walk(w.t, rm, slug, projections.ClientFilter{Limit: 3}) {
			if _, dup := m.Clients[v.ClientID]; dup {
				w.t.Fatalf("client %s listed twice", v.ClientID)
			}
			m.Clients[v.ClientID] = v
		}
	}
	return m
}

// walk returns every client of tenant that f selects, following the
// cursors page by page, and checks the pages' order and size, that no
// client comes twice, and that ClientSummaries gives the same pages.
func walk(t testing.TB, rm projections.ReadModel, tenant string, f projections.ClientFilter) []projections.ClientView {
	t.Helper()
	var all []projections.ClientView
	for pages := 0; ; pages++ {
		page, next, err := rm.Clients(t.Context(), tenant, f)
		if err != nil {
			t.Fatalf("list clients of %s with %+v: %v", tenant, f, err)
		}
		// The summaries of the same page are those of its views.
		sums, sumNext, err := rm.ClientSummaries(t.Context(), tenant, f)
		if err != nil {
			t.Fatalf("list client summaries of %s with %+v: %v", tenant, f, err)
		}
		if sumNext != next || len(sums) != len(page) {
			t.Fatalf("summaries of %s with %+v: %d and cursor %q, the views %d and %q", tenant, f, len(sums), sumNext, len(page), next)
		}
		for i, v := range page {
			if sums[i] != v.Summary() {
				t.Fatalf("summary of client %s:\ngot  %+v\nwant %+v", v.ClientID, sums[i], v.Summary())
			}
		}
		if len(page) > f.Limit {
			t.Fatalf("page of %d clients, limit %d", len(page), f.Limit)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		if len(page) != f.Limit {
			t.Fatalf("page of %d (limit %d) has cursor %q", len(page), f.Limit, next)
		}
		last := page[len(page)-1].ClientID
		if byID := f.Sort == "" || f.Sort == projections.SortClientID; byID != (next == last) {
			t.Fatalf("%s order: page ending with %q has cursor %q", clientOrderName(f), last, next)
		}
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		f.After = next
	}
	if !slices.IsSortedFunc(all, clientOrder(f)) {
		t.Fatalf("clients of %s are not in %s order", tenant, clientOrderName(f))
	}
	seen := map[string]bool{}
	for _, v := range all {
		if seen[v.ClientID] {
			t.Fatalf("client %s of %s comes twice in %s order", v.ClientID, tenant, clientOrderName(f))
		}
		seen[v.ClientID] = true
	}
	return all
}

// clientOrder compares clients in f's order, as the read model's
// contract defines it: the sort key, then client_id, both reversed when
// descending; names compare lowercase, strings byte by byte.
func clientOrder(f projections.ClientFilter) func(a, b projections.ClientView) int {
	return func(a, b projections.ClientView) int {
		c := 0
		switch f.Sort {
		case projections.SortName:
			c = compareStrings(strings.ToLower(a.Settings.ClientName), strings.ToLower(b.Settings.ClientName))
		case projections.SortCreated:
			c = a.CreatedAt.Compare(b.CreatedAt)
		case projections.SortUpdated:
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		}
		if c == 0 {
			c = compareStrings(a.ClientID, b.ClientID)
		}
		if f.Desc {
			c = -c
		}
		return c
	}
}

// clientOrderName names f's order in messages.
func clientOrderName(f projections.ClientFilter) string {
	name := string(f.Sort)
	if name == "" {
		name = string(projections.SortClientID)
	}
	if f.Desc {
		name += " descending"
	}
	return name
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// projector returns a Projector of backend over store, logging to the
// test's output.
func projector(t testing.TB, b projections.Backend, s eventstore.Store, opts ...projections.Option) *projections.Projector {
	t.Helper()
	p, err := projections.NewProjector(b, s, logger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkpoint(t testing.TB, rm projections.ReadModel) eventstore.Position {
	t.Helper()
	cp, err := rm.Checkpoint(t.Context(), projections.Name)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func isNotFound(err error) bool { return errors.Is(err, projections.ErrNotFound) }

// apply feeds events to p in batches of size, as NATS would.
func apply(t testing.TB, ctx context.Context, p *projections.Projector, events []eventstore.Event, size int) {
	t.Helper()
	for from := 0; from < len(events); from += size {
		if err := p.Apply(ctx, events[from:min(from+size, len(events))]); err != nil {
			t.Fatalf("apply events %d..: %v", from, err)
		}
	}
}
