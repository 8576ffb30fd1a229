package tenants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
)

// Snapshots of clients: a client's past ([Clients.At]) is the fold of its
// stream up to an instant, and a long stream makes that slow (1,000
// events, each an update holding the full settings, take several
// milliseconds to read and decode). So every [DefaultSnapshotEvery]
// versions the service stores the client's State (client.State, the
// domain's own fold: one fold, invariant 7) beside the events, and At
// starts from the newest snapshot at or before the instant and folds
// only the events after it.
//
// The command service writes them, not the read model's projector: a
// snapshot is a cache of the event store, keyed by (stream, version), and
// needs nothing of the read model, so the projector, its rebuild and its
// backends stay as they are. After a command's append lands on or
// crosses a multiple of the interval, the service folds the stream up to
// that version from the store itself (from the previous snapshot) and
// saves it; this is best effort, since a missing snapshot only costs
// speed. A wrong one would be fatal, so a snapshot names the event it
// was taken at (id and position) and a reader checks that event against
// the stream, reading from the snapshot's own version, before trusting
// it; one that does not match, does not decode, or was written for
// another shape of client.State is ignored and the stream folded from
// its start. A change to what Apply does with the same State needs a
// migration that empties the snapshots table.

// snapshotShape identifies the Go shape of client.State (its fields,
// their types and JSON names, all the way down): a snapshot written for
// another shape is not read, so adding a field to State never makes an
// old snapshot give it its zero value.
var snapshotShape = func() string {
	var b strings.Builder
	typeShape(&b, reflect.TypeFor[client.State](), map[reflect.Type]bool{})
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:8])
}()

// typeShape writes a description of t to b.
func typeShape(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	if t == reflect.TypeFor[time.Time]() {
		b.WriteString("time")
		return
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice:
		b.WriteString(t.Kind().String() + "(")
		typeShape(b, t.Elem(), seen)
		b.WriteString(")")
	case reflect.Map:
		b.WriteString("map(")
		typeShape(b, t.Key(), seen)
		b.WriteString(",")
		typeShape(b, t.Elem(), seen)
		b.WriteString(")")
	case reflect.Struct:
		if seen[t] {
			b.WriteString(t.String())
			return
		}
		seen[t] = true
		b.WriteString(t.String() + "{")
		for i := range t.NumField() {
			f := t.Field(i)
			fmt.Fprintf(b, "%s %q ", f.Name, f.Tag.Get("json"))
			typeShape(b, f.Type, seen)
			b.WriteString(";")
		}
		b.WriteString("}")
	default:
		b.WriteString(t.String())
	}
}

// snapshotData is what a client snapshot's Data holds.
type snapshotData struct {
	Shape string       `json:"shape"`
	State client.State `json:"state"`
}

// foldedClient is a client folded from its stream: the client, the last
// event folded (zero when none), and whether the folded events'
// positions rose with their versions (a snapshot is only taken of such a prefix, so that the
// position of its last event is the highest of them).
type foldedClient struct {
	agg       *client.Client
	last      eventstore.Event
	recorded  time.Time // the latest RecordedAt of the events folded
	monotonic bool
}

// foldClient folds the prefix of stream's events that include accepts,
// from the newest snapshot that usable accepts when snapshots are on.
func foldClient(ctx context.Context, store eventstore.Store, cfg config, stream eventstore.StreamID, include func(eventstore.Event) bool, usable func(eventstore.Snapshot) bool) (foldedClient, error) {
	f := foldedClient{agg: new(client.Client), monotonic: true}
	stored, fromSnapshot := fromSnapshot(ctx, store, cfg, stream, include, usable, &f)
	if !fromSnapshot {
		var err error
		if stored, err = store.ReadStream(ctx, stream, 0); err != nil {
			return foldedClient{}, err
		}
	}
	n := 0
	for n < len(stored) && include(stored[n]) {
		n++
	}
	decoded := decodeAll(stored[:n])
	for i, e := range stored[:n] {
		if err := applyDecoded(f.agg, e, decoded[i]); err != nil {
			return foldedClient{}, err
		}
		if f.last.Version > 0 && !f.last.Position.Less(e.Position) {
			f.monotonic = false
		}
		if e.RecordedAt.After(f.recorded) {
			f.recorded = e.RecordedAt
		}
		f.last = e
	}
	return f, nil
}

