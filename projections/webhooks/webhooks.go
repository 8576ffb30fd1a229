// Package webhooks keeps what the platform knows of every tenant's webhook
// endpoints besides their events: the endpoints as the domain folds them
// (a projection of the webhook streams, with its own checkpoint), where
// each endpoint's deliveries have got (a durable cursor into the tenant's
// events, fenced by a lease so that one node at a time delivers an
// endpoint, in order), and the log of delivery attempts.
//
// The Store is implemented by the read-model databases
// (projections/postgres, projections/sqlite) and checked by one
// conformance suite (webhookstest). The projection that fills it lives
// here; the deliverer that reads and advances it in the subpackage
// deliver.
package webhooks

import (
	"context"
	"errors"
	"time"

	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
)

// StreamType is the event store stream type of webhook endpoints; an
// endpoint's stream is {tenant, "webhook", id}.
const StreamType = "webhook"

// Stream is the stream of endpoint id of tenant.
func Stream(tenant, id string) eventstore.StreamID {
	return eventstore.StreamID{Tenant: tenant, Type: StreamType, ID: id}
}

// Errors of the Store.
var (
	// ErrNotFound: no such endpoint in that tenant (deleted ones
	// included: a deleted endpoint is not found).
	ErrNotFound = errors.New("webhooks: not found")
	// ErrStale: the projection's checkpoint, or the delivery's epoch,
	// is no longer what the write started from.
	ErrStale = errors.New("webhooks: stale")
	// ErrLeaseLost: the endpoint's delivery lease is not (or no longer)
	// the caller's.
	ErrLeaseLost = errors.New("webhooks: lease lost")
	// ErrInvalid: a request that cannot be answered as asked (a limit out
	// of range).
	ErrInvalid = errors.New("webhooks: invalid request")
	// ErrTooMany: an on-demand send (ping, resend) refused because its
	// tenant has as many under way, or has sent as many lately, as it
	// may. The error is a [*LimitError], which says when to try again.
	ErrTooMany = errors.New("webhooks: too many on-demand sends")
)

// LimitError is an on-demand send refused by a limit: it matches
// [ErrTooMany].
type LimitError struct {
	// Reason says which limit, in words for the caller.
	Reason string
	// RetryAfter is when a send may be accepted again.
	RetryAfter time.Duration
}

func (e *LimitError) Error() string { return ErrTooMany.Error() + ": " + e.Reason }

// Unwrap makes the error match [ErrTooMany].
func (e *LimitError) Unwrap() error { return ErrTooMany }

// MaxLimit is the largest page of attempts one read returns.
const MaxLimit = 1000

// Endpoint is one endpoint as the read side holds it.
type Endpoint struct {
	Tenant string
	// State is the domain's fold of the endpoint's events.
	State webhook.State
	// Position is the store position of the endpoint's last event.
	Position eventstore.Position
	// Delivery is where its deliveries stand.
	Delivery Delivery
}

// Delivery is the durable state of one endpoint's deliveries.
type Delivery struct {
	// Cursor: every event of the tenant up to it has been delivered to the
	// endpoint, or did not match its types. A new endpoint starts at the
	// position of its webhook.created event; a webhook.replayed event sets
	// it to the replay's cursor.
	Cursor eventstore.Position
	// Epoch grows whenever something other than the deliverer moves the
	// cursor or clears the failures (a replay, an activation), so that a
	// deliverer working from an older epoch cannot undo it.
	Epoch int64
	// Failures counts the failed attempts at the event after Cursor since
	// its first failure, FailingSince; both are zero after a success.
	Failures     int
	FailingSince time.Time
	// NextAttempt is when that event is tried again (zero: at once).
	NextAttempt time.Time
	// LastAttempt, LastStatus and LastError describe the latest attempt
	// (zero before any).
	LastAttempt time.Time
	LastStatus  int
	LastError   string
	// Owner is the deliverer holding the lease, until LeaseUntil.
	Owner      string
	LeaseUntil time.Time
}

// Trigger says why an attempt was made.
type Trigger string

// The triggers of attempts.
const (
	TriggerDelivery Trigger = "delivery" // in order, from the cursor
	TriggerResend   Trigger = "resend"   // one event again, on request
	TriggerPing     Trigger = "ping"     // a test message, on request
)

