package tenants_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/tenants"
)

// storeEndpoints reads a tenant's endpoints from the event store itself,
// folding each webhook stream: the same answer the projection gives once
// it has caught up, with no projection in between.
type storeEndpoints struct{ store eventstore.Store }

func (s storeEndpoints) Endpoints(ctx context.Context, tenant string) ([]webhooks.Endpoint, error) {
	var (
		out   []webhooks.Endpoint
		seen  = map[string]bool{}
		after eventstore.Position
	)
	for {
		page, err := s.store.ReadTenant(ctx, tenant, after, eventstore.MaxRead)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if e.Stream.Type != webhooks.StreamType || seen[e.Stream.ID] {
				continue
			}
			seen[e.Stream.ID] = true
			history, _, err := aggregate.Load(ctx, s.store, e.Stream, webhook.Decode)
			if err != nil {
				return nil, err
			}
			w, err := webhook.Replay(history)
			if err != nil {
				return nil, err
			}
			if !w.Deleted() {
				out = append(out, webhooks.Endpoint{Tenant: tenant, State: w.State()})
			}
		}
		if len(page) < eventstore.MaxRead {
			return out, nil
		}
		after = page[len(page)-1].Position
	}
}

// newWebhooks is the webhook service over e's store, counting endpoints
// on the store itself.
func (e *env) newWebhooks(t *testing.T, opts ...tenants.Option) *tenants.Webhooks {
	t.Helper()
	opts = append([]tenants.Option{tenants.WithClock(e.clock.Now), tenants.WithEventIDs(counter("wev-"))}, opts...)
	w, err := tenants.NewWebhooks(e.store, e.keys, storeEndpoints{e.store}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func receiver(path string) webhook.Settings {
	return webhook.Settings{URL: "https://hooks.example.com/" + path, Types: []string{"client.*"}, Description: "  receiver  "}
}

func (e *env) loadWebhook(t *testing.T, tenantSlug, id string) (*webhook.Webhook, []eventstore.Event) {
	t.Helper()
	stored, err := e.store.ReadStream(t.Context(), webhooks.Stream(tenantSlug, id), 0)
	if err != nil {
		t.Fatal(err)
	}
	history, _, err := aggregate.Load(t.Context(), e.store, webhooks.Stream(tenantSlug, id), webhook.Decode)
	if err != nil {
		t.Fatal(err)
	}
	w, err := webhook.Replay(history)
	if err != nil {
		t.Fatal(err)
	}
	return w, stored
}

func TestWebhookCreate(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.createTenant(t, "acme")
		wh := e.newWebhooks(t)
		r := req
		r.Reason, r.Source, r.UserAgent = "ticket 7", "192.0.2.7", "clavis-cli/1"
		res, err := wh.Create(t.Context(), r, "acme", receiver("a"))
		if err != nil {
			t.Fatal(err)
		}
		id := res.Webhook.ID
		if !tenants.ValidWebhookID(id) || !strings.HasPrefix(id, "wh_") {
			t.Errorf("id %q", id)
		}
		if res.Secret == nil || !strings.HasPrefix(res.Secret.Value, "whsec_") || res.Secret.ID == "" {
			t.Fatalf("secret %v", res.Secret)
		}
		if strings.Contains(res.Secret.String(), res.Secret.Value) {
			t.Error("String shows the secret")
		}
		if res.Position.IsZero() {
			t.Error("no position")
		}
		want := webhook.Settings{URL: "https://hooks.example.com/a", Types: []string{"client.*"}, Description: "receiver"}
		if d := cmp.Diff(want, res.Webhook.Settings); d != "" {
			t.Errorf("settings (-want +got):\n%s", d)
		}
		agg, stored := e.loadWebhook(t, "acme", id)
		if d := cmp.Diff(agg.State(), res.Webhook); d != "" {
			t.Errorf("result differs from the stream's replay (-stream +result):\n%s", d)
		}
		if len(stored) != 1 || stored[0].Type != webhook.EventTypeCreated {
			t.Fatalf("stored %v", eventTypes(stored))
		}
		m := stored[0].Meta
		if m.Actor != "root" || m.Reason != "ticket 7" || m.Source != "192.0.2.7" || m.UserAgent != "clavis-cli/1" || m.CorrelationID != "corr-1" {
			t.Errorf("metadata %+v", m)
		}
		// The sealed secret opens, for this tenant and endpoint only, to
		// the plaintext shown once.
		sealed := agg.Secrets()[0].Sealed
		if strings.Contains(string(stored[0].Data), res.Secret.Value) {
			t.Error("the event holds the plaintext secret")
		}
		if got, err := e.keys.OpenWebhookSecret("acme", id, sealed); err != nil || got != res.Secret.Value {
			t.Errorf("open: %v (match %v)", err, got == res.Secret.Value)
		}
		if _, err := e.keys.OpenWebhookSecret("beta", id, sealed); err == nil {
			t.Error("the secret opens for another tenant")
		}
	})
}

