package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clavisiam/clavis/eventstore"
)

// ErrInvalid is returned for a query the read model cannot answer as
// asked: a page size outside 1..[MaxPage], an unknown client type in a
// filter, an event without a position.
var ErrInvalid = errors.New("projections: invalid request")

// Backend is the read model in one database: the queries of [ReadModel]
// and the write transactions a [Projector] runs. The subpackages postgres
// and sqlite implement it, each with its own SQL; nothing else needs to.
//
// All methods are safe for concurrent use, also by several processes on
// the same database: no two Updates ever write on the same checkpoint.
type Backend interface {
	ReadModel

	// Update runs one write of the projection name: it calls fn with
	// name's checkpoint (the zero position when there is none yet) and a
	// [Loader] that reads the views as they are; when fn returns changes,
	// it writes them and moves the checkpoint from the position fn was
	// given to Changes.Checkpoint, in one transaction that writes nothing
	// unless the checkpoint is still at that position. A Checkpoint that
	// is not beyond the given one is an error: a checkpoint never moves
	// back. When fn returns nil changes it writes nothing. An error from
	// fn, or from the database, leaves everything as it was and is
	// returned (fn's unwrapped).
	//
	// Concurrent Updates, from this process or another, may call fn at
	// the same time with the same checkpoint; only one of them writes, and
	// the others call fn again with the checkpoint it left (PostgreSQL).
	// Or they run one after the other (SQLite, where Update holds the
	// database's one write lock, which the event store's appends wait
	// for, while fn runs). Either way fn must not block on anything but
	// its Loader, and may be called more than once.
	Update(ctx context.Context, name string, fn UpdateFunc) error

	// Reset deletes every view of the read model and sets name's
	// checkpoint back to the zero position, in one transaction that waits
	// for a running Update of name to end.
	Reset(ctx context.Context, name string) error

	// Progress returns name's checkpoint and when the newest event it
	// covers was recorded (the zero Progress for a projection that has
	// applied nothing).
	Progress(ctx context.Context, name string) (Progress, error)
}

// UpdateFunc decides, for a [Backend.Update], what to write, given the
// checkpoint the write will move from.
type UpdateFunc func(ctx context.Context, checkpoint eventstore.Position, load Loader) (*Changes, error)

// Loader reads the current views for a [Backend.Update]. Keys that
// the read model does not hold are left out of the answer, in no error.
type Loader interface {
	// Tenants returns the views of the tenants with the given slugs.
	Tenants(ctx context.Context, slugs []string) ([]TenantView, error)
	// Clients returns the views of the clients with the given client ids,
	// in whichever tenant they are, and the tombstones of those deleted
	// (ClientView.Deleted).
	Clients(ctx context.Context, clientIDs []string) ([]ClientView, error)
}

// Changes is what one write transaction does to the read model: views to
// insert or replace whole, clients deleted, and the checkpoint that the
// changes bring the projection to. No view appears twice.
type Changes struct {
	Tenants []TenantView
	Clients []ClientView
	// Deleted are the clients to remove (if the read model holds them)
	// and to keep a tombstone of, at the version of their deletion.
	Deleted []ClientRef
	// Checkpoint is the position of the last event the changes apply.
	Checkpoint eventstore.Position
	// RecordedAt is when that event was recorded.
	RecordedAt time.Time
}

// ClientRef names one client of one tenant, at a version.
type ClientRef struct {
	Tenant   string
	ClientID string
	Version  int64
}

// Progress is a projection's checkpoint as stored.
type Progress struct {
	// Position is the checkpoint: every event up to it is applied.
	Position eventstore.Position
	// RecordedAt is when the event at Position was recorded (zero when
	// nothing is applied).
	RecordedAt time.Time
	// UpdatedAt is when the checkpoint last moved (zero when nothing is
	// applied).
	UpdatedAt time.Time
}

// EventError names the stored event that a projection could not apply.
// Err wraps domain.ErrUnknownEvent for an event type or schema version no
// decoder knows, and domain.ErrCorruptEvent for a payload that does not
// decode or an event that cannot follow the view's history (an update of a
// client never registered, a version gap). The projection stops at such
// an event: nothing of the batch that holds it is applied.
type EventError struct {
	EventID  string
	Stream   eventstore.StreamID
	Version  int64
	Type     string
	Position eventstore.Position
	Err      error
}

// Error names the event and the cause.
func (e *EventError) Error() string {
	return fmt.Sprintf("apply event %s (%s version %d, type %q, position %s): %v",
		e.EventID, e.Stream, e.Version, e.Type, e.Position, e.Err)
}

// Unwrap returns the cause.
func (e *EventError) Unwrap() error { return e.Err }

func eventError(e eventstore.Event, err error) *EventError {
	return &EventError{EventID: e.ID, Stream: e.Stream, Version: e.Version, Type: e.Type, Position: e.Position, Err: err}
}
