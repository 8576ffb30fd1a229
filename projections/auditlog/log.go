package auditlog

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/eventstore"
)

// Log is the server's side of the audit logs: it logs every event of
// the event store, tenant by tenant, into a [Store], signs the logs'
// checkpoints, and answers for them: sizes, roots, proofs, entries and
// exports.
//
// The event store is the only source of what gets logged: CatchUp reads
// it after the store's progress, so any number of Logs, in any number of
// processes, may work on one database; each event is logged once, in
// store order, whoever logs it (an append whose progress moved meanwhile
// writes nothing, and is read again).
type Log struct {
	store  Store
	events eventstore.Store
	log    *slog.Logger
	opts   options

	run sync.Mutex // held by CatchUp and Rebuild
}

type options struct {
	pageSize     int
	signInterval time.Duration
	keys         Keys
	publish      PublishFunc
	now          func() time.Time
}

// Option configures [New].
type Option func(*options) error

// ErrInvalidOption is wrapped by every error an [Option] returns.
var ErrInvalidOption = errors.New("auditlog: invalid option")

// WithPageSize sets how many events CatchUp reads and logs in one
// transaction, and Export reads at a time: 1..[eventstore.MaxRead]
// (default 1,000).
func WithPageSize(n int) Option {
	return func(o *options) error {
		if n < 1 || n > eventstore.MaxRead {
			return fmt.Errorf("%w: page size %d is not within 1..%d", ErrInvalidOption, n, eventstore.MaxRead)
		}
		o.pageSize = n
		return nil
	}
}

// WithSignInterval sets how often Run signs the checkpoints of the logs
// that grew: at least every second (default 5 s).
func WithSignInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Second {
			return fmt.Errorf("%w: sign interval %s is below a second", ErrInvalidOption, d)
		}
		o.signInterval = d
		return nil
	}
}

// WithKeys gives Run the tenants' signing keys: without it, Run logs
// events but signs nothing (Sign can still be called with keys).
func WithKeys(k Keys) Option {
	return func(o *options) error {
		if k == nil {
			return fmt.Errorf("%w: nil keys", ErrInvalidOption)
		}
		o.keys = k
		return nil
	}
}

// PublishFunc announces a checkpoint just signed, for example on NATS.
// It may be called more than once for one checkpoint (by several nodes,
// or again after a failure); what it publishes must be de-duplicated by
// tenant and size.
type PublishFunc func(ctx context.Context, tenant string, c SignedCheckpoint) error

// WithPublish makes Sign call publish with every checkpoint it adds. A
// publication that fails is logged; the checkpoint stays kept.
func WithPublish(publish PublishFunc) Option {
	return func(o *options) error {
		if publish == nil {
			return fmt.Errorf("%w: nil publish function", ErrInvalidOption)
		}
		o.publish = publish
		return nil
	}
}

// Keys gives the key that signs a tenant's audit log checkpoints. Its
// name is the log's origin.
type Keys interface {
	AuditSigner(ctx context.Context, tenant string) (note.Signer, error)
}

// New returns a Log of the events of events kept in store. Both are
// required; a nil logger logs nothing.
func New(store Store, events eventstore.Store, logger *slog.Logger, opts ...Option) (*Log, error) {
	if store == nil || events == nil {
		return nil, fmt.Errorf("%w: the audit log needs a store and an event store", ErrInvalidOption)
	}
	o := options{pageSize: 1000, signInterval: 5 * time.Second, now: time.Now}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Log{store: store, events: events, log: logger, opts: o}, nil
}

// CatchUp logs every event up to the event store's head as it is when
// CatchUp starts, a page at a time, and returns how many events this
// call logged (others may have been logged meanwhile by other Logs on
// the same database). An event this version cannot decode stops it with
// an error: the log never guesses what an event holds.
func (l *Log) CatchUp(ctx context.Context) (int, error) {
	l.run.Lock()
	defer l.run.Unlock()
	return l.catchUp(ctx)
}

func (l *Log) catchUp(ctx context.Context) (int, error) {
	head, err := l.events.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit log: %w", err)
	}
	total := 0
	for {
		from, err := l.store.Progress(ctx)
		if err != nil {
			return total, fmt.Errorf("audit log: %w", err)
		}
		if !from.Less(head) {
			return total, nil
		}
		events, err := l.events.ReadAll(ctx, from, l.opts.pageSize)
		if err != nil {
			return total, fmt.Errorf("audit log: %w", err)
		}
		if len(events) == 0 {
			return total, nil
		}
		leaves, err := l.leaves(ctx, events)
		if err != nil {
			if l.moved(ctx, from) {
				continue // the sizes read may be of a later progress
			}
			return total, fmt.Errorf("audit log: %w", err)
		}
		to := events[len(events)-1].Position
		err = l.store.Append(ctx, from, to, leaves)
		switch {
		case errors.Is(err, ErrStale):
			continue
		case errors.Is(err, ErrInvalid) && l.moved(ctx, from):
			continue // the sizes read were of a later progress
		case err != nil:
			return total, fmt.Errorf("audit log: %w", err)
		}
		total += len(events)
		l.log.Debug("logged events", "events", len(events), "position", to.String())
	}
}

