package node

import (
	"context"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/wake"
)

// wakingAppends wakes the node's readers of a tenant's events (the
// events API's streams and long polls) as soon as an append of this node
// commits, before the relay, NATS and the projector have carried the
// event round: they read the store themselves, so the early wake-up
// only saves them the pipeline's latency. On PostgreSQL an event may
// not be readable yet when its own append returns (an older transaction
// is still open); the projector's wake-up, which follows, covers it.
type wakingAppends struct {
	eventstore.Store
	hub *wake.Hub
}

func (w wakingAppends) Append(ctx context.Context, stream eventstore.StreamID, expected int64, events []eventstore.Event, claims ...eventstore.Claim) (eventstore.Position, error) {
	pos, err := w.Store.Append(ctx, stream, expected, events, claims...)
	if err == nil {
		w.hub.Observe(events)
	}
	return pos, err
}

// SaveSnapshot passes to the wrapped store when it keeps snapshots
// ([eventstore.Snapshots]), and does nothing otherwise.
func (w wakingAppends) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if ss, ok := w.Store.(eventstore.Snapshots); ok {
		return ss.SaveSnapshot(ctx, snap)
	}
	return nil
}

// LatestSnapshot passes to the wrapped store when it keeps snapshots
// ([eventstore.Snapshots]), and finds none otherwise.
func (w wakingAppends) LatestSnapshot(ctx context.Context, stream eventstore.StreamID, usable func(eventstore.Snapshot) bool) (eventstore.Snapshot, bool, error) {
	if ss, ok := w.Store.(eventstore.Snapshots); ok {
		return ss.LatestSnapshot(ctx, stream, usable)
	}
	return eventstore.Snapshot{}, false, nil
}
