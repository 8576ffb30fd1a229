package webhooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections"
)

// Projection keeps a [Store]'s endpoints in step with the webhook streams
// of the event store: it reads every event after the store's checkpoint,
// folds the webhook events onto the endpoints' states with the domain's
// own Apply, and writes the new states with the checkpoint in one
// [Store.Apply]. The event store is its only source, so any number of
// Projections, in any number of processes, may work on one database: the
// one whose Apply finds the checkpoint moved ([ErrStale]) reads again.
//
// Besides the states it tells the store when an endpoint's deliveries
// start (its webhook.created event, at that event's position), restart
// (a replay, at the replay's cursor) or resume (an activation).
type Projection struct {
	store  Store
	events eventstore.Store
	log    *slog.Logger
	opts   options

	run sync.Mutex // held by CatchUp and Rebuild

	mu       sync.Mutex
	known    eventstore.Position // the latest checkpoint seen
	advanced chan struct{}       // closed, and replaced, when known moves
}

type options struct {
	pageSize int
}

// Option configures [NewProjection].
type Option func(*options) error

// ErrInvalidOption is wrapped by every error an [Option] returns.
var ErrInvalidOption = errors.New("webhooks: invalid option")

// WithPageSize sets how many events CatchUp reads and applies in one
// transaction: 1..[eventstore.MaxRead] (default 1,000).
func WithPageSize(n int) Option {
	return func(o *options) error {
		if n < 1 || n > eventstore.MaxRead {
			return fmt.Errorf("%w: page size %d is not within 1..%d", ErrInvalidOption, n, eventstore.MaxRead)
		}
		o.pageSize = n
		return nil
	}
}

// NewProjection returns the projection of events into store. Both are
// required; a nil logger logs nothing.
func NewProjection(store Store, events eventstore.Store, log *slog.Logger, opts ...Option) (*Projection, error) {
	if store == nil || events == nil {
		return nil, fmt.Errorf("%w: the webhook projection needs a store and an event store", ErrInvalidOption)
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
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Projection{store: store, events: events, log: log, opts: o, advanced: make(chan struct{})}, nil
}

// CatchUp applies every event up to the event store's head as it is when
// CatchUp starts, a page at a time (every tenant's; the checkpoint moves
// over the other aggregates' events too). A webhook event it cannot
// decode or fold stops it with a *[projections.EventError] naming the
// event: the projection never skips one.
func (p *Projection) CatchUp(ctx context.Context) error {
	p.run.Lock()
	defer p.run.Unlock()
	return p.catchUp(ctx)
}

func (p *Projection) catchUp(ctx context.Context) error {
	head, err := p.events.Head(ctx)
	if err != nil {
		return fmt.Errorf("webhook projection: %w", err)
	}
	for {
		from, err := p.checkpoint(ctx)
		if err != nil {
			return fmt.Errorf("webhook projection: %w", err)
		}
		if !from.Less(head) {
			return nil
		}
		events, err := p.events.ReadAll(ctx, from, p.opts.pageSize)
		if err != nil {
			return fmt.Errorf("webhook projection: %w", err)
		}
		if len(events) == 0 {
			return nil
		}
		changes, err := p.fold(ctx, events)
		if err != nil {
			if p.moved(ctx, from) {
				continue // the states read may be of a later checkpoint
			}
			return fmt.Errorf("webhook projection: %w", err)
		}
		to := events[len(events)-1].Position
		switch err := p.store.Apply(ctx, from, to, changes); {
		case errors.Is(err, ErrStale):
			continue // another projection applied them
		case err != nil:
			return fmt.Errorf("webhook projection: %w", err)
		}
		p.saw(to)
		if len(changes) > 0 {
			p.log.Debug("applied webhook events", "events", len(changes), "position", to.String())
		}
	}
}

// checkpoint reads the store's checkpoint and notes it.
func (p *Projection) checkpoint(ctx context.Context) (eventstore.Position, error) {
	c, err := p.store.Checkpoint(ctx)
	if err != nil {
		return c, err
	}
	p.saw(c)
	return c, nil
}

// moved reports whether the checkpoint is no longer from.
func (p *Projection) moved(ctx context.Context, from eventstore.Position) bool {
	now, err := p.store.Checkpoint(ctx)
	return err == nil && now != from
}

// saw notes that the checkpoint has reached c, waking the waiters.
func (p *Projection) saw(c eventstore.Position) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.known.Less(c) {
		p.known = c
		close(p.advanced)
		p.advanced = make(chan struct{})
	}
}

// endpointKey names an endpoint across tenants.
type endpointKey struct{ tenant, id string }