// moved reports whether the progress is no longer from.
func (l *Log) moved(ctx context.Context, from eventstore.Position) bool {
	now, err := l.store.Progress(ctx)
	return err == nil && now != from
}

// leaves returns the leaves a page of events adds, tenant by tenant:
// each tenant's entries from its size on, and the hashes they add,
// computed from the frontier of its tree (one read a tenant).
func (l *Log) leaves(ctx context.Context, events []eventstore.Event) ([]Leaves, error) {
	var order []string
	byTenant := map[string][]eventstore.Event{}
	for _, e := range events {
		t := e.Stream.Tenant
		if _, ok := byTenant[t]; !ok {
			order = append(order, t)
		}
		byTenant[t] = append(byTenant[t], e)
	}
	sizes, err := l.store.Sizes(ctx, order)
	if err != nil {
		return nil, err
	}
	out := make([]Leaves, 0, len(order))
	for _, t := range order {
		n := sizes[t]
		tr := &memTree{hashes: map[int64]tlog.Hash{}}
		if n > 0 {
			idx := frontier(n)
			hs, err := l.store.ReadHashes(ctx, t, idx)
			if err != nil {
				return nil, err
			}
			for i, x := range idx {
				tr.hashes[x] = hs[i]
			}
		}
		evs := byTenant[t]
		lv := Leaves{Tenant: t, Entries: make([]Entry, len(evs)), First: tlog.StoredHashIndex(0, n)}
		for i, e := range evs {
			entry, err := NewEntry(n+int64(i), e)
			if err != nil {
				return nil, err
			}
			lv.Entries[i] = entry
			hs, err := tlog.StoredHashesForRecordHash(entry.Index, entry.LeafHash(), tr)
			if err != nil {
				return nil, fmt.Errorf("hash leaf %d of %s: %w", entry.Index, t, err)
			}
			at := tlog.StoredHashIndex(0, entry.Index)
			for j, h := range hs {
				tr.hashes[at+int64(j)] = h
			}
			lv.Hashes = append(lv.Hashes, hs...)
		}
		out = append(out, lv)
	}
	return out, nil
}

// frontier returns the tlog indexes of the complete subtrees a tree of
// n leaves ends in: what hashing the leaves after it reads.
func frontier(n int64) []int64 {
	var idx []int64
	for level := 0; n>>level > 0; level++ {
		if (n>>level)&1 == 1 {
			idx = append(idx, tlog.StoredHashIndex(level, n>>level-1))
		}
	}
	return idx
}

// memTree is a tlog.HashReader over hashes in memory.
type memTree struct{ hashes map[int64]tlog.Hash }

func (m *memTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := m.hashes[x]
		if !ok {
			return nil, fmt.Errorf("auditlog: hash %d is not in the frontier read", x)
		}
		out[i] = h
	}
	return out, nil
}

// catchUpGap is the least time between two catch-ups of Run: wake-ups
// that come sooner are served together, in larger pages, so that logging
// takes few transactions from the database the writers append to.
const catchUpGap = 100 * time.Millisecond

// Run keeps the logs current until ctx ends: it catches up when woken
// (at most every 100 ms) and at least every second, and signs the logs
// that grew at most every sign interval (when it has keys). It logs what
// fails and goes on.
func (l *Log) Run(ctx context.Context, wake <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var signed, caught time.Time
	for {
		if gap := catchUpGap - time.Since(caught); gap > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(gap):
			}
		}
		caught = time.Now()
		if _, err := l.CatchUp(ctx); err != nil && ctx.Err() == nil {
			l.log.Error("the audit log could not catch up with the event store", "error", err)
		}
		if l.opts.keys != nil && l.opts.now().Sub(signed) >= l.opts.signInterval && ctx.Err() == nil {
			signed = l.opts.now()
			if _, err := l.Sign(ctx, l.opts.keys); err != nil && ctx.Err() == nil {
				l.log.Error("audit checkpoints not signed", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		}
	}
}

