package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
)

// history records a stream's events as a command sequence produced them,
// in envelopes like the store's.
type history struct {
	t      *testing.T
	stream eventstore.StreamID
	events []domain.Event
	stored []eventstore.Event
	pos    *int64
}

func (h *history) add(events []domain.Event, err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatalf("command on %s: %v", h.stream, err)
	}
	if len(events) == 0 {
		h.t.Fatalf("command on %s decided nothing", h.stream)
	}
	for _, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			h.t.Fatal(err)
		}
		*h.pos++
		h.events = append(h.events, e)
		h.stored = append(h.stored, eventstore.Event{
			ID: fmt.Sprintf("e%d", *h.pos), Stream: h.stream, Version: int64(len(h.events)),
			Type: e.EventType(), Schema: e.SchemaVersion(), Data: data,
			Position:   eventstore.Position{Commit: uint64(*h.pos), Seq: *h.pos},
			RecordedAt: time.Unix(*h.pos, 0).UTC(),
		})
	}
}

func (h *history) client() *client.Client {
	h.t.Helper()
	c, err := client.Replay(h.events)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// clock returns a time one minute later on every call.
func clock() func() time.Time {
	now := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))
	return func() time.Time { now = now.Add(time.Minute); return now }
}

var cat = scope.NewCatalogue(scope.Resource{Code: "urn:acme/orders", Scopes: []string{"read", "write"}})

// richClient runs every kind of client command against one client:
// register with a secret, update, add, rotate and revoke secrets,
// deactivate, activate, and a type change that revokes every secret.
func richClient(t *testing.T, pos *int64, now func() time.Time) *history {
	h := &history{t: t, stream: eventstore.StreamID{Tenant: "acme", Type: streamClient, ID: "c1"}, pos: pos}
	s := client.DefaultSettings(client.TypeConfidential)
	s.ClientName, s.Code = "Orders Web", "urn:acme/orders-web"
	s.RedirectURIs = []string{"https://app.example.com/cb"}
	s.DefaultScopes = []string{"openid"}
	s.OptionalScopes = []string{"profile", "urn:acme/orders:read"}
	s.APIScopes = []string{"admin"}
	s.Metadata = map[string]string{"team": "orders"}
	s.JWKSURI = "https://app.example.com/jwks.json"
	h.add(client.Register("c1", s, cat, &client.Secret{ID: "s1", Hash: "sha256$s1", Description: "first"}, now()))
	name, desc := "Orders Web App", "The shop front"
	h.add(h.client().Update(client.Patch{ClientName: &name, Description: &desc}, cat, now()))
	exp := now().Add(48 * time.Hour)
	h.add(h.client().AddSecret(client.Secret{ID: "s2", Hash: "sha256$s2", ExpiresAt: &exp}, now()))
	h.add(h.client().RotateSecret(client.Secret{ID: "s3", Hash: "sha256$s3"}, time.Hour, now()))
	h.add(h.client().RevokeSecret("s1", now()))
	h.add(h.client().Deactivate("maintenance window", now()))
	h.add(h.client().Activate(now()))
	h.add(h.client().Deactivate("", now()))
	h.add(h.client().Activate(now()))
	empty := map[string]string{}
	h.add(h.client().Update(client.Patch{Metadata: &empty, APIScopes: &[]string{"read", "write"}}, cat, now()))
	typ, auth := client.TypePublic, client.AuthNone
	h.add(h.client().Update(client.Patch{Type: &typ, TokenEndpointAuthMethod: &auth}, cat, now()))
	return h
}

func decodeOK(t *testing.T, events []eventstore.Event) []decoded {
	t.Helper()
	out := make([]decoded, len(events))
	for i, e := range events {
		out[i] = decode(e)
		if out[i].err != nil {
			t.Fatalf("decode %s: %v", e.Type, out[i].err)
		}
	}
	return out
}

