package tenants_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/relay"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/eventstore/traced"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// execSQL runs one statement on the event store's database.
func execSQL(t *testing.T, store eventstore.Store, sqliteStmt, pgStmt string) {
	t.Helper()
	var err error
	switch s := store.(type) {
	case *sqlite.Store:
		w, _ := s.DB()
		_, err = w.ExecContext(t.Context(), sqliteStmt)
	case *postgres.Store:
		_, err = s.Pool().Exec(t.Context(), pgStmt)
	default:
		t.Fatalf("no SQL for a %T", store)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestClientAtSnapshots makes a client of 351 events through the command
// service over the store as serve wraps it (traced, waking), which saves
// its snapshots at versions 100, 200 and 300, then deletes it. At, which
// starts from the nearest snapshot, must give at every version's
// position and at its recording time exactly what the command that made
// the version returned and what the fold of the whole stream
// (WithSnapshotEvery(0)) gives; and still so once the snapshots are
// damaged in every way a reader can tell, or gone.
func TestClientAtSnapshots(t *testing.T) {
	t.Parallel()
	for _, b := range []struct{ name, dbURL string }{{"sqlite", ""}, {"postgres", dbURL}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			store := testnode.Store(t, b.dbURL)
			commands := traced.Store(relay.Waking(store, nil, subject.Names{Prefix: "test"}, nil))
			ts, err := tenants.NewTenants(commands, testnode.Keyring(t))
			if err != nil {
				t.Fatal(err)
			}
			cs, err := tenants.NewClients(commands)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := tenants.NewClients(store, tenants.WithSnapshotEvery(0))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ts.Create(ctx, req, "acme", "Acme"); err != nil {
				t.Fatal(err)
			}
			res, err := cs.Register(ctx, req, "acme", webApp("urn:acme/web"))
			if err != nil {
				t.Fatal(err)
			}
			id, last := res.Client.ClientID, res
			want := map[int64]projections.ClientView{1: res.Client}
			for i := 2; i <= 350; i++ {
				last, err = changeLongStream(ctx, cs, id, i, last)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				want[last.Client.Version] = last.Client
			}
			if _, err := cs.Delete(ctx, req, "acme", id); err != nil {
				t.Fatal(err)
			}
			stream := tenants.ClientStream("acme", id)
			events, err := store.ReadStream(ctx, stream, 0)
			if err != nil || len(events) != 351 {
				t.Fatalf("the stream holds %d events, %v", len(events), err)
			}

			// The snapshots are there, each at its version's event.
			var versions []int64
			for v := int64(400); ; {
				snap, ok, err := store.(eventstore.Snapshots).LatestSnapshot(ctx, stream, func(s eventstore.Snapshot) bool { return s.Version < v })
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				e := events[snap.Version-1]
				if snap.EventID != e.ID || snap.Position != e.Position || snap.RecordedAt.Before(e.RecordedAt) {
					t.Errorf("the snapshot at %d is at event %s %s recorded %s; the stream's is %s %s recorded %s",
						snap.Version, snap.EventID, snap.Position, snap.RecordedAt, e.ID, e.Position, e.RecordedAt)
				}
				versions = append(versions, snap.Version)
				v = snap.Version
			}
			if !cmp.Equal(versions, []int64{300, 200, 100}) {
				t.Fatalf("snapshots at versions %v, want 300, 200, 100", versions)
			}

			// check compares At's answers at the versions from on: each
			// version next to a snapshot's and the last ones, where a
			// snapshot is taken or passed over, and every 7th between
			// (every version takes minutes under the race detector).
			sampled := func(v int64) bool {
				m := v % 100
				return m <= 2 || m >= 98 || v%7 == 0 || v <= 3 || v >= 348
			}
			//
			// The whole fold at an instant is taken once: plain reads no
			// snapshot and the stream's events never change below, only
			// its snapshots do.
			wholes := map[string]projections.ClientView{}
			wholeAt := func(t *testing.T, at tenants.Instant, version int64) projections.ClientView {
				t.Helper()
				if v, ok := wholes[at.String()]; ok {
					return v
				}
				v, err := plain.At(ctx, "acme", id, at)
				if err != nil {
					t.Fatalf("At(%s) without snapshots, version %d: %v", at, version, err)
				}
				wholes[at.String()] = v
				return v
			}
			check := func(from int64) func(t *testing.T) {
				return func(t *testing.T) {
					t.Helper()
					for _, e := range events[from-1:] {
						if !sampled(e.Version) {
							continue
						}
						for _, at := range []tenants.Instant{tenants.AtPosition(e.Position), tenants.AtTime(e.RecordedAt)} {
							got, err := cs.At(ctx, "acme", id, at)
							if err != nil {
								t.Fatalf("At(%s), version %d: %v", at, e.Version, err)
							}
							whole := wholeAt(t, at, e.Version)
							if diff := cmp.Diff(whole, got); diff != "" {
								t.Fatalf("At(%s), version %d, from a snapshot differs from the whole fold (-whole +got):\n%s", at, e.Version, diff)
							}
							if at.String() != e.Position.String() {
								continue // several events may share a recording time
							}
							if e.Version == 351 {
								if !got.Deleted || got.Version != 351 || got.Active {
									t.Fatalf("At(%s), the deletion = version %d, deleted %t, active %t", at, got.Version, got.Deleted, got.Active)
								}
								continue
							}
							if diff := cmp.Diff(want[e.Version], got); diff != "" {
								t.Fatalf("At(%s), version %d, differs from the command's result (-command +At):\n%s", at, e.Version, diff)
							}
						}
					}
				}
			}

			t.Run("snapshots", check(1))

			// Damaged snapshots are ignored: one whose event is not the
			// stream's (by id, by position), one that does not decode,
			// one holding another version's state.
			ss := store.(eventstore.Snapshots)
			snapAt := func(v int64) eventstore.Snapshot {
				t.Helper()
				s, ok, err := ss.LatestSnapshot(ctx, stream, func(s eventstore.Snapshot) bool { return s.Version == v })
				if err != nil || !ok {
					t.Fatalf("snapshot at %d: %t, %v", v, ok, err)
				}
				return s
			}
			s200, s300 := snapAt(200), snapAt(300)
			forged := bytes.Replace(s300.Data, []byte(`"Web 300"`), []byte(`"Forged!"`), 1)
			if bytes.Equal(forged, s300.Data) {
				t.Fatal("the snapshot at 300 does not hold the name Web 300")
			}
			e300 := events[299]
			damaged := []eventstore.Snapshot{
				{Stream: stream, Version: 300, EventID: "not-this-one", Position: e300.Position, RecordedAt: e300.RecordedAt, Data: forged},
				{Stream: stream, Version: 300, EventID: e300.ID, Position: events[297].Position, RecordedAt: events[297].RecordedAt, Data: s300.Data},
				{Stream: stream, Version: 300, EventID: e300.ID, Position: e300.Position, RecordedAt: e300.RecordedAt, Data: []byte("{not json")},
				{Stream: stream, Version: 300, EventID: e300.ID, Position: e300.Position, RecordedAt: e300.RecordedAt, Data: s200.Data},
			}
			for i, d := range damaged {
				if err := ss.SaveSnapshot(ctx, d); err != nil {
					t.Fatal(err)
				}
				// The damaged snapshot at 300 is the one At would start
				// from at these versions.
				t.Run(fmt.Sprintf("damaged %d", i), check(290))
			}

			// Without a snapshot, nothing changes but the speed.
			execSQL(t, store, `DELETE FROM snapshots`, `DELETE FROM snapshots`)
			t.Run("none", check(1))
		})
	}
}

