package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clavisiam/clavis/eventstore"
)

// Projector keeps the read model of a [Backend] in step with an event
// store. Create it with [NewProjector]. Its methods are safe for
// concurrent use; Apply, CatchUp and Rebuild of one Projector run one at
// a time, and any number of Projectors, in any number of processes, may
// work on the same database.
//
// The event store is the source of truth for what gets applied: Apply
// takes its batch as news of how far the store has got, and reads the
// events to apply from the store, right after the checkpoint. So events
// that arrive out of order, twice, redacted, or after a gap (another
// tenant's events delivered first, a node that subscribed late, a rebuild
// on another node) are neither applied twice nor skipped.
type Projector struct {
	backend Backend
	store   eventstore.Store
	log     *slog.Logger
	opts    options

	run sync.Mutex // held by Apply, CatchUp and Rebuild

	observers []func([]eventstore.Event)

	mu       sync.Mutex
	known    eventstore.Position // the newest checkpoint this node has seen
	advanced chan struct{}       // closed and replaced when known moves
	polled   time.Time           // when known was last read from the database
	// While a page is being applied, from before its transaction until
	// its observers return, a checkpoint read from the database may
	// already hold the page: it is held back until the observers have
	// heard of the page, so that no waiter wakes before they do.
	applying bool
	held     eventstore.Position
}

type options struct {
	pageSize int
}

// pollInterval is how often [Projector.WaitFor] reads the checkpoint from
// the database, so that progress made by another node counts.
const pollInterval = 50 * time.Millisecond

// Option configures [NewProjector].
type Option func(*options) error

// ErrInvalidOption is wrapped by every error an [Option] returns.
var ErrInvalidOption = errors.New("projections: invalid option")

// WithPageSize sets how many events CatchUp and Rebuild read from the
// store, and apply in one transaction, at a time: 1..[eventstore.MaxRead]
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