// Attempt is one entry of an endpoint's delivery log.
type Attempt struct {
	// ID orders an endpoint's attempts; the store assigns it.
	ID      int64
	Tenant  string
	Webhook string
	// MessageID is the webhook-id header: the event's id (so a
	// redelivery has the same one), or a fresh id for a ping.
	MessageID string
	EventType string
	// Cursor is the event's events API cursor ("" for a ping).
	Cursor  string
	Trigger Trigger
	At      time.Time
	// Status is the HTTP status answered (0 when there was no answer).
	Status  int
	Latency time.Duration
	// Error says why the attempt failed ("" when it succeeded).
	Error string
	// NextRetry is when a failed delivery is tried again (zero when it
	// is not, or the endpoint was disabled).
	NextRetry time.Time
}

// Succeeded reports whether the receiver accepted the message (2xx).
func (a Attempt) Succeeded() bool { return a.Status >= 200 && a.Status < 300 && a.Error == "" }

// Change is what the projection writes for one endpoint: its new state
// and position, and, when its event (the one at Position) started or
// restarted its deliveries (created, replayed), the cursor they start
// after. Starting also clears the failures and grows the epoch; so does
// an activation (Resume).
type Change struct {
	Tenant   string
	State    webhook.State
	Position eventstore.Position
	// Start, when set, moves the delivery cursor to *Start.
	Start *eventstore.Position
	// Resume clears the failures and grows the epoch without moving the
	// cursor (an activation).
	Resume bool
}

// Store holds the endpoints, their deliveries and the attempt log. All
// methods are safe for concurrent use, also by several processes on one
// database.
type Store interface {
	// Checkpoint is the position of the last event the projection
	// applied (zero when none).
	Checkpoint(ctx context.Context) (eventstore.Position, error)
	// Apply writes changes and moves the checkpoint from from to to in
	// one transaction, which writes nothing and returns [ErrStale] unless
	// the checkpoint is still at from. A change of a new endpoint creates
	// its delivery, at Start. Changes of one endpoint apply in the order
	// given. A delivery remembers the position of the last change that
	// started or resumed it: a Start or Resume at or before it (events
	// applied again after [Store.ResetEndpoints]) leaves it as it is.
	Apply(ctx context.Context, from, to eventstore.Position, changes []Change) error
	// States returns the current states of the endpoints of tenant named
	// by ids that the store holds (deleted ones included), for the
	// projection to fold events onto.
	States(ctx context.Context, tenant string, ids []string) (map[string]webhook.State, error)

	// Endpoint returns one endpoint of tenant; [ErrNotFound] when the
	// tenant has no such endpoint or it is deleted.
	Endpoint(ctx context.Context, tenant, id string) (Endpoint, error)
	// Endpoints returns tenant's endpoints, deleted ones left out, in the
	// order of creation.
	Endpoints(ctx context.Context, tenant string) ([]Endpoint, error)

	// Acquire gives owner the lease, until until, of up to limit active
	// endpoints whose lease is free, expired at now, or owner's already,
	// and returns every endpoint owner then holds.
	Acquire(ctx context.Context, owner string, now, until time.Time, limit int) ([]Endpoint, error)
	// Release gives up owner's lease of an endpoint (nothing when it is
	// not owner's).
	Release(ctx context.Context, owner, tenant, id string) error
	// Record stores what a deliverer did: the endpoint's delivery becomes
	// d (its cursor never moves back) and attempts are added to its log,
	// in one transaction that writes nothing and returns [ErrLeaseLost]
	// unless owner holds an unexpired lease at now, or [ErrStale] unless
	// the delivery's epoch is d.Epoch. Owner and LeaseUntil of d are
	// ignored: the lease stays as it is.
	Record(ctx context.Context, owner, tenant, id string, now time.Time, d Delivery, attempts []Attempt) error
	// Log adds attempts made outside the deliveries (pings, resends) and
	// returns the IDs it gave them, in the order of attempts.
	Log(ctx context.Context, attempts []Attempt) ([]int64, error)
	// Attempts returns up to limit (1 to [MaxLimit], else [ErrInvalid])
	// of an endpoint's attempts with an ID below before (0: the newest),
	// newest first.
	Attempts(ctx context.Context, tenant, id string, before int64, limit int) ([]Attempt, error)
	// Prune deletes attempts older than before, and all but the newest
	// keep of each endpoint, and returns how many it deleted.
	Prune(ctx context.Context, before time.Time, keep int) (int, error)
	// Reset deletes every endpoint, delivery and attempt and the
	// checkpoint.
	Reset(ctx context.Context) error
	// ResetEndpoints deletes every endpoint and the checkpoint but keeps
	// the deliveries and the attempt log, for a rebuild that must not
	// send again what was delivered: applying the events again leaves
	// each kept delivery where it is (see Apply).
	ResetEndpoints(ctx context.Context) error
}
