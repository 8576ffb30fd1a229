package auditlog

import (
	"context"
	"errors"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/eventstore"
)

// ErrStale is returned by [Store.Append] when the log's progress is no
// longer where the append started from: another node logged the page.
var ErrStale = errors.New("auditlog: progress moved")

// ErrNotFound is returned for a tenant, leaf or checkpoint the log does
// not hold.
var ErrNotFound = errors.New("auditlog: not found")

// Store is where the server keeps every tenant's log: the entries, the
// tree's hashes as tlog stores them, the signed checkpoints, and how far
// in the event store the logs have got. The read-model databases
// implement it (projections/postgres, projections/sqlite), and pass one
// conformance suite. All methods are safe for concurrent use, also by
// several processes on one database.
type Store interface {
	// Progress is the position of the last event logged (the zero
	// position when none is).
	Progress(ctx context.Context) (eventstore.Position, error)
	// Append writes the leaves of a page of events, every tenant's, and
	// moves the progress from from to to, in one transaction that writes
	// nothing, and returns [ErrStale], unless the progress is still at
	// from. Each tenant's entries continue its log: the first one's Index
	// is the tenant's size.
	Append(ctx context.Context, from, to eventstore.Position, leaves []Leaves) error
	// Sizes returns the number of leaves of each tenant named that has
	// any.
	Sizes(ctx context.Context, tenants []string) (map[string]int64, error)
	// ReadHashes returns a tenant's stored hashes at the tlog indexes
	// given ([tlog.StoredHashIndex]), in that order; a missing one is an
	// error.
	ReadHashes(ctx context.Context, tenant string, indexes []int64) ([]tlog.Hash, error)
	// Entries returns up to limit of a tenant's entries that match f, in
	// leaf order, with an Index above after (-1 for the first).
	Entries(ctx context.Context, tenant string, f Filter, after int64, limit int) ([]Entry, error)
	// AddCheckpoint keeps a signed checkpoint, unless the tenant has one
	// of that size already (then it does nothing).
	AddCheckpoint(ctx context.Context, tenant string, c SignedCheckpoint) error
	// Checkpoints returns up to limit of a tenant's checkpoints with a
	// size above after, smallest first; LatestCheckpoint the largest one
	// ([ErrNotFound] when there is none).
	Checkpoints(ctx context.Context, tenant string, after int64, limit int) ([]SignedCheckpoint, error)
	LatestCheckpoint(ctx context.Context, tenant string) (SignedCheckpoint, error)
	// Unsigned returns the tenants whose log has grown beyond their
	// latest checkpoint, with their sizes.
	Unsigned(ctx context.Context) (map[string]int64, error)
	// Reset deletes every log and the progress (not the checkpoints,
	// which a rebuild must agree with), in one transaction.
	Reset(ctx context.Context) error
}

// Leaves are the new leaves of one tenant's log.
type Leaves struct {
	Tenant  string
	Entries []Entry
	// Hashes are the tree hashes the entries add, as tlog stores them:
	// Hashes[i] at tlog index First+i.
	First  int64
	Hashes []tlog.Hash
}

// Filter selects entries; zero fields select everything.
type Filter struct {
	StreamType string    // aggregate type: "client", "tenant"
	StreamID   string    // one aggregate (a client id)
	Type       string    // event type
	Actor      string    // exact actor
	Since      time.Time // recorded at or after
	Until      time.Time // recorded before
}

// SignedCheckpoint is a checkpoint as signed and kept.
type SignedCheckpoint struct {
	Checkpoint
	// Note is the signed note: the checkpoint's text and its signature.
	Note []byte
	// SignedAt is when it was signed.
	SignedAt time.Time
}