// NewProjector returns a Projector that applies the events of store to
// backend under the checkpoint [Name]. backend and store are required;
// a nil log logs nothing.
func NewProjector(backend Backend, store eventstore.Store, log *slog.Logger, opts ...Option) (*Projector, error) {
	if backend == nil || store == nil {
		return nil, errors.New("projections: a projector needs a backend and an event store")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := options{pageSize: 1000}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Projector{
		backend:  backend,
		store:    store,
		log:      log.With("projection", Name),
		opts:     o,
		advanced: make(chan struct{}),
	}, nil
}

// errStale says that the checkpoint moved between reading a page of events
// and locking it in a way the page does not continue (a reset). The page
// is read again.
var errStale = errors.New("checkpoint moved under the page")

// maxStale bounds how often in a row a page may go stale before giving up.
const maxStale = 10

// Apply brings the read model up to the newest of events, which must be
// stored events (with positions), as they arrive from NATS. Events at or
// below the checkpoint are skipped without touching the database beyond
// a read of the checkpoint, so several nodes, or a redelivery, may feed
// the same events.
//
// The events applied are read from the event store, right after the
// checkpoint, and applied in store order, folded in memory, in one
// transaction together with the checkpoint; usually they are exactly the
// batch (one transaction). When the batch does not follow the checkpoint
// (a gap, another tenant's events still to come), Apply applies what the
// store holds in between too, in pages, so nothing is skipped. It fails
// when the store holds no event at the batch's newest position, or a
// different one (events of another store).
//
// An event that cannot be applied (an unknown type in a client or tenant
// stream, a corrupt payload) fails Apply with an *[EventError], and
// nothing of the transaction that holds it is written: the projection
// stops there until the event is dealt with. Events of other aggregates
// than tenants and clients are skipped.
func (p *Projector) Apply(ctx context.Context, events []eventstore.Event) error {
	if len(events) == 0 {
		return nil
	}
	batch := slices.Clone(events)
	for _, e := range batch {
		if e.Position.IsZero() {
			return fmt.Errorf("apply event %s: it has no position (not a stored event): %w", e.ID, ErrInvalid)
		}
	}
	slices.SortStableFunc(batch, func(a, b eventstore.Event) int {
		switch {
		case a.Position.Less(b.Position):
			return -1
		case b.Position.Less(a.Position):
			return 1
		}
		return 0
	})
	target := batch[len(batch)-1].Position
	if !p.Known().Less(target) {
		return nil
	}
	p.run.Lock()
	defer p.run.Unlock()
	if _, _, err := p.advance(ctx, target, batch); err != nil {
		return fmt.Errorf("apply events up to %s: %w", target, err)
	}
	return nil
}

// Observe makes the projector call fn with the events of every page it
// applies (from Apply, CatchUp or Rebuild), once the read model holds
// them and before [Projector.WaitFor] returns for them: a cache of the
// read model evicts a change before the writer waiting for it is
// answered. Call it before the projector is used; fn must not block.
func (p *Projector) Observe(fn func([]eventstore.Event)) { p.observers = append(p.observers, fn) }

// CatchUp applies everything from the checkpoint to the store's head
// (as it is when CatchUp starts), reading from the store in pages. It is
// what a node runs at start, and when NATS is unavailable.
func (p *Projector) CatchUp(ctx context.Context) error {
	p.run.Lock()
	defer p.run.Unlock()
	start := time.Now()
	head, err := p.store.Head(ctx)
	if err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	n, _, err := p.advance(ctx, head, nil)
	if err != nil {
		return fmt.Errorf("catch up to %s: %w", head, err)
	}
	if n > 0 {
		p.log.Info("caught up", "position", head.String(), "events", n, "took", time.Since(start))
	}
	return nil
}

// Rebuilt is what a rebuild did.
type Rebuilt struct {
	// Position is the store's head when the rebuild started: the read
	// model holds every event up to it.
	Position eventstore.Position
	// Events is how many events that is.
	Events int
	// Applied is how many of them this rebuild applied; other nodes,
	// catching up meanwhile, applied the rest.
	Applied int
	// Took is how long the rebuild took.
	Took time.Duration
}

// Rebuild drops the read model's rows and its checkpoint and replays every
// event from the event store (not NATS), in pages: each page is folded in
// memory and every view it touches written once, with the checkpoint, in
// one transaction. Reads during a rebuild see a read model that is being
// filled; it ends with the model the events give, identical to the one
// built incrementally. Running nodes may apply part of the events
// meanwhile; the result and the log say how many events the model holds
// and how many of them this rebuild applied.
func (p *Projector) Rebuild(ctx context.Context) (Rebuilt, error) {
	p.run.Lock()
	defer p.run.Unlock()
	start := time.Now()
	if err := p.backend.Reset(ctx, Name); err != nil {
		return Rebuilt{}, fmt.Errorf("rebuild: %w", err)
	}
	p.mu.Lock()
	p.known = eventstore.Position{}
	p.mu.Unlock()
	head, err := p.store.Head(ctx)
	if err != nil {
		return Rebuilt{}, fmt.Errorf("rebuild: %w", err)
	}
	n, others, err := p.advance(ctx, head, nil)
	if err != nil {
		return Rebuilt{}, fmt.Errorf("rebuild up to %s: %w", head, err)
	}
	res := Rebuilt{Position: head, Events: n, Applied: n}
	if others {
		// Another node applied part of it: count what the model holds.
		if res.Events, err = p.countTo(ctx, head); err != nil {
			return Rebuilt{}, fmt.Errorf("rebuild: %w", err)
		}
	}
	res.Took = time.Since(start)
	attrs := []any{"position", head.String(), "events", res.Events, "took", res.Took}
	if others := res.Events - res.Applied; others > 0 {
		attrs = append(attrs, "applied_by_other_nodes", others)
	}
	p.log.Info("rebuilt read model", attrs...)
	return res, nil
}

// countTo counts the store's events up to pos.
func (p *Projector) countTo(ctx context.Context, pos eventstore.Position) (int, error) {
	n := 0
	var after eventstore.Position
	for after.Less(pos) {
		page, err := p.store.ReadAll(ctx, after, eventstore.MaxRead)
		if err != nil {
			return 0, fmt.Errorf("count events: %w", err)
		}
		for _, e := range page {
			if pos.Less(e.Position) {
				return n, nil
			}
			n++
		}
		if len(page) < eventstore.MaxRead {
			return n, nil
		}
		after = page[len(page)-1].Position
	}
	return n, nil
}

// advance applies the store's events after the checkpoint up to target,
// a page at a time, and returns how many it applied and whether another
// node applied some of them meanwhile (so that more than that many events
// lie between the checkpoint it started from and target). hint, the batch Apply
// was given, sizes the reads and is checked against the store. Without a
// hint (catching up, rebuilding) the next page is read and decoded while
// the current one is written.
func (p *Projector) advance(ctx context.Context, target eventstore.Position, hint []eventstore.Event) (int, bool, error) {
	// Applying a batch starts from the checkpoint this node last saw,
	// saving a read: the update reads the real one, and the page is read
	// again from there when it is elsewhere (errStale).
	cp := p.Known()
	if hint == nil || cp.IsZero() {
		var err error
		if cp, err = p.checkpoint(ctx); err != nil {
			return 0, false, err
		}
	}
	if !cp.Less(target) {
		return 0, !cp.IsZero() && hint == nil, nil
	}
	var ahead chan page // the page after cur, being fetched
	wait := func() page {
		if ahead == nil {
			return page{}
		}
		next := <-ahead
		ahead = nil
		return next
	}
	defer wait()
	applied, stale, others := 0, 0, false
	cur := p.fetch(ctx, cp, target, p.limit(cp, hint))
	for {
		if cur.err != nil {
			return applied, others, cur.err
		}
		if len(cur.events) == 0 {
			return applied, others, nil
		}
		if err := matches(cur.events, hint); err != nil {
			return applied, others, err
		}
		last := cur.events[len(cur.events)-1].env.Position
		if hint == nil && last.Less(target) {
			ahead = make(chan page, 1)
			go func() { ahead <- p.fetch(ctx, last, target, p.opts.pageSize) }()
		}
		reached, n, err := p.applyPage(ctx, cur.after, cur.events)
		if errors.Is(err, errStale) && stale < maxStale {
			stale++
			p.log.Debug("checkpoint moved under a page; reading again", "position", cur.after.String())
			wait()
			if cp, err = p.checkpoint(ctx); err != nil {
				return applied, others, err
			}
			others = others || cp != cur.after
			cur = p.fetch(ctx, cp, target, p.limit(cp, hint))
			continue
		}
		if err != nil {
			return applied, others, err
		}
		stale = 0
		applied += n
		others = others || n < len(cur.events)
		if !reached.Less(target) {
			return applied, others, nil
		}
		if next := wait(); reached == last && next.after == last {
			cur = next
		} else {
			cur = p.fetch(ctx, reached, target, p.limit(reached, hint))
		}
	}
}

// page is a page of stored events, read after a position and decoded.
type page struct {
	after  eventstore.Position
	events []decoded
	err    error
}

// limit is how many events to read after cp: a page, or as many as the
// hint holds after cp.
func (p *Projector) limit(cp eventstore.Position, hint []eventstore.Event) int {
	if hint == nil {
		return p.opts.pageSize
	}
	i, _ := slices.BinarySearchFunc(hint, cp, func(e eventstore.Event, pos eventstore.Position) int {
		if pos.Less(e.Position) {
			return 1
		}
		return -1
	})
	return min(max(len(hint)-i, 1), p.opts.pageSize)
}

// fetch reads up to limit events after the position after, none beyond
// target, and decodes them. An empty page while after is below target
// means the store does not hold target.
func (p *Projector) fetch(ctx context.Context, after, target eventstore.Position, limit int) page {
	stored, err := p.store.ReadAll(ctx, after, limit)
	if err != nil {
		return page{after: after, err: err}
	}
	for len(stored) > 0 && target.Less(stored[len(stored)-1].Position) {
		stored = stored[:len(stored)-1]
	}
	if len(stored) == 0 && after.Less(target) {
		return page{after: after, err: fmt.Errorf("the event store shows no event after %s up to %s", after, target)}
	}
	return page{after: after, events: decodeAll(stored)}
}

// decodeAll decodes a page, on every CPU for a large one: decoding the
// events' JSON is most of a rebuild's work.
func decodeAll(stored []eventstore.Event) []decoded {
	events := make([]decoded, len(stored))
	const chunk = 128
	workers := min(runtime.GOMAXPROCS(0), (len(stored)+chunk-1)/chunk)
	if workers <= 1 {
		for i, e := range stored {
			events[i] = decode(e)
		}
		return events
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				from := int(next.Add(chunk)) - chunk
				if from >= len(stored) {
					return
				}
				for i := from; i < min(from+chunk, len(stored)); i++ {
					events[i] = decode(stored[i])
				}
			}
		})
	}
	wg.Wait()
	return events
}