// TestClientSnapshotEveryVersion snapshots a client at every version
// (WithSnapshotEvery(1)): each At starts from the snapshot of the very
// version it asks for, and must give what the whole fold gives.
func TestClientSnapshotEveryVersion(t *testing.T) {
	t.Parallel()
	for _, b := range []struct{ name, dbURL string }{{"sqlite", ""}, {"postgres", dbURL}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			store := testnode.Store(t, b.dbURL)
			ts, err := tenants.NewTenants(store, testnode.Keyring(t))
			if err != nil {
				t.Fatal(err)
			}
			cs, err := tenants.NewClients(store, tenants.WithSnapshotEvery(1))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := tenants.NewClients(store, tenants.WithSnapshotEvery(0))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ts.Create(ctx, req, "acme", "Acme"); err != nil {
				t.Fatal(err)
			}
			res, err := cs.Register(ctx, req, "acme", webApp("urn:acme/web"))
			if err != nil {
				t.Fatal(err)
			}
			id := res.Client.ClientID
			for i := range 20 {
				if i%3 == 0 {
					_, err = cs.RotateSecret(ctx, req, "acme", id, time.Minute)
				} else {
					_, err = cs.Update(ctx, req, "acme", id, client.Patch{ClientName: ptr(fmt.Sprintf("Web %d", i))}, 0)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			stream := tenants.ClientStream("acme", id)
			events, err := store.ReadStream(ctx, stream, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events {
				snap, ok, err := store.(eventstore.Snapshots).LatestSnapshot(ctx, stream, func(s eventstore.Snapshot) bool { return s.Version == e.Version })
				if err != nil || !ok || snap.EventID != e.ID {
					t.Fatalf("snapshot at version %d: %v %t %v", e.Version, snap.EventID, ok, err)
				}
				at := tenants.AtPosition(e.Position)
				got, err := cs.At(ctx, "acme", id, at)
				if err != nil {
					t.Fatal(err)
				}
				whole, err := plain.At(ctx, "acme", id, at)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(whole, got); diff != "" {
					t.Fatalf("At version %d (-whole +snapshot):\n%s", e.Version, diff)
				}
			}
			// Before the client's first event, there is no client.
			if _, err := cs.At(ctx, "acme", id, tenants.AtTime(events[0].RecordedAt.Add(-time.Microsecond))); err == nil {
				t.Fatal("At before the registration found the client")
			}
		})
	}
}