func TestWebhookCommands(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		wh := e.newWebhooks(t)
		res, err := wh.Create(ctx, req, "acme", receiver("a"))
		if err != nil {
			t.Fatal(err)
		}
		id := res.Webhook.ID

		// PATCH semantics: only what is given changes.
		desc := "new"
		up, err := wh.Update(ctx, req, "acme", id, tenants.WebhookPatch{Description: &desc}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if up.Webhook.Settings.URL != "https://hooks.example.com/a" || up.Webhook.Settings.Description != "new" || up.Webhook.Version != 2 {
			t.Errorf("update: %+v", up.Webhook)
		}
		// The same patch again changes nothing.
		same, err := wh.Update(ctx, req, "acme", id, tenants.WebhookPatch{Description: &desc}, 0)
		if err != nil || !same.Position.IsZero() || same.Webhook.Version != 2 {
			t.Errorf("no-op update: %v %+v", err, same)
		}
		// A stale version is a conflict.
		if _, err := wh.Update(ctx, req, "acme", id, tenants.WebhookPatch{Description: ptr("x")}, 1); !errors.Is(err, eventstore.ErrConflict) {
			t.Errorf("stale update: %v", err)
		}
		types := []string{}
		up, err = wh.Update(ctx, req, "acme", id, tenants.WebhookPatch{Types: &types}, 0)
		if err != nil || !cmp.Equal(up.Webhook.Settings.Types, []string{"*"}) {
			t.Errorf("types cleared: %v %v", err, up.Webhook.Settings.Types)
		}

		rot, err := wh.RotateSecret(ctx, req, "acme", id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if rot.Secret == nil || rot.Secret.Value == res.Secret.Value || !strings.HasPrefix(rot.Secret.Value, "whsec_") {
			t.Fatalf("rotated secret %v", rot.Secret)
		}
		if s := rot.Webhook.Secrets; len(s) != 2 || !s[0].Until.Equal(e.clock.Now().Add(time.Hour)) || !s[1].Until.IsZero() {
			t.Errorf("secrets after rotation: %+v", s)
		}
		if _, err := wh.RotateSecret(ctx, req, "acme", id, webhook.MaxOverlap+time.Second); !errors.Is(err, domain.ErrValidation) {
			t.Errorf("too long an overlap: %v", err)
		}

		off, err := wh.Deactivate(ctx, req, "acme", id, "maintenance")
		if err != nil || off.Webhook.Active || off.Webhook.Reason != "maintenance" || off.Webhook.Automatic {
			t.Errorf("deactivate: %v %+v", err, off.Webhook)
		}
		on, err := wh.Activate(ctx, req, "acme", id)
		if err != nil || !on.Webhook.Active || on.Webhook.Reason != "" {
			t.Errorf("activate: %v %+v", err, on.Webhook)
		}
		if _, err := wh.Replay(ctx, req, "acme", id, res.Position.String()); err != nil {
			t.Errorf("replay from the creation: %v", err)
		}
		// A point between events means "after that point"; one just
		// committed is taken at once, whatever readers see yet.
		between := eventstore.Position{Commit: res.Position.Commit, Seq: res.Position.Seq - 1}
		if _, err := wh.Replay(ctx, req, "acme", id, between.String()); err != nil {
			t.Errorf("replay from a point that is no event's position: %v", err)
		}
		if _, err := wh.Replay(ctx, req, "acme", id, on.Position.String()); err != nil {
			t.Errorf("replay from the last event: %v", err)
		}
		// A cursor beyond the head is refused and changes nothing.
		head := e.head(t)
		for _, beyond := range []eventstore.Position{{Commit: head.Commit, Seq: head.Seq + 1}, {Commit: head.Commit + 1_000_000, Seq: 1}} {
			_, err := wh.Replay(ctx, req, "acme", id, beyond.String())
			wantProblem(t, err, "from", "invalid_value")
			e.unchanged(t, head)
		}
		_, err = wh.Replay(ctx, req, "acme", id, "99999999999999999999.1") // too large for a position
		wantProblem(t, err, "from", "invalid_value")
		e.unchanged(t, head)
		if _, err := wh.Replay(ctx, req, "acme", id, ""); err != nil {
			t.Errorf("replay from the start: %v", err)
		}
		if _, err := wh.Replay(ctx, req, "acme", id, "yesterday"); !errors.Is(err, domain.ErrValidation) {
			t.Errorf("replay from garbage: %v", err)
		}

		// The disabler acts as the platform.
		if err := wh.Disabler().Deactivate(ctx, "acme", id, "failing for 3 days", true); err != nil {
			t.Fatal(err)
		}
		agg, stored := e.loadWebhook(t, "acme", id)
		last := stored[len(stored)-1]
		if agg.Active() || !agg.State().Automatic || last.Meta.Actor != tenants.SystemActor || last.Meta.Reason != "failing for 3 days" {
			t.Errorf("automatic deactivation: %+v, meta %+v", agg.State(), last.Meta)
		}

		del, err := wh.Delete(ctx, req, "acme", id)
		if err != nil || !del.Webhook.Deleted {
			t.Fatalf("delete: %v %+v", err, del.Webhook)
		}
		if _, err := wh.Activate(ctx, req, "acme", id); !errors.Is(err, domain.ErrDeleted) {
			t.Errorf("activate deleted: %v", err)
		}
		// The platform disabling an endpoint that is gone needs nothing.
		before := e.head(t)
		if err := wh.Disabler().Deactivate(ctx, "acme", id, "late", true); err != nil {
			t.Errorf("disable a deleted endpoint: %v", err)
		}
		if err := wh.Disabler().Deactivate(ctx, "beta", id, "late", true); err != nil {
			t.Errorf("disable an unknown endpoint: %v", err)
		}
		e.unchanged(t, before)
		_, stored = e.loadWebhook(t, "acme", id)
		want := []string{"webhook.created", "webhook.updated", "webhook.updated", "webhook.secret_rotated", "webhook.deactivated",
			"webhook.activated", "webhook.replayed", "webhook.replayed", "webhook.replayed", "webhook.replayed", "webhook.deactivated", "webhook.deleted"}
		if d := cmp.Diff(want, eventTypes(stored)); d != "" {
			t.Errorf("events (-want +got):\n%s", d)
		}
	})
}