// matches checks that the events of hint that page covers are the store's.
func matches(page []decoded, hint []eventstore.Event) error {
	if len(hint) == 0 {
		return nil
	}
	ids := make(map[eventstore.Position]string, len(hint))
	for _, e := range hint {
		ids[e.Position] = e.ID
	}
	for _, d := range page {
		if id, ok := ids[d.env.Position]; ok && id != d.env.ID {
			return fmt.Errorf("event %s at position %s is not the event store's (%s there): %w", id, d.env.Position, d.env.ID, ErrInvalid)
		}
	}
	return nil
}

// applyPage applies events, the page the store returned right after the
// position after, in one transaction, and returns the checkpoint it left
// and how many events it applied. Events at or below the checkpoint are
// skipped; when the checkpoint is not one of the page's positions (it
// went back, a reset), the page does not continue it and errStale says so.
func (p *Projector) applyPage(ctx context.Context, after eventstore.Position, events []decoded) (eventstore.Position, int, error) {
	last := events[len(events)-1].env
	reached, applied := last.Position, 0
	var todo []decoded
	p.mu.Lock()
	p.applying = true
	p.mu.Unlock()
	defer p.release()
	err := p.backend.Update(ctx, Name, func(ctx context.Context, cp eventstore.Position, load Loader) (*Changes, error) {
		// A backend may call fn again (an optimistic write that lost):
		// only the last call's count holds.
		reached, applied = last.Position, 0
		todo = events
		if cp != after {
			if !last.Position.Less(cp) {
				i := slices.IndexFunc(events, func(d decoded) bool { return d.env.Position == cp })
				if i < 0 {
					return nil, errStale
				}
				todo = events[i+1:]
			} else {
				reached, todo = cp, nil
			}
		}
		if len(todo) == 0 {
			return nil, nil
		}
		changes, err := foldEvents(ctx, load, todo)
		if err != nil {
			return nil, err
		}
		changes.Checkpoint, changes.RecordedAt = last.Position, last.RecordedAt
		applied = len(todo)
		return changes, nil
	})
	if err != nil {
		return eventstore.Position{}, 0, err
	}
	if applied > 0 && len(p.observers) > 0 {
		batch := make([]eventstore.Event, len(todo))
		for i, d := range todo {
			batch[i] = d.env
		}
		for _, fn := range p.observers {
			fn(batch)
		}
	}
	p.raise(reached)
	return reached, applied, nil
}