// Rebuild drops every log and logs the event store again from its
// start, then checks every checkpoint kept against the rebuilt trees: a
// checkpoint the trees no longer agree with means the event store no
// longer holds the history that was signed, and is an error naming the
// tenant and the size. It returns how many events it logged.
func (l *Log) Rebuild(ctx context.Context) (int, error) {
	l.run.Lock()
	defer l.run.Unlock()
	if err := l.store.Reset(ctx); err != nil {
		return 0, fmt.Errorf("audit log: %w", err)
	}
	n, err := l.catchUp(ctx)
	if err != nil {
		return n, err
	}
	tenants, err := l.store.Tenants(ctx)
	if err != nil {
		return n, fmt.Errorf("audit log: %w", err)
	}
	var errs []error
	for _, t := range tenants {
		errs = append(errs, l.checkCheckpoints(ctx, t))
	}
	return n, errors.Join(errs...)
}

// ErrRewritten matches the error of a checkpoint the log no longer
// agrees with.
var ErrRewritten = errors.New("auditlog: the signed history is no longer in the event store")

// checkCheckpoints compares each of the tenant's checkpoints with its
// rebuilt tree.
func (l *Log) checkCheckpoints(ctx context.Context, tenant string) error {
	sizes, err := l.store.Sizes(ctx, []string{tenant})
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	size := sizes[tenant]
	var errs []error
	for after := int64(0); ; {
		cs, err := l.store.Checkpoints(ctx, tenant, after, MaxLimit)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("audit log: %w", err))...)
		}
		if len(cs) == 0 {
			return errors.Join(errs...)
		}
		for _, c := range cs {
			after = c.Size
			if c.Size > size {
				errs = append(errs, fmt.Errorf("%w: tenant %s's checkpoint at size %d: the log holds only %d events", ErrRewritten, tenant, c.Size, size))
				continue
			}
			root, err := l.Root(ctx, tenant, c.Size)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if root != c.Root {
				errs = append(errs, fmt.Errorf("%w: tenant %s's checkpoint at size %d signed root %s, the events give %s", ErrRewritten, tenant, c.Size, c.Root, root))
			}
		}
	}
}

// Size returns the number of leaves of a tenant's log (0 for none).
func (l *Log) Size(ctx context.Context, tenant string) (int64, error) {
	sizes, err := l.store.Sizes(ctx, []string{tenant})
	if err != nil {
		return 0, fmt.Errorf("audit log: %w", err)
	}
	return sizes[tenant], nil
}

// Latest returns a tenant's latest checkpoint, [ErrNotFound] if none.
func (l *Log) Latest(ctx context.Context, tenant string) (SignedCheckpoint, error) {
	return l.store.LatestCheckpoint(ctx, tenant)
}

// Checkpoints returns up to limit (1..[MaxLimit]) of a tenant's
// checkpoints with a size above after, smallest first.
func (l *Log) Checkpoints(ctx context.Context, tenant string, after int64, limit int) ([]SignedCheckpoint, error) {
	if limit < 1 || limit > MaxLimit {
		return nil, fmt.Errorf("%w: limit %d is not within 1..%d", ErrInvalid, limit, MaxLimit)
	}
	return l.store.Checkpoints(ctx, tenant, after, limit)
}

// Entries returns up to limit (1..[MaxLimit]) of a tenant's entries that
// match f, in leaf order, with an index above after (-1 for the first).
func (l *Log) Entries(ctx context.Context, tenant string, f Filter, after int64, limit int) ([]Entry, error) {
	if limit < 1 || limit > MaxLimit {
		return nil, fmt.Errorf("%w: limit %d is not within 1..%d", ErrInvalid, limit, MaxLimit)
	}
	if after < -1 {
		after = -1
	}
	return l.store.Entries(ctx, tenant, f, after, limit)
}

// hashReader reads a tenant's hashes from the store, each read adding
// extra indexes whose hashes it keeps aside: a proof and the hashes it
// comes with take one round trip.
type hashReader struct {
	ctx    context.Context
	store  Store
	tenant string
	extra  []int64
	got    []tlog.Hash
	reads  int
}

func (r *hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	r.reads++
	all := append(indexes[:len(indexes):len(indexes)], r.extra...)
	hs, err := r.store.ReadHashes(r.ctx, r.tenant, all)
	if err != nil {
		return nil, err
	}
	r.got = hs[len(indexes):]
	return hs[:len(indexes)], nil
}

// extras reads the extra hashes, unless a read took them already.
func (r *hashReader) extras() ([]tlog.Hash, error) {
	if r.reads == 0 && len(r.extra) > 0 {
		if _, err := r.ReadHashes(nil); err != nil {
			return nil, err
		}
	}
	return r.got, nil
}