func TestWebhookRefuses(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		e.createTenant(t, "beta")
		wh := e.newWebhooks(t, tenants.WithMaxWebhooks(2))
		res, err := wh.Create(ctx, req, "acme", receiver("a"))
		if err != nil {
			t.Fatal(err)
		}
		id := res.Webhook.ID
		before := e.head(t)
		for _, tc := range []struct {
			name string
			run  func() error
			want error
		}{
			{"no actor", func() error { _, err := wh.Create(ctx, tenants.Request{}, "acme", receiver("b")); return err }, tenants.ErrNoActor},
			{"unknown tenant", func() error { _, err := wh.Create(ctx, req, "nope", receiver("b")); return err }, domain.ErrNotFound},
			{"bad url", func() error {
				_, err := wh.Create(ctx, req, "acme", webhook.Settings{URL: "http://example.com/"})
				return err
			}, domain.ErrValidation},
			{"bad types", func() error {
				_, err := wh.Create(ctx, req, "acme", webhook.Settings{URL: "https://example.com/", Types: []string{"no such"}})
				return err
			}, domain.ErrValidation},
			{"other tenant's endpoint", func() error { _, err := wh.Activate(ctx, req, "beta", id); return err }, domain.ErrNotFound},
			{"other tenant's delete", func() error { _, err := wh.Delete(ctx, req, "beta", id); return err }, domain.ErrNotFound},
			{"garbage id", func() error { _, err := wh.Delete(ctx, req, "acme", "../x"); return err }, domain.ErrNotFound},
			{"unknown id", func() error { _, err := wh.Delete(ctx, req, "acme", "wh_nothere"); return err }, domain.ErrNotFound},
			{"bad patch", func() error {
				_, err := wh.Update(ctx, req, "acme", id, tenants.WebhookPatch{URL: ptr("ftp://x")}, 0)
				return err
			}, domain.ErrValidation},
			{"negative version", func() error {
				_, err := wh.Update(ctx, req, "acme", id, tenants.WebhookPatch{}, -1)
				return err
			}, eventstore.ErrInvalid},
			{"bad reason", func() error { _, err := wh.Deactivate(ctx, req, "acme", id, "a\x00b"); return err }, domain.ErrValidation},
		} {
			if err := tc.run(); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		e.unchanged(t, before)

		// The limit counts live endpoints only.
		if _, err := wh.Create(ctx, req, "acme", receiver("b")); err != nil {
			t.Fatal(err)
		}
		before = e.head(t)
		if _, err := wh.Create(ctx, req, "acme", receiver("c")); !errors.Is(err, tenants.ErrWebhookLimit) {
			t.Errorf("over the limit: %v", err)
		}
		e.unchanged(t, before)
		if _, err := wh.Create(ctx, req, "beta", receiver("c")); err != nil {
			t.Errorf("another tenant's limit is its own: %v", err)
		}
		if _, err := wh.Delete(ctx, req, "acme", id); err != nil {
			t.Fatal(err)
		}
		if _, err := wh.Create(ctx, req, "acme", receiver("c")); err != nil {
			t.Errorf("after a delete: %v", err)
		}

		// A suspended tenant refuses every command.
		if _, err := e.tenants.Suspend(ctx, req, "acme", "audit"); err != nil {
			t.Fatal(err)
		}
		list, err := storeEndpoints{e.store}.Endpoints(ctx, "acme")
		if err != nil || len(list) == 0 {
			t.Fatal(err, len(list))
		}
		live := list[0].State.ID
		before = e.head(t)
		for name, run := range map[string]func() error{
			"create": func() error { _, err := wh.Create(ctx, req, "acme", receiver("d")); return err },
			"update": func() error {
				_, err := wh.Update(ctx, req, "acme", live, tenants.WebhookPatch{Description: ptr("x")}, 0)
				return err
			},
			"rotate":     func() error { _, err := wh.RotateSecret(ctx, req, "acme", live, 0); return err },
			"deactivate": func() error { _, err := wh.Deactivate(ctx, req, "acme", live, ""); return err },
			"activate":   func() error { _, err := wh.Activate(ctx, req, "acme", live); return err },
			"replay":     func() error { _, err := wh.Replay(ctx, req, "acme", live, ""); return err },
			"delete":     func() error { _, err := wh.Delete(ctx, req, "acme", live); return err },
			"disable":    func() error { return wh.Disabler().Deactivate(ctx, "acme", live, "x", true) },
		} {
			if err := run(); !errors.Is(err, domain.ErrTenantSuspended) {
				t.Errorf("%s: %v, want tenant suspended", name, err)
			}
		}
		e.unchanged(t, before)
	})
}

func TestNewWebhooksRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, backends[0].open(t))
	if _, err := tenants.NewWebhooks(nil, e.keys, storeEndpoints{e.store}); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := tenants.NewWebhooks(e.store, nil, storeEndpoints{e.store}); err == nil {
		t.Error("nil sealer accepted")
	}
	if _, err := tenants.NewWebhooks(e.store, e.keys, nil); err == nil {
		t.Error("nil endpoints accepted")
	}
	if _, err := tenants.NewWebhooks(e.store, e.keys, storeEndpoints{e.store}, tenants.WithMaxWebhooks(0)); !errors.Is(err, tenants.ErrInvalidOption) {
		t.Errorf("limit 0: %v", err)
	}
}

// TestWebhookLimitIsExactUnderConcurrency: creations sent together all
// read the same count on the read side; the slots they claim in the
// store keep the live endpoints at the limit exactly, every other
// creation failing with ErrWebhookLimit, and a deletion frees its slot
// for the next creation.
func TestWebhookLimitIsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		e.createTenant(t, "beta")
		const max, tries = 5, 40
		wh := e.newWebhooks(t, tenants.WithMaxWebhooks(max))
		var (
			mu      sync.Mutex
			created []tenants.WebhookResult
			wg      sync.WaitGroup
		)
		for i := range tries {
			wg.Go(func() {
				res, err := wh.Create(ctx, req, "acme", receiver(fmt.Sprint(i)))
				switch {
				case errors.Is(err, tenants.ErrWebhookLimit):
				case err != nil:
					t.Errorf("creation %d: %v", i, err)
				default:
					mu.Lock()
					created = append(created, res)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(created) != max {
			t.Fatalf("%d of %d concurrent creations succeeded, want exactly %d", len(created), tries, max)
		}
		slots := map[int]string{}
		for _, r := range created {
			s := r.Webhook.Slot
			if s < 1 || s > max || slots[s] != "" {
				t.Errorf("endpoint %s holds slot %d (slots so far %v)", r.Webhook.ID, s, slots)
			}
			slots[s] = r.Webhook.ID
		}
		live, err := storeEndpoints{e.store}.Endpoints(ctx, "acme")
		if err != nil || len(live) != max {
			t.Fatalf("live endpoints: %d, %v; want %d", len(live), err, max)
		}

		// Another tenant's slots are its own.
		if _, err := wh.Create(ctx, req, "beta", receiver("b")); err != nil {
			t.Errorf("beta's first endpoint: %v", err)
		}
		// A deletion releases its slot, which the next creation takes.
		gone := created[0].Webhook
		if _, err := wh.Delete(ctx, req, "acme", gone.ID); err != nil {
			t.Fatal(err)
		}
		e.settle(t)
		again, err := wh.Create(ctx, req, "acme", receiver("again"))
		if err != nil {
			t.Fatalf("a creation after a deletion: %v", err)
		}
		if again.Webhook.Slot != gone.Slot {
			t.Errorf("the new endpoint holds slot %d, want the freed slot %d", again.Webhook.Slot, gone.Slot)
		}
		e.settle(t)
		if _, err := wh.Create(ctx, req, "acme", receiver("over")); !errors.Is(err, tenants.ErrWebhookLimit) {
			t.Errorf("over the limit again: %v", err)
		}
	})
}