// memory is an in-memory Loader for the fold alone: it holds the views a
// previous batch wrote, round-tripped through JSON as the databases keep
// them, the used secret ids beside the document.
type memory struct {
	tenants    map[string]TenantView
	clients    map[string][]byte
	used       map[string][]string
	tombstones map[string]ClientRef
}

func newMemory() *memory {
	return &memory{tenants: map[string]TenantView{}, clients: map[string][]byte{}, used: map[string][]string{},
		tombstones: map[string]ClientRef{}}
}

func (m *memory) Tenants(_ context.Context, slugs []string) ([]TenantView, error) {
	var out []TenantView
	for _, s := range slugs {
		if v, ok := m.tenants[s]; ok {
			out = append(out, v)
		}
	}
	return out, nil
}

func (m *memory) Clients(_ context.Context, ids []string) ([]ClientView, error) {
	var out []ClientView
	for _, id := range ids {
		if doc, ok := m.clients[id]; ok {
			var v ClientView
			if err := json.Unmarshal(doc, &v); err != nil {
				return nil, err
			}
			v.UsedSecretIDs = m.used[id]
			out = append(out, v)
		}
		if r, ok := m.tombstones[id]; ok {
			out = append(out, ClientView{Tenant: r.Tenant, ClientID: r.ClientID, Version: r.Version, Deleted: true})
		}
	}
	return out, nil
}

func (m *memory) write(t *testing.T, c *Changes) {
	t.Helper()
	for _, v := range c.Tenants {
		m.tenants[v.Slug] = v
	}
	for _, v := range c.Clients {
		doc, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		m.clients[v.ClientID] = doc
		m.used[v.ClientID] = v.UsedSecretIDs
	}
	for _, r := range c.Deleted {
		delete(m.clients, r.ClientID)
		m.tombstones[r.ClientID] = r
	}
}