// checkpoint reads the checkpoint from the database and notes it.
func (p *Projector) checkpoint(ctx context.Context) (eventstore.Position, error) {
	cp, err := p.backend.Checkpoint(ctx, Name)
	if err != nil {
		return eventstore.Position{}, err
	}
	p.learn(cp)
	return cp, nil
}

// learn notes a checkpoint read from the database: at once, or, while
// a page is being applied, once its observers have heard of it.
func (p *Projector) learn(pos eventstore.Position) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.applying {
		if p.held.Less(pos) {
			p.held = pos
		}
		return
	}
	p.raiseLocked(pos)
}

// release ends the application of a page, and notes what was held back
// meanwhile.
func (p *Projector) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applying = false
	p.raiseLocked(p.held)
	p.held = eventstore.Position{}
}

// raise moves known forward to pos and wakes the waiters.
func (p *Projector) raise(pos eventstore.Position) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.raiseLocked(pos)
}

func (p *Projector) raiseLocked(pos eventstore.Position) {
	if p.known.Less(pos) {
		p.known = pos
		close(p.advanced)
		p.advanced = make(chan struct{})
	}
}

// Position reads the checkpoint from the database: every event up to it
// is applied, by this node or another.
func (p *Projector) Position(ctx context.Context) (eventstore.Position, error) {
	cp, err := p.checkpoint(ctx)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("read projection position: %w", err)
	}
	return cp, nil
}