// fold returns the changes a page of events makes, one a webhook event
// in store order, each folded onto the state the one before left (the
// first onto the state the store holds): the store tells a start or a
// resume it has seen by the position of its own change.
func (p *Projection) fold(ctx context.Context, events []eventstore.Event) ([]Change, error) {
	byTenant := map[string][]string{}
	seen := map[endpointKey]bool{}
	for _, e := range events {
		if e.Stream.Type != StreamType {
			continue
		}
		k := endpointKey{e.Stream.Tenant, e.Stream.ID}
		if !seen[k] {
			seen[k] = true
			byTenant[k.tenant] = append(byTenant[k.tenant], k.id)
		}
	}
	if len(seen) == 0 {
		return nil, nil
	}
	endpoints := make(map[endpointKey]*webhook.Webhook, len(seen))
	for tenant, ids := range byTenant {
		states, err := p.store.States(ctx, tenant, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			endpoints[endpointKey{tenant, id}] = webhook.FromState(states[id]) // the zero State: a new endpoint
		}
	}
	var out []Change
	for _, e := range events {
		if e.Stream.Type != StreamType {
			continue
		}
		c, err := step(endpoints[endpointKey{e.Stream.Tenant, e.Stream.ID}], e)
		if err != nil {
			return nil, &projections.EventError{EventID: e.ID, Stream: e.Stream, Version: e.Version, Type: e.Type, Position: e.Position, Err: err}
		}
		out = append(out, c)
	}
	return out, nil
}

// step folds one stored event onto w and returns the endpoint's change.
func step(w *webhook.Webhook, e eventstore.Event) (Change, error) {
	if w.Version() != e.Version-1 {
		return Change{}, fmt.Errorf("%w: version %d follows version %d", domain.ErrCorruptEvent, e.Version, w.Version())
	}
	ev, err := webhook.Decode(e.Type, e.Schema, e.Data)
	if err != nil {
		return Change{}, err
	}
	wasActive, isNew := w.Active(), w.Version() == 0
	if err := w.Apply(ev); err != nil {
		return Change{}, err
	}
	if w.ID() != e.Stream.ID {
		return Change{}, fmt.Errorf("%w: endpoint %q in the stream of %q", domain.ErrCorruptEvent, w.ID(), e.Stream.ID)
	}
	c := Change{Tenant: e.Stream.Tenant, State: w.State(), Position: e.Position}
	switch from, replay := webhook.ReplayFrom(ev); {
	case isNew:
		// Deliveries start with the events after the endpoint's creation.
		start := e.Position
		c.Start = &start
	case replay:
		var start eventstore.Position // "": the tenant's first event
		if from != "" {
			if start, err = eventstore.ParsePosition(from); err != nil {
				return Change{}, fmt.Errorf("%w: replay from %q: %v", domain.ErrCorruptEvent, from, err)
			}
		}
		c.Start = &start
	case !wasActive && w.Active():
		c.Resume = true
	}
	return c, nil
}

// Rebuild deletes the endpoints ([Store.ResetEndpoints]) and applies
// every event again. The deliveries and the attempt log stay as they
// are: a delivery is not started again by the events that started it
// before, so receivers are not sent again what they were sent.
func (p *Projection) Rebuild(ctx context.Context) error {
	p.run.Lock()
	defer p.run.Unlock()
	if err := p.store.ResetEndpoints(ctx); err != nil {
		return fmt.Errorf("webhook projection: %w", err)
	}
	p.mu.Lock()
	p.known = eventstore.Position{}
	p.mu.Unlock()
	return p.catchUp(ctx)
}

// runInterval is how often Run catches up without being woken.
const runInterval = time.Second

// waitPoll is how often WaitFor tries again.
const waitPoll = 50 * time.Millisecond

// Run keeps the store current until ctx ends: it catches up when woken
// and at least every second. It logs what fails and goes on.
func (p *Projection) Run(ctx context.Context, wake <-chan struct{}) {
	tick := time.NewTicker(runInterval)
	defer tick.Stop()
	for {
		if err := p.CatchUp(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("the webhook projection could not catch up with the event store", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		}
	}
}

// WaitFor returns once the store's checkpoint is at or beyond pos (so
// that what the event at pos did to an endpoint can be read): it catches
// up itself when no CatchUp is running, and otherwise waits for the
// running one or for another node to move the checkpoint. It returns
// ctx's error when ctx ends first, and the projection's error when an
// event stops it.
func (p *Projection) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		if p.reached(pos) {
			return nil
		}
		p.mu.Lock()
		advanced := p.advanced
		p.mu.Unlock()
		if p.run.TryLock() {
			err := p.catchUp(ctx)
			p.run.Unlock()
			var ee *projections.EventError
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.As(err, &ee):
				return err
			case err != nil:
				p.log.Warn("the webhook projection could not catch up", "error", err)
			}
			if p.reached(pos) {
				return nil
			}
		}
		timer := time.NewTimer(waitPoll)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-advanced:
		case <-timer.C:
			// Another node may have moved it.
			if _, err := p.checkpoint(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("read the webhook checkpoint", "error", err)
			}
		}
		timer.Stop()
	}
}

func (p *Projection) reached(pos eventstore.Position) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.known.Less(pos)
}
