// Package aggregate connects the domain to the event store: it loads a
// stream and decodes it into domain events, and it appends the events a
// command decided, in envelopes that carry their metadata and the
// uniqueness claims the events ask for. [Execute] is the whole command
// cycle: load, replay, decide, append with the loaded version as the
// expected one, so a concurrent change is a conflict, never a lost update.
package aggregate

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/eventstore"
)

// Decoder turns a stored event back into its domain event, failing with
// domain.ErrUnknownEvent or domain.ErrCorruptEvent.
type Decoder func(eventType string, schemaVersion int, data []byte) (domain.Event, error)

// LoadError names the stored event that could not be decoded.
type LoadError struct {
	Stream  eventstore.StreamID
	Version int64
	EventID string
	Type    string
	Err     error
}

func (e *LoadError) Error() string {
	return fmt.Sprintf("load %s: event %s (version %d, type %q): %v", e.Stream, e.EventID, e.Version, e.Type, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// Load reads stream and decodes its events. It returns the events and
// the stream's version (0 for a stream with no events). A stored event
// that does not decode fails the load with a *LoadError.
func Load(ctx context.Context, s eventstore.Store, stream eventstore.StreamID, decode Decoder) ([]domain.Event, int64, error) {
	stored, err := s.ReadStream(ctx, stream, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("load %s: %w", stream, err)
	}
	events := make([]domain.Event, len(stored))
	for i, e := range stored {
		d, err := decode(e.Type, e.Schema, e.Data)
		if err != nil {
			return nil, 0, &LoadError{Stream: stream, Version: e.Version, EventID: e.ID, Type: e.Type, Err: err}
		}
		events[i] = d
	}
	var version int64
	if n := len(stored); n > 0 {
		version = stored[n-1].Version
	}
	return events, version, nil
}

// Envelopes wraps domain events for the store: each gets an id from newID,
// its wire name, schema version and JSON payload, and meta. It also
// returns the claims the events ask for, in order.
func Envelopes(events []domain.Event, meta eventstore.Metadata, newID func() string) ([]eventstore.Event, []eventstore.Claim, error) {
	out := make([]eventstore.Event, len(events))
	var claims []eventstore.Claim
	for i, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return nil, nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
		}
		out[i] = eventstore.Event{ID: newID(), Type: e.EventType(), Schema: e.SchemaVersion(), Data: data, Meta: meta}
		if c, ok := e.(domain.Claimer); ok {
			for _, dc := range c.Claims() {
				claims = append(claims, eventstore.Claim{Kind: dc.Kind, Value: dc.Value, Global: dc.Global, Release: dc.Release})
			}
		}
	}
	return out, claims, nil
}

// Result is what [Execute] did.
type Result struct {
	// Events are the appended envelopes, with versions and positions; empty
	// when the command decided that nothing changes.
	Events []eventstore.Event
	// Version is the stream's version afterwards.
	Version int64
	// Position is the position of the last appended event (zero if none).
	Position eventstore.Position
}

// Command describes one command on one aggregate type A.
type Command[A any] struct {
	Stream eventstore.StreamID
	Decode Decoder
	// Replay rebuilds the aggregate from its history (possibly empty).
	Replay func([]domain.Event) (A, error)
	// Decide runs the command against the aggregate and returns the
	// events to append, or an error (a *domain.ValidationError, a
	// *domain.Error) that leaves the store untouched.
	Decide func(A) ([]domain.Event, error)
	Meta   eventstore.Metadata
	NewID  func() string
	// Conditions are claims the append makes after the events' own: checks
	// (eventstore.Claim.Check) that make it conditional on state outside
	// the stream, such as the tenant not being suspended.
	Conditions []eventstore.Claim
}

// Execute loads the stream, replays it, decides and appends the decided
// events expecting the loaded version. It appends nothing when Decide
// fails or decides nothing. Errors from the store keep their types
// (errors.Is eventstore.ErrConflict, ErrClaimTaken).
func Execute[A any](ctx context.Context, s eventstore.Store, c Command[A]) (Result, error) {
	history, version, err := Load(ctx, s, c.Stream, c.Decode)
	if err != nil {
		return Result{}, err
	}
	agg, err := c.Replay(history)
	if err != nil {
		return Result{}, fmt.Errorf("replay %s: %w", c.Stream, err)
	}
	events, err := c.Decide(agg)
	if err != nil {
		return Result{}, err
	}
	if len(events) == 0 {
		return Result{Version: version}, nil
	}
	envelopes, claims, err := Envelopes(events, c.Meta, c.NewID)
	if err != nil {
		return Result{}, err
	}
	pos, err := s.Append(ctx, c.Stream, version, envelopes, append(claims, c.Conditions...)...)
	if err != nil {
		return Result{}, err
	}
	return Result{Events: envelopes, Version: version + int64(len(envelopes)), Position: pos}, nil
}