// notFound says that a tenant's log is smaller than asked.
func notFound(err error, tenant string, size int64) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: tenant %s's log has fewer than %d leaves", ErrNotFound, tenant, size)
	}
	return fmt.Errorf("audit log: %w", err)
}

// Root returns the root hash of a tenant's tree at size (1 up to the
// log's size; [ErrNotFound] beyond it), in one read.
func (l *Log) Root(ctx context.Context, tenant string, size int64) (tlog.Hash, error) {
	if size < 1 {
		return tlog.Hash{}, fmt.Errorf("%w: tree size %d", ErrInvalid, size)
	}
	h, err := tlog.TreeHash(size, &hashReader{ctx: ctx, store: l.store, tenant: tenant})
	if err != nil {
		return tlog.Hash{}, notFound(err, tenant, size)
	}
	return h, nil
}

// ProveInclusion returns the hash of a tenant's leaf index and the proof
// that the tree of size holds it (0 ≤ index < size, [ErrInvalid]
// otherwise; [ErrNotFound] for a size beyond the log's), in one read.
func (l *Log) ProveInclusion(ctx context.Context, tenant string, index, size int64) (leaf tlog.Hash, proof tlog.RecordProof, err error) {
	if index < 0 || index >= size {
		return tlog.Hash{}, nil, fmt.Errorf("%w: leaf %d is not in a tree of size %d", ErrInvalid, index, size)
	}
	r := &hashReader{ctx: ctx, store: l.store, tenant: tenant, extra: []int64{tlog.StoredHashIndex(0, size-1), tlog.StoredHashIndex(0, index)}}
	proof, err = tlog.ProveRecord(size, index, r)
	if err != nil {
		return tlog.Hash{}, nil, notFound(err, tenant, size)
	}
	got, err := r.extras()
	if err != nil {
		return tlog.Hash{}, nil, notFound(err, tenant, size)
	}
	return got[1], proof, nil
}

// ProveConsistency returns the proof that a tenant's tree of size to
// extends the one of size from (1 ≤ from ≤ to, [ErrInvalid] otherwise;
// [ErrNotFound] for a size beyond the log's), in one read.
func (l *Log) ProveConsistency(ctx context.Context, tenant string, from, to int64) (tlog.TreeProof, error) {
	if from < 1 || from > to {
		return nil, fmt.Errorf("%w: no consistency proof from size %d to %d", ErrInvalid, from, to)
	}
	// The last leaf's hash comes along, so that a size beyond the log's
	// is an error even when the proof is empty.
	r := &hashReader{ctx: ctx, store: l.store, tenant: tenant, extra: []int64{tlog.StoredHashIndex(0, to-1)}}
	proof, err := tlog.ProveTree(to, from, r)
	if err != nil {
		return nil, notFound(err, tenant, to)
	}
	if _, err := r.extras(); err != nil {
		return nil, notFound(err, tenant, to)
	}
	return proof, nil
}

// Export writes a tenant's export at a checkpointed size (0 for the
// latest checkpoint's; [ErrNotFound] for a size with no checkpoint): the
// header with the signed checkpoint, then, for each leaf index below
// size, the tenant's event at that place in the event store as it is
// now, with the leaf hash and event id the log recorded there, or a
// Missing entry where the store ends early. It streams, a page at a
// time. An event that no longer decodes is exported without its data
// (null), which fails verification as it must.
func (l *Log) Export(ctx context.Context, tenant string, size int64, w io.Writer) error {
	cp, err := l.checkpointAt(ctx, tenant, size)
	if err != nil {
		return err
	}
	size = cp.Size
	xw, err := NewExportWriter(w, ExportHeader{Tenant: tenant, Checkpoint: string(cp.Note)})
	if err != nil {
		return err
	}
	page := min(l.opts.pageSize, MaxLimit)
	var after eventstore.Position
	var events []eventstore.Event
	exhausted := false
	for k := int64(0); k < size; {
		n := min(int64(page), size-k)
		logged, err := l.store.Entries(ctx, tenant, Filter{}, k-1, int(n))
		if err != nil {
			return fmt.Errorf("audit log: export: %w", err)
		}
		if int64(len(logged)) != n {
			return fmt.Errorf("audit log: export: %w: tenant %s's log ends before its checkpoint at %d", ErrNotFound, tenant, size)
		}
		idx := make([]int64, n)
		for i := range idx {
			idx[i] = tlog.StoredHashIndex(0, k+int64(i))
		}
		hashes, err := l.store.ReadHashes(ctx, tenant, idx)
		if err != nil {
			return fmt.Errorf("audit log: export: %w", err)
		}
		for i := range logged {
			if len(events) == 0 && !exhausted {
				if events, err = l.events.ReadTenant(ctx, tenant, after, page); err != nil {
					return fmt.Errorf("audit log: export: %w", err)
				}
				exhausted = len(events) == 0
			}
			x := ExportEntry{LoggedHash: hashes[i], LoggedID: logged[i].ID}
			if len(events) == 0 {
				x.Index, x.Missing = k, true
			} else {
				e := events[0]
				events, after = events[1:], e.Position
				x.Entry = exportEntry(k, e)
			}
			if err := xw.Write(x); err != nil {
				return err
			}
			k++
		}
	}
	return xw.Flush()
}

