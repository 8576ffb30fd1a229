// Package eventstore defines the append-only store that holds every Clavis
// event, the envelope those events travel in, and the errors a backend
// returns. Backends live in subpackages (postgres, sqlite); storetest holds
// the conformance suite that every backend passes.
//
// The contract, in short:
//
//   - Append is atomic: all events of a call and all its uniqueness claims
//     commit together, or nothing does.
//   - A stream's versions are dense (1, 2, 3, …) and an append states the
//     version it expects to extend; a mismatch returns [ErrConflict].
//   - Every committed event has a [Position]. Reading all events (or one
//     tenant's) in position order never skips an event: a reader that
//     resumes from the last position it saw sees every event exactly once,
//     even when transactions commit out of the order they started in.
//   - Every event carries its tenant; tenant-scoped reads never return
//     another tenant's events.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// NoStream is the expected version of a stream that must not exist yet.
const NoStream int64 = 0

// StreamID names one aggregate's stream. Streams are scoped to a tenant:
// the same Type and ID in two tenants are two unrelated streams.
type StreamID struct {
	Tenant string `json:"tenant"`
	Type   string `json:"type"` // aggregate type: "tenant", "client"
	ID     string `json:"id"`   // aggregate id
}

func (s StreamID) String() string { return s.Tenant + "/" + s.Type + "/" + s.ID }

// Validate reports a StreamID with an empty part.
func (s StreamID) Validate() error {
	if s.Tenant == "" || s.Type == "" || s.ID == "" {
		return fmt.Errorf("%w: stream id %q needs a tenant, a type and an id", ErrInvalid, s.String())
	}
	return nil
}

// Metadata travels with every event: who caused it, in answer to what, and
// when. It is part of what an auditor verifies.
type Metadata struct {
	// Actor identifies who issued the command: "root", "client:{id}",
	// "user:{sub}@client:{id}", "system".
	Actor string `json:"actor"`
	// CorrelationID ties together everything one request caused.
	CorrelationID string `json:"correlation_id,omitempty"`
	// CausationID is the id of the message (request or event) that caused
	// this event.
	CausationID string `json:"causation_id,omitempty"`
	// OccurredAt is when the command was decided, UTC, microsecond precision.
	OccurredAt time.Time `json:"occurred_at"`
	// TraceParent is the W3C trace context of the request, so a trace can be
	// followed from HTTP through the store to every projection.
	TraceParent string `json:"traceparent,omitempty"`
	// Reason is a free-text justification given by the actor, if any.
	Reason string `json:"reason,omitempty"`
	// Source is the network address of the client that sent the request,
	// as the server decided it (honouring forwarding headers only from
	// trusted proxies); empty when there was none (CLI, system).
	Source string `json:"source,omitempty"`
	// UserAgent is the request's User-Agent header, at most
	// [MaxUserAgent] bytes; empty when there was none.
	UserAgent string `json:"user_agent,omitempty"`
}

// MaxUserAgent is the most bytes of a User-Agent header an event keeps.
const MaxUserAgent = 512

// Event is the envelope the store keeps. Callers fill everything but
// Stream, Version, Position and RecordedAt, which Append assigns.
type Event struct {
	// ID is unique across the store (a UUID). It doubles as the message id
	// on NATS, so a republished event is de-duplicated.
	ID string `json:"id"`
	// Stream and Version place the event in its aggregate's history.
	Stream  StreamID `json:"stream"`
	Version int64    `json:"version"`
	// Type is the event's wire name ("client.registered"); Schema is the
	// version of its Data shape.
	Type   string `json:"type"`
	Schema int    `json:"schema"`
	// Data is the event's JSON payload, kept byte for byte.
	Data json.RawMessage `json:"data"`
	Meta Metadata        `json:"meta"`
	// Position is the event's place in the store's global order.
	Position Position `json:"position"`
	// RecordedAt is when the store committed the event.
	RecordedAt time.Time `json:"recorded_at"`
}

// Position is a place in the store's global order. Positions are compared
// with [Position.Less]; their fields are meaningful only to the backend
// that issued them, and a reader only stores and hands them back.
//
// Commit orders appends: on PostgreSQL it is the 64-bit id of the
// transaction that wrote the event, on SQLite the position of the first
// event its append wrote. Seq orders the events within and across
// commits. The zero Position lies before every event.
type Position struct {
	Commit uint64 `json:"commit"`
	Seq    int64  `json:"seq"`
}

// Less reports whether p comes before q in the global order.
func (p Position) Less(q Position) bool {
	if p.Commit != q.Commit {
		return p.Commit < q.Commit
	}
	return p.Seq < q.Seq
}

// IsZero reports whether p is the start of the store.
func (p Position) IsZero() bool { return p == Position{} }

func (p Position) String() string { return fmt.Sprintf("%d.%d", p.Commit, p.Seq) }

