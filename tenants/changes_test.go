package tenants_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// streamReads counts the streams read through it.
type streamReads struct {
	eventstore.Store
	mu    sync.Mutex
	reads map[eventstore.StreamID]int
}

func (s *streamReads) ReadStream(ctx context.Context, stream eventstore.StreamID, after int64) ([]eventstore.Event, error) {
	s.mu.Lock()
	s.reads[stream]++
	s.mu.Unlock()
	return s.Store.ReadStream(ctx, stream, after)
}

// TestClientChanges asks for what every event of two clients changed,
// in one call: each stream is read once, each event's changes are the
// members that differ before and after it, and secrets show only that
// they changed.
func TestClientChanges(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		web, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web"))
		if err != nil {
			t.Fatal(err)
		}
		id := web.Client.ClientID
		steps := []func() error{
			func() error {
				_, err := e.clients.Update(ctx, req, "acme", id, patchName("Renamed"), 0)
				return err
			},
			func() error { _, err := e.clients.RotateSecret(ctx, req, "acme", id, time.Hour); return err },
			func() error { _, err := e.clients.Deactivate(ctx, req, "acme", id, "why not"); return err },
			func() error { _, err := e.clients.Delete(ctx, req, "acme", id); return err },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		spaRes, err := e.clients.Register(ctx, req, "acme", spa("urn:acme/spa"))
		if err != nil {
			t.Fatal(err)
		}

		var refs []tenants.ChangeRef
		types := map[string]string{}
		for _, ev := range e.events(t) {
			if ev.Stream.Type == tenants.StreamTypeClient && (ev.Stream.ID == id || ev.Stream.ID == spaRes.Client.ClientID) {
				refs = append(refs, tenants.ChangeRef{ClientID: ev.Stream.ID, Version: ev.Version, EventID: ev.ID})
				types[ev.ID] = ev.Type
			}
		}
		// An event id the store does not hold at that version gets nothing.
		refs = append(refs, tenants.ChangeRef{ClientID: id, Version: 2, EventID: "not-this-one"})

		counting := &streamReads{Store: e.store, reads: map[eventstore.StreamID]int{}}
		cs, err := tenants.NewClients(counting)
		if err != nil {
			t.Fatal(err)
		}
		show := func(v projections.ClientView) any {
			return map[string]any{"client_id": v.ClientID, "client_name": v.Settings.ClientName, "active": v.Active,
				"deactivation_reason": v.DeactivationReason, "secrets": len(v.Secrets), "version": v.Version}
		}
		got, err := cs.ClientChanges(ctx, "acme", refs, show)
		if err != nil {
			t.Fatal(err)
		}
		type change struct{ Field, Before, After string }
		byType := map[string][]change{}
		for evID, changes := range got {
			list := []change{}
			for _, c := range changes {
				if c.Secret {
					list = append(list, change{c.Field, "", "changed"})
					continue
				}
				list = append(list, change{c.Field, string(c.Before), string(c.After)})
			}
			if types[evID] == "client.registered" && evID != refs[0].EventID {
				byType["spa registered"] = list
				continue
			}
			byType[types[evID]] = list
		}
		want := map[string][]change{
			"client.registered":     {{"active", "", "true"}, {"client_name", "", `"Web urn:acme/web"`}, {"secrets", "", "changed"}},
			"client.updated":        {{"client_name", `"Web urn:acme/web"`, `"Renamed"`}},
			"client.secret_rotated": {{"secrets", "", "changed"}},
			"client.deactivated":    {{"active", "true", "false"}, {"deactivation_reason", `""`, `"why not"`}},
			"client.deleted":        {},
			"spa registered":        {{"active", "", "true"}, {"client_name", "", `"SPA urn:acme/spa"`}},
		}
		if diff := cmp.Diff(want, byType); diff != "" {
			t.Errorf("changes by event (-want +got):\n%s", diff)
		}
		if len(got) != len(refs)-1 {
			t.Errorf("%d events got changes, want %d", len(got), len(refs)-1)
		}
		wantReads := map[eventstore.StreamID]int{tenants.ClientStream("acme", id): 1, tenants.ClientStream("acme", spaRes.Client.ClientID): 1}
		if diff := cmp.Diff(wantReads, counting.reads); diff != "" {
			t.Errorf("streams read (-want +got):\n%s", diff)
		}
	})
}

func patchName(name string) client.Patch { return client.Patch{ClientName: &name} }