// exportEntry is NewEntry's, or for an event that no longer decodes the
// entry with null data.
func exportEntry(k int64, e eventstore.Event) Entry {
	x, err := NewEntry(k, e)
	if err == nil {
		return x
	}
	x = Entry{Index: k, ID: e.ID, Stream: e.Stream, Version: e.Version, Type: e.Type, Schema: e.Schema,
		Data: []byte("null"), Meta: e.Meta, RecordedAt: e.RecordedAt, Position: e.Position}
	x.DataDigest = sha256.Sum256(e.Data)
	return x
}

// checkpointAt returns a tenant's checkpoint of size, the latest for 0.
func (l *Log) checkpointAt(ctx context.Context, tenant string, size int64) (SignedCheckpoint, error) {
	if size < 0 {
		return SignedCheckpoint{}, fmt.Errorf("%w: tree size %d", ErrInvalid, size)
	}
	if size == 0 {
		return l.store.LatestCheckpoint(ctx, tenant)
	}
	cs, err := l.store.Checkpoints(ctx, tenant, size-1, 1)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	if len(cs) == 0 || cs[0].Size != size {
		return SignedCheckpoint{}, fmt.Errorf("%w: tenant %s has no checkpoint at size %d", ErrNotFound, tenant, size)
	}
	return cs[0], nil
}

// Sign signs a checkpoint of every log that grew beyond its latest one,
// with the tenant's key from keys, keeps it, and publishes it (see
// [WithPublish]); it returns the checkpoints it added. A tenant it cannot
// sign for is an error that does not stop the others.
func (l *Log) Sign(ctx context.Context, keys Keys) ([]SignedCheckpoint, error) {
	unsigned, err := l.store.Unsigned(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	var out []SignedCheckpoint
	var errs []error
	for tenant, size := range unsigned {
		c, err := l.sign(ctx, keys, tenant, size)
		if err != nil {
			errs = append(errs, fmt.Errorf("audit log: sign %s's checkpoint at %d: %w", tenant, size, err))
			continue
		}
		out = append(out, c)
		l.log.Info("signed audit checkpoint", "tenant", tenant, "size", size)
		if l.opts.publish != nil {
			if err := l.opts.publish(ctx, tenant, c); err != nil {
				l.log.Warn("audit checkpoint not published", "tenant", tenant, "size", size, "error", err)
			}
		}
	}
	return out, errors.Join(errs...)
}

func (l *Log) sign(ctx context.Context, keys Keys, tenant string, size int64) (SignedCheckpoint, error) {
	if err := l.extends(ctx, tenant); err != nil {
		return SignedCheckpoint{}, err
	}
	signer, err := keys.AuditSigner(ctx, tenant)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	root, err := l.Root(ctx, tenant, size)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	c := Checkpoint{Origin: signer.Name(), Size: size, Root: root}
	msg, err := Sign(c, signer)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	sc := SignedCheckpoint{Checkpoint: c, Note: msg, SignedAt: l.opts.now().UTC().Truncate(time.Microsecond)}
	if err := l.store.AddCheckpoint(ctx, tenant, sc); err != nil {
		return SignedCheckpoint{}, err
	}
	return sc, nil
}

// extends checks that a tenant's log still holds the tree its latest
// checkpoint signed, so that the log never signs a history that forks
// from one it signed before: after the event store was edited and the
// log rebuilt from it (which Rebuild reports with [ErrRewritten]), the
// tenant's log is signed no more.
func (l *Log) extends(ctx context.Context, tenant string) error {
	latest, err := l.store.LatestCheckpoint(ctx, tenant)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	root, err := l.Root(ctx, tenant, latest.Size)
	if err != nil {
		return err
	}
	if root != latest.Root {
		return fmt.Errorf("%w: tenant %s's checkpoint at size %d signed root %s, the log now gives %s: it signs no history that forks from it",
			ErrRewritten, tenant, latest.Size, latest.Root, root)
	}
	return nil
}