// ParsePosition reads the form written by [Position.String].
func ParsePosition(s string) (Position, error) {
	commit, seq, ok := strings.Cut(s, ".")
	c, err1 := strconv.ParseInt(commit, 10, 64)
	q, err2 := strconv.ParseInt(seq, 10, 64)
	if !ok || err1 != nil || err2 != nil || c < 0 || q < 0 {
		return Position{}, fmt.Errorf("%w: position %q", ErrInvalid, s)
	}
	return Position{Commit: uint64(c), Seq: q}, nil
}

// Claim reserves (or, with Release, gives back) a unique value in the same
// transaction as an append. Global claims are unique across the store;
// the others within the tenant of the stream appended to. A claim belongs
// to the stream that made it and only that stream can release it; a value
// that is held, even by the claiming stream, is taken. An append's claims
// apply in the order given, so "release A, claim B" moves a claim.
//
// A Check claim takes nothing: it makes the append conditional on no
// stream holding the value (a suspended tenant's marker, say), failing
// it with a *[ClaimError] otherwise. A check and an append that claims or
// releases the same value never overlap: they behave as if one committed
// entirely before the other began, and when both commit the first one's
// events come first in the global order. Checks of one value do not wait
// for each other.
type Claim struct {
	Kind    string
	Value   string
	Global  bool
	Release bool
	Check   bool
}

// Store is an append-only, multi-tenant event store.
//
// All methods are safe for concurrent use. Each takes a context; a
// context that has ended before the call aborts it with an error wrapping
// the context's error. An Append that has started writing runs to its end
// whatever its context does afterwards, so its outcome is never unknown:
// an error means nothing was written.
type Store interface {
	// Append writes events to the end of stream, whose current version must
	// equal expected ([NoStream] for a new stream), and applies claims, all
	// in one transaction. Once it has committed, it sets each event's
	// Stream, Version (expected+1, expected+2, …), Position and RecordedAt,
	// and returns the position of the last one; on error it leaves the
	// events as they were.
	//
	// It returns an error matching [ErrConflict] (a *ConflictError) when the
	// stream's version is not expected, including when a concurrent Append
	// won the race; [ErrClaimTaken] (a *ClaimError) when another stream
	// holds a claimed value; [ErrDuplicateEvent] when an event ID exists;
	// [ErrInvalid] for an empty batch or a malformed event. On any of these
	// errors nothing is written. It returns [ErrUnavailable] when the
	// database cannot be reached; an append whose connection broke after
	// it was sent may then have committed, and appending the same events
	// again fails with [ErrConflict] or [ErrDuplicateEvent] if it did.
	Append(ctx context.Context, stream StreamID, expected int64, events []Event, claims ...Claim) (Position, error)

	// ReadStream returns the events of stream with Version > after, in
	// version order. A stream with no events yields an empty slice, not an
	// error.
	ReadStream(ctx context.Context, stream StreamID, after int64) ([]Event, error)

	// ReadAll returns up to limit (at most [MaxRead]) events that come after the position
	// after, in global order, across all tenants. It only returns events
	// whose place in the order is final: no event that commits later can
	// land before the last event returned, so a reader that resumes from
	// the last position it saw never skips one.
	ReadAll(ctx context.Context, after Position, limit int) ([]Event, error)

	// ReadTenant is ReadAll restricted to one tenant's events.
	ReadTenant(ctx context.Context, tenant string, after Position, limit int) ([]Event, error)

	// Head returns the position of the newest event a reader can see
	// (the zero Position for an empty store).
	Head(ctx context.Context) (Position, error)

	// Close releases the store's resources.
	Close() error
}

// Sentinel errors. Backends wrap them; match with errors.Is.
var (
	ErrConflict       = errors.New("eventstore: version conflict")
	ErrClaimTaken     = errors.New("eventstore: unique value already claimed")
	ErrDuplicateEvent = errors.New("eventstore: duplicate event id")
	ErrInvalid        = errors.New("eventstore: invalid request")
	ErrClosed         = errors.New("eventstore: store closed")
	// ErrUnavailable wraps a failure to reach the database: it refused or
	// dropped the connection, is restarting, or shutting down. Nothing is
	// wrong with the request, which may be sent again later. A write that
	// fails with it may still have been applied when the connection broke
	// after the database received it.
	ErrUnavailable = errors.New("eventstore: store unavailable")
)

// ConflictError says which stream did not have the expected version.
type ConflictError struct {
	Stream   StreamID
	Expected int64
	Actual   int64 // -1 when the backend could not tell (a lost race)
}