func (m *memory) client(t *testing.T, id string) (ClientView, bool) {
	t.Helper()
	views, err := m.Clients(t.Context(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	if len(views) == 0 || views[0].Deleted {
		return ClientView{}, false
	}
	return views[0], true
}

func describe(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestFoldEqualsReplayedAggregate(t *testing.T) {
	var pos int64
	h := richClient(t, &pos, clock())
	want := NewClientView("acme", h.client())
	if len(want.Secrets) != 0 || want.Settings.Type != client.TypePublic || want.Version != int64(len(h.events)) {
		t.Fatalf("the history does not end where the test expects: %s", describe(want))
	}

	for _, size := range []int{1, 2, 3, len(h.stored)} {
		t.Run(fmt.Sprintf("batches of %d", size), func(t *testing.T) {
			m := newMemory()
			for from := 0; from < len(h.stored); from += size {
				batch := h.stored[from:min(from+size, len(h.stored))]
				c, err := foldEvents(t.Context(), m, decodeOK(t, batch))
				if err != nil {
					t.Fatalf("fold events %d..: %v", from, err)
				}
				if len(c.Clients) != 1 || len(c.Deleted) != 0 {
					t.Fatalf("batch wrote %d clients and deleted %d, want one written", len(c.Clients), len(c.Deleted))
				}
				m.write(t, c)
				// After every batch the view is that of the aggregate at
				// the same version.
				mid, err := client.Replay(h.events[:from+len(batch)])
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := m.client(t, "c1"); !reflect.DeepEqual(got, NewClientView("acme", mid)) {
					t.Fatalf("after %d events\ngot  %s\nwant %s", from+len(batch), describe(got), describe(NewClientView("acme", mid)))
				}
			}
		})
	}
}

func TestFoldSecretsRotateAndRevoke(t *testing.T) {
	var pos int64
	h := richClient(t, &pos, clock())
	// Stop before the type change, which revokes every secret.
	events := h.stored[:len(h.stored)-3]
	c, err := foldEvents(t.Context(), newMemory(), decodeOK(t, events))
	if err != nil {
		t.Fatal(err)
	}
	mid, err := client.Replay(h.events[:len(events)])
	if err != nil {
		t.Fatal(err)
	}
	got := c.Clients[0]
	if !reflect.DeepEqual(got, NewClientView("acme", mid)) {
		t.Fatalf("got  %s\nwant %s", describe(got), describe(NewClientView("acme", mid)))
	}
	var ids []string
	for _, s := range got.Secrets {
		ids = append(ids, s.ID)
		if s.ID == "s2" && s.ExpiresAt == nil {
			t.Error("rotation did not expire s2")
		}
	}
	if !reflect.DeepEqual(ids, []string{"s2", "s3"}) {
		t.Errorf("secrets %v, want [s2 s3]", ids)
	}
}

func TestFoldDeleteRemovesView(t *testing.T) {
	var pos int64
	now := clock()
	h := richClient(t, &pos, now)
	m := newMemory()
	c, err := foldEvents(t.Context(), m, decodeOK(t, h.stored))
	if err != nil {
		t.Fatal(err)
	}
	m.write(t, c)
	h.add(h.client().Delete(now()))
	c, err = foldEvents(t.Context(), m, decodeOK(t, h.stored[len(h.stored)-1:]))
	if err != nil {
		t.Fatal(err)
	}
	tomb := ClientRef{Tenant: "acme", ClientID: "c1", Version: int64(len(h.stored))}
	if len(c.Clients) != 0 || !reflect.DeepEqual(c.Deleted, []ClientRef{tomb}) {
		t.Fatalf("delete wrote %v and deleted %v", c.Clients, c.Deleted)
	}
	m.write(t, c)
	if v, ok := m.client(t, "c1"); ok {
		t.Fatalf("the deleted client's view is still there: %s", describe(v))
	}

	// Registered and deleted in one batch: no view to write, only the
	// tombstone.
	var pos2 int64
	h2 := richClient(t, &pos2, clock())
	h2.add(h2.client().Delete(now()))
	c, err = foldEvents(t.Context(), newMemory(), decodeOK(t, h2.stored))
	if err != nil {
		t.Fatal(err)
	}
	tomb.Version = int64(len(h2.stored))
	if len(c.Clients) != 0 || !reflect.DeepEqual(c.Deleted, []ClientRef{tomb}) {
		t.Fatalf("register and delete in one batch wrote %v and deleted %v", c.Clients, c.Deleted)
	}
}

func TestFoldTenantEqualsReplayedAggregate(t *testing.T) {
	var pos int64
	now := clock()
	h := &history{t: t, stream: eventstore.StreamID{Tenant: "acme", Type: streamTenant, ID: "acme"}, pos: &pos}
	tn := func() *tenant.Tenant {
		a, err := tenant.Replay(h.events)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	key := func(kid string) tenant.NewKey {
		return tenant.NewKey{KID: kid, Alg: tenant.AlgEdDSA, Sealed: "sealed-" + kid,
			PublicJWK: json.RawMessage(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"` + kid + `"}`)}
	}
	h.add(tenant.Create("acme", "Acme", key("k1"), now()))
	h.add(tn().Rename("Acme Corp", now()))
	h.add(tn().RotateKey(key("k2"), time.Minute, time.Hour, now()))
	h.add(tn().SetLoginURL("https://login.acme.example/", now()))
	h.add(tn().Suspend("unpaid", now()))
	c, err := foldEvents(t.Context(), newMemory(), decodeOK(t, h.stored))
	if err != nil {
		t.Fatal(err)
	}
	a := tn()
	want := TenantView{Slug: a.Slug(), Name: a.Name(), Suspended: a.Suspended(), SuspensionReason: a.SuspensionReason(),
		LoginURL: a.LoginURL(), Version: a.Version(), CreatedAt: a.CreatedAt(), UpdatedAt: a.UpdatedAt(), Keys: a.Keys()}
	if want.LoginURL != "https://login.acme.example/" {
		t.Fatalf("the history does not set a login URL: %+v", want)
	}
	if len(c.Tenants) != 1 || !reflect.DeepEqual(c.Tenants[0], want) {
		t.Fatalf("got %+v, want %+v", c.Tenants, want)
	}
	h.add(a.Resume(now()))
	c, err = foldEvents(t.Context(), newMemory(), decodeOK(t, h.stored))
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Tenants[0]; v.Suspended || v.SuspensionReason != "" || v.LoginURL != "https://login.acme.example/" || v.Version != 8 {
		t.Fatalf("after resume: %+v", v)
	}
}

func TestFoldRefusesWhatCannotFollow(t *testing.T) {
	var pos int64
	now := clock()
	h := richClient(t, &pos, now)
	registered := h.stored[0]
	update := h.stored[1]

	unknown := update
	unknown.Type = "client.teleported"
	corruptData := update
	corruptData.Data = json.RawMessage(`{"settings":42}`)
	gap := h.stored[2]
	otherTenant := update
	otherTenant.Stream.Tenant = "globex"
	wrongID := registered
	wrongID.Stream.ID = "c2"

	cases := []struct {
		name   string
		events []eventstore.Event
		want   error
	}{
		{"update before registration", []eventstore.Event{update}, domain.ErrCorruptEvent},
		{"registered twice", []eventstore.Event{registered, registered}, domain.ErrCorruptEvent},
		{"version gap", []eventstore.Event{registered, gap}, domain.ErrCorruptEvent},
		{"unknown event type", []eventstore.Event{registered, unknown}, domain.ErrUnknownEvent},
		{"corrupt payload", []eventstore.Event{registered, corruptData}, domain.ErrCorruptEvent},
		{"client of another tenant", []eventstore.Event{registered, otherTenant}, domain.ErrCorruptEvent},
		{"registration in another stream", []eventstore.Event{wrongID}, domain.ErrCorruptEvent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			events := make([]decoded, len(c.events))
			for i, e := range c.events {
				events[i] = decode(e)
			}
			_, err := foldEvents(t.Context(), newMemory(), events)
			var ee *EventError
			if !errors.As(err, &ee) || !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want an *EventError wrapping %v", err, c.want)
			}
			if last := c.events[len(c.events)-1]; ee.EventID != last.ID {
				t.Errorf("error names event %s, want %s", ee.EventID, last.ID)
			}
		})
	}
}

func TestFoldSkipsOtherAggregates(t *testing.T) {
	e := eventstore.Event{ID: "k1", Stream: eventstore.StreamID{Tenant: "acme", Type: "signing_key", ID: "k1"},
		Version: 1, Type: "signing_key.created", Schema: 1, Data: json.RawMessage(`{}`)}
	c, err := foldEvents(t.Context(), newMemory(), []decoded{decode(e)})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tenants)+len(c.Clients)+len(c.Deleted) != 0 {
		t.Fatalf("an event of another aggregate changed views: %+v", c)
	}
}

func TestFoldEmptyListsMatchAggregate(t *testing.T) {
	// An event stored with empty lists and maps instead of nulls folds to
	// what the aggregate keeps.
	var pos int64
	h := richClient(t, &pos, clock())
	var raw map[string]any
	if err := json.Unmarshal(h.stored[0].Data, &raw); err != nil {
		t.Fatal(err)
	}
	settings := raw["settings"].(map[string]any)
	for k, v := range settings {
		if v == nil {
			switch k {
			case "scope_permissions", "metadata", "properties":
				settings[k] = map[string]any{}
			default:
				settings[k] = []any{}
			}
		}
	}
	data, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	e := h.stored[0]
	e.Data = data
	d := decode(e)
	if d.err != nil {
		t.Fatal(d.err)
	}
	c, err := foldEvents(t.Context(), newMemory(), []decoded{d})
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.Replay([]domain.Event{d.ev})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Clients[0], NewClientView("acme", a)) {
		t.Fatalf("got  %s\nwant %s", describe(c.Clients[0]), describe(NewClientView("acme", a)))
	}
}