// Known returns the newest checkpoint this node has seen, without
// reading the database: every event up to it is applied. It only moves
// forward, except when this Projector rebuilds; while another node
// rebuilds, it may be ahead of the database until that rebuild is done.
func (p *Projector) Known() eventstore.Position {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.known
}

// WaitFor blocks until this node knows that the checkpoint has reached
// pos: an Apply of this Projector got there, or the checkpoint in the
// database (read every poll interval, so that another node's progress
// counts) did. It returns ctx.Err() when ctx ends first. Admin writes use
// it for read-your-writes, with a bounded context.
func (p *Projector) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for first := true; ; first = false {
		p.mu.Lock()
		known, advanced := p.known, p.advanced
		due := first || time.Since(p.polled) >= pollInterval
		p.mu.Unlock()
		if !known.Less(pos) {
			return nil
		}
		if due {
			p.poll(ctx)
			if !p.Known().Less(pos) {
				return nil
			}
		}
		timer := time.NewTimer(pollInterval)
		select {
		case <-advanced:
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
		timer.Stop()
	}
}

// poll reads the checkpoint from the database, at most once per poll
// interval across all waiters. A failure is logged and the wait goes on:
// the caller's context bounds it.
func (p *Projector) poll(ctx context.Context) {
	p.mu.Lock()
	if time.Since(p.polled) < pollInterval/2 {
		p.mu.Unlock()
		return
	}
	p.polled = time.Now()
	p.mu.Unlock()
	if _, err := p.checkpoint(ctx); err != nil && ctx.Err() == nil {
		p.log.Warn("read checkpoint", "err", err)
	}
}

// Status reports where the projection stands against the store's head.
// Lag is how long ago the newest applied event was recorded (or, when
// nothing is applied yet, the store's first event), while the projection
// is behind.
func (p *Projector) Status(ctx context.Context) (Status, error) {
	pr, err := p.backend.Progress(ctx, Name)
	if err != nil {
		return Status{}, fmt.Errorf("projection status: %w", err)
	}
	p.learn(pr.Position)
	head, err := p.store.Head(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("projection status: %w", err)
	}
	st := Status{Name: Name, Position: pr.Position, Head: head, CaughtUp: !pr.Position.Less(head)}
	if !st.CaughtUp {
		since := pr.RecordedAt
		if pr.Position.IsZero() {
			first, err := p.store.ReadAll(ctx, eventstore.Position{}, 1)
			if err != nil {
				return Status{}, fmt.Errorf("projection status: %w", err)
			}
			if len(first) > 0 {
				since = first[0].RecordedAt
			}
		}
		if !since.IsZero() {
			st.Lag = max(time.Since(since), 0)
		}
	}
	return st, nil
}