func (e *ConflictError) Error() string {
	if e.Actual < 0 {
		return fmt.Sprintf("eventstore: version conflict on %s: expected version %d, a concurrent append won", e.Stream, e.Expected)
	}
	return fmt.Sprintf("eventstore: version conflict on %s: expected version %d, stream is at %d", e.Stream, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ClaimError says which unique value was taken.
type ClaimError struct {
	Kind  string
	Value string
}

func (e *ClaimError) Error() string {
	return fmt.Sprintf("eventstore: %s %q is already taken", e.Kind, e.Value)
}

// Is makes errors.Is(err, ErrClaimTaken) true.
func (e *ClaimError) Is(target error) bool { return target == ErrClaimTaken }

// MaxBatch is the largest number of events one Append takes.
const MaxBatch = 1000

// MaxRead is the largest limit a read takes.
const MaxRead = 10_000

// PrepareAppend validates an Append's arguments and brings the events'
// times to UTC microseconds, the precision both backends keep. Backends
// call it first so that they all refuse the same malformed requests the
// same way and read back what they were given.
func PrepareAppend(stream StreamID, expected int64, events []Event, claims []Claim) error {
	if err := stream.Validate(); err != nil {
		return err
	}
	if !text(stream.Tenant, stream.Type, stream.ID) {
		return fmt.Errorf("%w: stream id is not valid UTF-8 or holds a NUL byte", ErrInvalid)
	}
	if expected < 0 {
		return fmt.Errorf("%w: expected version %d is negative", ErrInvalid, expected)
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: no events to append", ErrInvalid)
	}
	if len(events) > MaxBatch {
		return fmt.Errorf("%w: %d events in one append, at most %d", ErrInvalid, len(events), MaxBatch)
	}
	seen := make(map[string]bool, len(events))
	for i, e := range events {
		switch {
		case e.ID == "":
			return fmt.Errorf("%w: event %d has no id", ErrInvalid, i)
		case seen[e.ID]:
			return fmt.Errorf("%w: event id %s appears twice in one append", ErrDuplicateEvent, e.ID)
		case e.Type == "":
			return fmt.Errorf("%w: event %d has no type", ErrInvalid, i)
		case e.Schema < 1 || e.Schema > math.MaxInt32:
			return fmt.Errorf("%w: event %d has schema version %d", ErrInvalid, i, e.Schema)
		case !text(e.ID, e.Type, e.Meta.Actor, e.Meta.CorrelationID, e.Meta.CausationID, e.Meta.TraceParent, e.Meta.Reason, e.Meta.Source, e.Meta.UserAgent):
			return fmt.Errorf("%w: event %d has a text field that is not valid UTF-8 or holds a NUL byte", ErrInvalid, i)
		case !json.Valid(e.Data):
			return fmt.Errorf("%w: event %d data is not valid JSON", ErrInvalid, i)
		}
		seen[e.ID] = true
		events[i].Meta.OccurredAt = e.Meta.OccurredAt.UTC().Truncate(time.Microsecond)
	}
	for _, c := range claims {
		if c.Kind == "" || c.Value == "" {
			return fmt.Errorf("%w: claim needs a kind and a value", ErrInvalid)
		}
		if c.Check && c.Release {
			return fmt.Errorf("%w: a claim cannot both check and release a value", ErrInvalid)
		}
		if !text(c.Kind, c.Value) {
			return fmt.Errorf("%w: claim is not valid UTF-8 or holds a NUL byte", ErrInvalid)
		}
	}
	return nil
}

// text reports whether every s is valid UTF-8 without NUL bytes, which
// PostgreSQL refuses in text columns.
func text(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// CheckRead validates a read's limit.
func CheckRead(limit int) error {
	if limit <= 0 || limit > MaxRead {
		return fmt.Errorf("%w: limit %d is not within 1..%d", ErrInvalid, limit, MaxRead)
	}
	return nil
}

// ClaimScope is the tenant a claim is unique within: the stream's tenant,
// or "" for a global claim.
func ClaimScope(stream StreamID, c Claim) string {
	if c.Global {
		return ""
	}
	return stream.Tenant
}

// Snapshot is an aggregate's state at one version of its stream, as the
// aggregate's own fold left it, so that a reader of the stream's past
// can start from it rather than from the first event. It is a cache
// kept beside the events, never a source of truth: one that is missing
// costs only speed, and a reader checks one it uses against the stream
// (the event at Version must have EventID and Position) before trusting
// it. Data is the aggregate's own encoding of its state; a snapshot may
// hold secrets the aggregate keeps (secret hashes), so it is server-side
// data, never shown.
type Snapshot struct {
	Stream  StreamID
	Version int64
	// EventID and Position are those of the stream's event at Version.
	EventID  string
	Position Position
	// RecordedAt is the latest RecordedAt of the stream's events up to
	// Version: the snapshot is part of the history at a time at or after
	// it, and only then.
	RecordedAt time.Time
	Data       []byte
}

// Snapshots is what a [Store] that keeps [Snapshot]s offers besides. Both
// backends implement it; a caller finds it with a type assertion and
// does without when a store lacks it.
type Snapshots interface {
	// SaveSnapshot stores s, replacing the stream's snapshot at the same
	// version if there is one.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// LatestSnapshot returns the stream's snapshot with the highest
	// version that usable accepts (usable sees every field but Data),
	// and false when there is none.
	LatestSnapshot(ctx context.Context, stream StreamID, usable func(Snapshot) bool) (Snapshot, bool, error)
}
