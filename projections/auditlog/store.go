package auditlog

import (
	"context"
	"errors"
	"fmt"
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

// ErrInvalid is returned for a request that cannot be answered as asked:
// a limit out of range, a leaf index or tree size that makes no sense, a
// page of leaves that does not continue the log.
var ErrInvalid = errors.New("auditlog: invalid request")

// MaxLimit is the largest page of entries or checkpoints one read returns.
const MaxLimit = 1000

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
	// is the tenant's size, and its hashes start at the first one the
	// entries add; leaves that do not are refused with [ErrInvalid],
	// and a position to that is not after from too.
	Append(ctx context.Context, from, to eventstore.Position, leaves []Leaves) error
	// Sizes returns the number of leaves of each tenant named that has
	// any.
	Sizes(ctx context.Context, tenants []string) (map[string]int64, error)
	// ReadHashes returns a tenant's stored hashes at the tlog indexes
	// given ([tlog.StoredHashIndex]), in that order; a missing one is an
	// error matching [ErrNotFound].
	ReadHashes(ctx context.Context, tenant string, indexes []int64) ([]tlog.Hash, error)
	// Entries returns up to limit (1 to [MaxLimit], else [ErrInvalid]) of
	// a tenant's entries that match f, in leaf order, with an Index above
	// after (-1 for the first).
	Entries(ctx context.Context, tenant string, f Filter, after int64, limit int) ([]Entry, error)
	// AddCheckpoint keeps a signed checkpoint, unless the tenant has one
	// of that size already (then it does nothing).
	AddCheckpoint(ctx context.Context, tenant string, c SignedCheckpoint) error
	// Checkpoints returns up to limit (1 to [MaxLimit], else
	// [ErrInvalid]) of a tenant's checkpoints with a size above after,
	// smallest first; LatestCheckpoint the largest one
	// ([ErrNotFound] when there is none).
	Checkpoints(ctx context.Context, tenant string, after int64, limit int) ([]SignedCheckpoint, error)
	LatestCheckpoint(ctx context.Context, tenant string) (SignedCheckpoint, error)
	// Unpublished returns up to limit (1 to [MaxLimit]) checkpoints not
	// marked published, oldest first; MarkPublished marks one.
	Unpublished(ctx context.Context, limit int) ([]TenantCheckpoint, error)
	MarkPublished(ctx context.Context, tenant string, size int64) error
	// Unsigned returns the tenants whose log has grown beyond their
	// latest checkpoint, with their sizes.
	Unsigned(ctx context.Context) (map[string]int64, error)
	// Tenants returns every tenant that has a log or a checkpoint, in
	// order: after a Reset, the ones whose checkpoints a rebuild must
	// check.
	Tenants(ctx context.Context) ([]string, error)
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
	EventID    string    // one event
	Since      time.Time // recorded at or after
	Until      time.Time // recorded before
}

// TenantCheckpoint is a tenant's signed checkpoint.
type TenantCheckpoint struct {
	Tenant string
	SignedCheckpoint
}

// SignedCheckpoint is a checkpoint as signed and kept.
type SignedCheckpoint struct {
	Checkpoint
	// Note is the signed note: the checkpoint's text and its signature.
	Note []byte
	// SignedAt is when it was signed.
	SignedAt time.Time
}

// CheckAppend returns an error matching [ErrInvalid] unless to is after
// from and every tenant's leaves are well formed: consecutive indexes,
// the tenant named once, and exactly the hashes the entries add, from
// the first one they add. A [Store] checks an append with it before it
// writes; that the first index is the tenant's size it checks itself.
func CheckAppend(from, to eventstore.Position, leaves []Leaves) error {
	if !from.Less(to) {
		return fmt.Errorf("%w: the progress would move from %s to %s", ErrInvalid, from, to)
	}
	seen := make(map[string]bool, len(leaves))
	for _, l := range leaves {
		if l.Tenant == "" || seen[l.Tenant] {
			return fmt.Errorf("%w: tenant %q is empty or named twice", ErrInvalid, l.Tenant)
		}
		seen[l.Tenant] = true
		if len(l.Entries) == 0 {
			return fmt.Errorf("%w: no entries for tenant %s", ErrInvalid, l.Tenant)
		}
		first := l.Entries[0].Index
		for i, e := range l.Entries {
			if e.Index != first+int64(i) || e.Stream.Tenant != l.Tenant {
				return fmt.Errorf("%w: entry %d of tenant %s is at index %d of tenant %s", ErrInvalid, i, l.Tenant, e.Index, e.Stream.Tenant)
			}
		}
		if first < 0 {
			return fmt.Errorf("%w: tenant %s's leaves start at %d", ErrInvalid, l.Tenant, first)
		}
		n := first + int64(len(l.Entries))
		if l.First != tlog.StoredHashIndex(0, first) || int64(len(l.Hashes)) != tlog.StoredHashCount(n)-tlog.StoredHashCount(first) {
			return fmt.Errorf("%w: tenant %s's leaves %d to %d come with hashes %d to %d", ErrInvalid, l.Tenant, first, n-1, l.First, l.First+int64(len(l.Hashes))-1)
		}
	}
	return nil
}

// OrderHashes returns the hashes found at indexes, in the order of
// indexes, or an error matching [ErrNotFound] naming the first one
// missing. Stores use it to answer ReadHashes from an unordered query.
func OrderHashes(tenant string, indexes []int64, found map[int64]tlog.Hash) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := found[x]
		if !ok {
			return nil, fmt.Errorf("%w: tenant %s's log has no hash %d", ErrNotFound, tenant, x)
		}
		out[i] = h
	}
	return out, nil
}