// fromSnapshot starts f from the newest usable snapshot of stream, and
// returns the stream's events after it. It returns false, leaving f as
// it was, when there is none or it does not match the stream.
func fromSnapshot(ctx context.Context, store eventstore.Store, cfg config, stream eventstore.StreamID, include func(eventstore.Event) bool, usable func(eventstore.Snapshot) bool, f *foldedClient) ([]eventstore.Event, bool) {
	ss, ok := store.(eventstore.Snapshots)
	if !ok || cfg.snapshots == 0 {
		return nil, false
	}
	snap, ok, err := ss.LatestSnapshot(ctx, stream, usable)
	if err != nil {
		cfg.log.LogAttrs(ctx, slog.LevelWarn, "client snapshot not read", slog.String("stream", stream.String()), slog.String("error", err.Error()))
		return nil, false
	}
	if !ok {
		return nil, false
	}
	stored, err := store.ReadStream(ctx, stream, snap.Version-1)
	if err != nil {
		return nil, false
	}
	var data snapshotData
	switch {
	case len(stored) == 0 || stored[0].Version != snap.Version || stored[0].ID != snap.EventID || stored[0].Position != snap.Position || !include(stored[0]):
		err = fmt.Errorf("the stream's event at version %d is not the snapshot's", snap.Version)
	case json.Unmarshal(snap.Data, &data) != nil:
		err = fmt.Errorf("the snapshot at version %d does not decode", snap.Version)
	case data.Shape != snapshotShape:
		return nil, false // written by another version of the server
	case data.State.Version != snap.Version || data.State.ID != stream.ID:
		err = fmt.Errorf("the snapshot at version %d holds version %d of client %q", snap.Version, data.State.Version, data.State.ID)
	}
	if err != nil {
		cfg.log.LogAttrs(ctx, slog.LevelWarn, "client snapshot ignored", slog.String("stream", stream.String()), slog.String("error", err.Error()))
		return nil, false
	}
	f.agg = client.FromState(data.State)
	f.last = stored[0]
	f.recorded = snap.RecordedAt
	return stored[1:], true
}

// snapshotAfter saves the snapshot that an append of events up to
// version, the stream's version before it being version-appended, calls
// for: the last multiple of the interval it reached, if it reached one.
// Best effort: a failure is logged, and the command it follows has
// committed whatever happens here.
func snapshotAfter(ctx context.Context, store eventstore.Store, cfg config, stream eventstore.StreamID, version int64, appended int) {
	every := int64(cfg.snapshots)
	if every == 0 || appended == 0 {
		return
	}
	ss, ok := store.(eventstore.Snapshots)
	at := version / every * every
	if !ok || at == 0 || at <= version-int64(appended) {
		return
	}
	if err := snapshot(ctx, store, cfg, ss, stream, at); err != nil {
		cfg.log.LogAttrs(ctx, slog.LevelWarn, "client snapshot not saved", slog.String("stream", stream.String()),
			slog.Int64("version", at), slog.String("error", err.Error()))
	}
}

// snapshot saves the snapshot of stream at version, folded from the
// store.
func snapshot(ctx context.Context, store eventstore.Store, cfg config, ss eventstore.Snapshots, stream eventstore.StreamID, version int64) error {
	f, err := foldClient(ctx, store, cfg, stream,
		func(e eventstore.Event) bool { return e.Version <= version },
		func(s eventstore.Snapshot) bool { return s.Version < version })
	if err != nil {
		return err
	}
	if f.agg.Version() != version || !f.monotonic {
		return nil // the stream is not there, or its positions do not rise with its versions
	}
	data, err := json.Marshal(snapshotData{Shape: snapshotShape, State: f.agg.TakeState()})
	if err != nil {
		return err
	}
	return ss.SaveSnapshot(ctx, eventstore.Snapshot{
		Stream: stream, Version: version, EventID: f.last.ID, Position: f.last.Position,
		RecordedAt: f.recorded, Data: data,
	})
}
