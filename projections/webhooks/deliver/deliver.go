// Package deliver pushes each tenant's events to its webhook endpoints,
// as the Standard Webhooks specification describes: a POST of the
// event's public CloudEvent (structured mode), with the headers
// webhook-id (the event's id, the same on every redelivery),
// webhook-timestamp and webhook-signature (an HMAC-SHA256 per signing
// secret of the endpoint at that instant).
//
// A [Deliverer] takes leases on endpoints through the store
// ([webhooks.Store.Acquire]), so that one node at a time delivers an
// endpoint, and delivers each endpoint it holds in order, one event at a
// time, from its durable cursor: at least once (what was sent but not
// yet recorded when a node dies is sent again, with the same
// webhook-id), never out of order, never another tenant's events. A
// failed attempt is tried again after an exponential, jittered delay,
// and an endpoint whose head event has failed for [DefaultFailurePeriod]
// is deactivated through a [Disabler]. [Deliverer.Ping] and
// [Deliverer.Resend] send one message on request, on any node.
package deliver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clavisiam/clavis/domain/eventtype"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/webhooks"
)

// Events is what a deliverer reads of the event store: a tenant's
// events in store order (an eventstore.Store).
type Events interface {
	ReadTenant(ctx context.Context, tenant string, after eventstore.Position, limit int) ([]eventstore.Event, error)
}

// Secrets opens endpoints' sealed signing secrets (a signing.Keyring):
// the result is "whsec_" and the base64 of the key.
type Secrets interface {
	OpenWebhookSecret(tenant, webhookID, sealed string) (string, error)
}

// Waker tells a deliverer that a tenant has new events (a wake.Hub): the
// channel Next returns is closed at the tenant's next event.
type Waker interface {
	Next(tenant string) <-chan struct{}
}

// Disabler deactivates an endpoint whose deliveries have failed for too
// long: it records the endpoint's deactivation, by the platform (actor
// "system", automatic true), with reason. Deactivating an inactive or
// deleted endpoint is not an error worth retrying; other errors are, and
// the deliverer tries again at its next attempt.
type Disabler interface {
	Deactivate(ctx context.Context, tenant, id, reason string, automatic bool) error
}

// ErrInvalidOption matches the error of an option given a bad value.
var ErrInvalidOption = errors.New("deliver: invalid option")

// ErrNoEvent: the tenant has no event at the cursor given to Resend, or
// none the endpoint is sent (its types do not match it, or it has no
// public form). It matches webhooks.ErrNotFound too.
var ErrNoEvent = fmt.Errorf("%w: no such event for this endpoint", webhooks.ErrNotFound)

// Defaults of the options.
const (
	// DefaultFailurePeriod is how long an endpoint's head event may keep
	// failing before the endpoint is deactivated.
	DefaultFailurePeriod = 72 * time.Hour
	// DefaultLease is how long a lease lasts; it is renewed every third
	// of it.
	DefaultLease = 30 * time.Second
	// DefaultPoll is how often an idle endpoint looks for events and
	// changes without being woken, and how often the deliverer looks for
	// endpoints to take: what a missed wake-up (NATS away, another node's
	// write) costs at most.
	DefaultPoll = 3 * time.Second
	// DefaultMaxEndpoints is the most endpoints one node delivers.
	DefaultMaxEndpoints = 10_000
	// The delivery log keeps attempts for LogRetention, and at most
	// LogKeep per endpoint; it is pruned every pruneEvery.
	LogRetention = 30 * 24 * time.Hour
	LogKeep      = 10_000
	pruneEvery   = time.Hour
)

// How progress is recorded and events read.
const (
	recordEvery    = 100                   // deliveries between two records, at most
	recordInterval = 50 * time.Millisecond // time between two records, at most
	pageSize       = 500                   // events read at once
	leaseMargin    = 3                     // a worker stops sending with less than lease/leaseMargin left
	retryStore     = time.Second           // after a store error, the wait before trying again
	behindWait     = 10 * time.Millisecond // the first wait for the store to apply the endpoint's events
	behindWarn     = 100                   // rounds behind in a row before a warning (about five minutes at the default poll)
)

// Retry schedule of the default [Backoff].
const (
	firstRetry = 5 * time.Second
	maxRetry   = 4 * time.Hour
)

// Backoff is the default retry schedule: the delay before the next
// attempt after the failures-th failure in a row, 5 s doubling at each
// failure up to 4 h, each multiplied by a random factor between 0.8 and
// 1.2 so that endpoints failing together do not retry together.
func Backoff(failures int) time.Duration {
	return jitter(Nominal(failures))
}

// Nominal is [Backoff] without its jitter.
func Nominal(failures int) time.Duration {
	d := firstRetry
	for i := 1; i < failures && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*mrand.Float64()))
}

// Option configures a [Deliverer].
type Option func(*options) error

type options struct {
	log      *slog.Logger
	waker    Waker
	disabler Disabler
	sending  Sending
	now      func() time.Time
	schedule func(int) time.Duration
	failFor  time.Duration
	lease    time.Duration
	poll     time.Duration
	max      int
	owner    string
	onDemand OnDemand
}

// WithLogger logs what the deliverer does; nil (the default) logs
// nothing.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.log = l; return nil }
}

// WithWaker wakes an endpoint's deliveries at its tenant's next event;
// without it they find new events by polling only.
func WithWaker(w Waker) Option {
	return func(o *options) error { o.waker = w; return nil }
}

// WithDisabler deactivates endpoints that fail for the failure period;
// without it, they are retried at the schedule's longest delay forever.
func WithDisabler(d Disabler) Option {
	return func(o *options) error { o.disabler = d; return nil }
}

// WithSending sets how messages are sent; the default calls public
// addresses only, verified with the system's roots.
func WithSending(s Sending) Option {
	return func(o *options) error {
		if s.Timeout < 0 {
			return fmt.Errorf("%w: negative timeout", ErrInvalidOption)
		}
		o.sending = s
		return nil
	}
}

// WithClock sets the deliverer's clock (default time.Now): attempt
// times, leases, retry and failure deadlines. Waiting still takes real
// time.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		o.now = now
		return nil
	}
}

// WithRetrySchedule sets the delay before the next attempt after the
// n-th failure in a row (n ≥ 1); the default is [Backoff].
func WithRetrySchedule(schedule func(failures int) time.Duration) Option {
	return func(o *options) error {
		if schedule == nil {
			return fmt.Errorf("%w: nil retry schedule", ErrInvalidOption)
		}
		o.schedule = schedule
		return nil
	}
}

// WithFailurePeriod sets how long the head event may keep failing
// before the endpoint is deactivated (default [DefaultFailurePeriod]).
func WithFailurePeriod(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: failure period %s", ErrInvalidOption, d)
		}
		o.failFor = d
		return nil
	}
}

// WithLease sets how long a lease lasts (default [DefaultLease], at
// least a second).
func WithLease(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Second {
			return fmt.Errorf("%w: lease %s is under a second", ErrInvalidOption, d)
		}
		o.lease = d
		return nil
	}
}

// WithPoll sets how often idle endpoints look for events without a
// wake-up (default [DefaultPoll]).
func WithPoll(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: poll %s", ErrInvalidOption, d)
		}
		o.poll = d
		return nil
	}
}

// WithMaxEndpoints sets the most endpoints this deliverer holds at once
// (default [DefaultMaxEndpoints]).
func WithMaxEndpoints(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: max endpoints %d", ErrInvalidOption, n)
		}
		o.max = n
		return nil
	}
}

// WithOwner names the deliverer in leases; the default is unique to the
// process (host, pid and a random part). Two deliverers must never share
// one.
func WithOwner(owner string) Option {
	return func(o *options) error {
		if owner == "" {
			return fmt.Errorf("%w: empty owner", ErrInvalidOption)
		}
		o.owner = owner
		return nil
	}
}

// Deliverer delivers the events of the endpoints it holds leases on and
// sends pings and resends. Make one with [New]; run it with Run. Ping
// and Resend work whether it runs or not. It is safe for concurrent use.
type Deliverer struct {
	store    webhooks.Store
	events   Events
	secrets  Secrets
	waker    Waker
	disabler Disabler
	send     *sender
	oob      *sender  // pings and resends
	limits   *limiter // of pings and resends
	log      *slog.Logger
	now      func() time.Time
	schedule func(int) time.Duration
	failFor  time.Duration
	lease    time.Duration
	poll     time.Duration
	max      int
	owner    string

	bodies *bodies

	mu      sync.Mutex
	workers map[key]*worker
}

type key struct{ tenant, id string }

// New returns a deliverer of the endpoints in store, reading events
// from events and opening signing secrets with secrets.
func New(store webhooks.Store, events Events, secrets Secrets, opts ...Option) (*Deliverer, error) {
	if store == nil || events == nil || secrets == nil {
		return nil, fmt.Errorf("%w: a store, events and secrets are required", ErrInvalidOption)
	}
	o := options{now: time.Now, schedule: Backoff, failFor: DefaultFailurePeriod, lease: DefaultLease, poll: DefaultPoll, max: DefaultMaxEndpoints, onDemand: DefaultOnDemand}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.owner == "" {
		o.owner = newOwner()
	}
	return &Deliverer{store: store, events: events, secrets: secrets, waker: o.waker, disabler: o.disabler, send: newSender(o.sending, false),
		oob: newSender(o.sending, true), limits: newLimiter(o.onDemand, time.Now),
		log: o.log, now: o.now, schedule: o.schedule, failFor: o.failFor, lease: o.lease, poll: o.poll, max: o.max, owner: o.owner,
		bodies: newBodies(bodyCacheSize), workers: map[key]*worker{}}, nil
}

// newOwner names this process in leases: host, pid and 48 random bits.
func newOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Owner is the name this deliverer holds leases under.
func (d *Deliverer) Owner() string { return d.owner }

// Run takes leases on endpoints and delivers them until ctx ends; then
// it stops every delivery, records what was delivered and gives the
// leases back, so that another node takes over at once. It prunes the
// delivery log every hour. It returns nil once stopped. Run it once at
// a time.
func (d *Deliverer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer func() {
		d.mu.Lock()
		held := make([]*worker, 0, len(d.workers))
		for _, w := range d.workers {
			w.cancel()
			held = append(held, w)
		}
		d.mu.Unlock()
		wg.Wait()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, w := range held {
			if err := d.store.Release(rctx, d.owner, w.tenant, w.id); err != nil {
				d.log.Warn("could not release a webhook endpoint's lease", "tenant", w.tenant, "webhook", w.id, "error", err)
			}
		}
	}()
	wg.Go(func() { d.pruneLoop(ctx) })
	renew := d.lease / 3
	if d.poll < renew {
		renew = d.poll
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		now := d.now()
		until := now.Add(d.lease)
		eps, err := d.store.Acquire(ctx, d.owner, now, until, d.max)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !failing {
				d.log.Warn("could not take webhook endpoints' leases; deliveries pause when the leases held run out", "error", err)
			}
			failing = true
			timer.Reset(retryStore)
			continue
		}
		if failing {
			d.log.Info("taking webhook endpoints' leases again")
			failing = false
		}
		held := make(map[key]bool, len(eps))
		d.mu.Lock()
		for _, ep := range eps {
			k := key{ep.Tenant, ep.State.ID}
			held[k] = true
			if w, ok := d.workers[k]; ok {
				w.leaseUntil.Store(until.UnixNano())
				continue
			}
			w, wctx := d.newWorker(ctx, k)
			w.leaseUntil.Store(until.UnixNano())
			d.workers[k] = w
			wg.Go(func() { w.run(wctx) })
		}
		for k, w := range d.workers {
			if !held[k] {
				w.cancel() // another node holds it now, or it stopped
			}
		}
		d.mu.Unlock()
		timer.Reset(renew)
	}
}

func (d *Deliverer) pruneLoop(ctx context.Context) {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := d.Prune(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("could not prune the webhook delivery log", "error", err)
		}
		t.Reset(pruneEvery)
	}
}

// Prune deletes the delivery log's attempts older than [LogRetention],
// and all but the newest [LogKeep] of each endpoint.
func (d *Deliverer) Prune(ctx context.Context) error {
	n, err := d.store.Prune(ctx, d.now().Add(-LogRetention), LogKeep)
	if err != nil {
		return fmt.Errorf("prune delivery log: %w", err)
	}
	if n > 0 {
		d.log.Debug("pruned the webhook delivery log", "attempts", n)
	}
	return nil
}

// worker delivers one endpoint, in order, while its lease is held.
type worker struct {
	d          *Deliverer
	tenant, id string
	cancel     context.CancelFunc
	log        *slog.Logger
	// leaseUntil is when the lease last taken runs out (unix ns).
	leaseUntil atomic.Int64
	// keys caches opened secrets by their sealed form.
	keys map[string]Key
	// del is the delivery as this worker has moved it; pending are the
	// attempts not recorded yet, dirty says del is ahead of the store,
	// and recorded is when the store last caught up.
	del      webhooks.Delivery
	pending  []webhooks.Attempt
	dirty    bool
	recorded time.Time
	// behind counts the rounds in a row that found the store behind the
	// endpoint's own events.
	behind int
}

func (d *Deliverer) newWorker(ctx context.Context, k key) (*worker, context.Context) {
	wctx, cancel := context.WithCancel(ctx)
	return &worker{d: d, tenant: k.tenant, id: k.id, cancel: cancel,
		log: d.log.With("tenant", k.tenant, "webhook", k.id), keys: map[string]Key{}}, wctx
}

// leased reports whether the worker may still send at now: its lease
// runs beyond now by a margin.
func (w *worker) leased(now time.Time) bool {
	return now.Add(w.d.lease / leaseMargin).Before(time.Unix(0, w.leaseUntil.Load()))
}

// outcome is how a round of deliveries ended.
type outcome int

const (
	idle    outcome = iota // nothing more to deliver now: wait for a wake-up
	more                   // a full page: go on at once
	waiting                // a failure, or the lease running low: wait for the retry
	behind                 // the store has not applied the endpoint's own events read: wait for it
	stop                   // the endpoint is no longer this worker's to deliver
)

func (w *worker) run(ctx context.Context) {
	d := w.d
	defer func() {
		// What was delivered is recorded even when the worker stops.
		if err := w.flushNow(ctx); err != nil {
			w.log.Warn("could not record webhook deliveries; they will be sent again", "error", err)
		}
		w.cancel()
		d.mu.Lock()
		if d.workers[key{w.tenant, w.id}] == w {
			delete(d.workers, key{w.tenant, w.id})
		}
		d.mu.Unlock()
	}()
	w.log.Debug("delivering webhook endpoint")
	for ctx.Err() == nil {
		var woken <-chan struct{}
		if d.waker != nil {
			woken = d.waker.Next(w.tenant) // before reading: what commits meanwhile wakes us
		}
		// Re-read before each round: settings, secrets, active, deleted,
		// a replay.
		ep, err := d.store.Endpoint(ctx, w.tenant, w.id)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, webhooks.ErrNotFound):
			w.drop()
			w.release(ctx)
			return
		case err != nil:
			w.log.Warn("could not read webhook endpoint", "error", err)
			w.sleep(ctx, nil, retryStore)
			continue
		case !ep.State.Active || ep.State.Deleted:
			if err := w.flushNow(ctx); err != nil {
				w.log.Warn("could not record webhook deliveries; they will be sent again", "error", err)
			}
			w.release(ctx)
			return
		}
		now := d.now()
		if ep.Delivery.Owner != d.owner || !now.Before(ep.Delivery.LeaseUntil) {
			w.drop()
			return // lost: another node has it, or will
		}
		if !w.dirty || ep.Delivery.Epoch != w.del.Epoch {
			// The store's is the newest, or a replay or an activation
			// made what this worker had obsolete.
			w.drop()
			w.del = ep.Delivery
		}
		if next := w.del.NextAttempt; !next.IsZero() && now.Before(next) {
			w.sleep(ctx, nil, min(next.Sub(now), d.poll))
			continue
		}
		out, err := w.deliver(ctx, ep)
		switch {
		case err != nil:
		case out == waiting || out == behind:
			err = w.flush(ctx)
		case out == idle:
			err = w.flushDue(ctx)
		}
		switch {
		case errors.Is(err, webhooks.ErrLeaseLost):
			w.drop()
			w.log.Info("lost the lease of a webhook endpoint")
			return
		case errors.Is(err, webhooks.ErrStale):
			w.drop()
			continue // a replay or an activation: start again from the store
		case err != nil && ctx.Err() == nil:
			w.log.Warn("webhook deliveries interrupted", "error", err)
			w.sleep(ctx, nil, retryStore)
			continue
		}
		if out == behind {
			if w.behind++; w.behind == behindWarn {
				w.log.Warn("the webhook store has not applied this endpoint's latest events; its deliveries wait for it",
					"version", ep.State.Version)
			}
		} else {
			w.behind = 0
		}
		switch out {
		case stop:
			// Recorded before the lease is given up: a record needs it.
			if err := w.flushNow(ctx); err != nil {
				w.log.Warn("could not record webhook deliveries; they will be sent again", "error", err)
			}
			w.release(ctx)
			return
		case more:
		case waiting:
			w.sleep(ctx, nil, min(d.poll, retryStore))
		case behind:
			// The projection applies an event within milliseconds; while
			// it is stalled, the worker reads again once a poll.
			w.sleep(ctx, nil, min(behindWait<<min(w.behind-1, 10), d.poll))
		case idle:
			wait := d.poll
			if w.dirty {
				// Record what is pending soon, unless woken first.
				wait = max(time.Until(w.recorded.Add(recordInterval)), time.Millisecond)
			}
			w.sleep(ctx, woken, wait)
		}
	}
}

// drop forgets what the worker had not recorded: the store's delivery
// is the one to go on from.
func (w *worker) drop() {
	w.pending, w.dirty = nil, false
}

// flushDue records the pending progress when enough has accumulated or
// waited.
func (w *worker) flushDue(ctx context.Context) error {
	if len(w.pending) >= recordEvery || time.Since(w.recorded) >= recordInterval {
		return w.flush(ctx)
	}
	return nil
}

func (w *worker) flush(ctx context.Context) error {
	if !w.dirty {
		return nil
	}
	d := w.d
	if err := d.store.Record(ctx, d.owner, w.tenant, w.id, d.now(), w.del, w.pending); err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	w.pending, w.dirty, w.recorded = nil, false, time.Now()
	return nil
}

// flushNow records the pending progress, even when ctx has ended.
func (w *worker) flushNow(ctx context.Context) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return w.flush(fctx)
}

// sleep waits for woken, d or the end of the worker.
func (w *worker) sleep(ctx context.Context, woken <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-woken:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (w *worker) release(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.d.store.Release(rctx, w.d.owner, w.tenant, w.id); err != nil {
		w.log.Warn("could not release a webhook endpoint's lease", "error", err)
	}
}

// deliver sends, in order, the endpoint's events of one page after the
// worker's cursor that its types match, recording the progress in small
// batches (at most recordEvery deliveries, or recordInterval). It stops
// at the first failure, which it records at once with the time of the
// next attempt (or deactivates the endpoint when it has failed for the
// failure period).
//
// It sends nothing while the page holds an event of the endpoint that
// ep does not include yet: the store applies the endpoint's events a
// moment after they commit, and a change (a deactivation, a new URL,
// types or secrets) applies to every event after it, at every node. So
// too, once this deliverer has deactivated an endpoint for failing, its
// next worker does not try the head event again while the store is
// catching up.
func (w *worker) deliver(ctx context.Context, ep webhooks.Endpoint) (outcome, error) {
	d := w.d
	events, err := d.events.ReadTenant(ctx, w.tenant, w.del.Cursor, pageSize)
	if err != nil {
		return idle, fmt.Errorf("read events: %w", err)
	}
	if len(events) == 0 {
		return idle, nil
	}
	own := webhooks.Stream(w.tenant, w.id)
	for _, e := range events {
		if e.Stream == own && e.Version > ep.State.Version {
			return behind, nil
		}
	}
	filter, err := eventtype.Parse(ep.State.Settings.Types)
	if err != nil {
		filter = eventtype.Filter{} // the domain keeps them valid; all, should it not
	}
	del := &w.del
	for _, e := range events {
		if !filter.Match(e.Type) {
			del.Cursor, w.dirty = e.Position, true
			continue
		}
		msg, err := d.bodies.get(e)
		if err != nil {
			// Not a message this version can write: never will be.
			w.log.Error("skipping an event that has no public form", "position", e.Position, "event_type", e.Type, "error", err)
			del.Cursor, w.dirty = e.Position, true
			continue
		}
		at := d.now()
		if !w.leased(at) || ctx.Err() != nil {
			return waiting, nil
		}
		keys, err := w.signingKeys(ep, at)
		var r result
		if err != nil {
			r = result{Error: "the endpoint's signing secret could not be opened"}
			w.log.Error("could not open a webhook signing secret", "error", err)
		} else {
			r = d.send.send(ctx, outgoing{URL: ep.State.Settings.URL, ID: e.ID, At: at, Body: msg.body, Keys: keys})
		}
		if ctx.Err() != nil {
			return stop, nil // stopping: this attempt does not count
		}
		a := webhooks.Attempt{Tenant: w.tenant, Webhook: w.id, MessageID: e.ID, EventType: msg.typ, Cursor: e.Position.String(),
			Trigger: webhooks.TriggerDelivery, At: at, Status: r.Status, Latency: r.Latency, Error: r.Error}
		del.LastAttempt, del.LastStatus, del.LastError = at, r.Status, r.Error
		w.dirty = true
		if a.Succeeded() {
			del.Cursor, del.Failures, del.FailingSince, del.NextAttempt = e.Position, 0, time.Time{}, time.Time{}
			w.pending = append(w.pending, a)
			if len(w.pending) >= recordEvery || time.Since(w.recorded) >= recordInterval {
				if err := w.flush(ctx); err != nil {
					return idle, err
				}
			}
			continue
		}
		if del.Failures == 0 {
			del.FailingSince = at
		}
		del.Failures++
		del.NextAttempt = at.Add(d.schedule(del.Failures))
		disable := d.disabler != nil && at.Sub(del.FailingSince) >= d.failFor
		if disable {
			del.NextAttempt = time.Time{}
		}
		a.NextRetry = del.NextAttempt
		w.pending = append(w.pending, a)
		w.log.Info("webhook delivery failed", "position", e.Position, "status", r.Status, "error", r.Error, "failures", del.Failures, "next_retry", a.NextRetry)
		if err := w.flushNow(ctx); err != nil {
			return waiting, err
		}
		if !disable {
			return waiting, nil
		}
		reason := fmt.Sprintf("deliveries failed for %s (%d attempts since %s; last: %s)",
			d.failFor.Round(time.Second), del.Failures, del.FailingSince.UTC().Format(time.RFC3339), r.Error)
		if err := d.disabler.Deactivate(ctx, w.tenant, w.id, reason, true); err != nil {
			w.log.Error("could not deactivate a failing webhook endpoint; trying again later", "error", err)
			del.NextAttempt = at.Add(d.schedule(del.Failures))
			w.dirty = true
			return waiting, w.flushNow(ctx)
		}
		w.log.Warn("deactivated a webhook endpoint that kept failing", "reason", reason)
		return stop, nil
	}
	if len(events) == pageSize {
		return more, nil
	}
	return idle, nil
}

// signingKeys are the keys of the endpoint's secrets that sign at at.
func (w *worker) signingKeys(ep webhooks.Endpoint, at time.Time) ([]Key, error) {
	return openKeys(w.d.secrets, w.keys, ep, at)
}

func openKeys(secrets Secrets, cache map[string]Key, ep webhooks.Endpoint, at time.Time) ([]Key, error) {
	var keys []Key
	for _, s := range ep.State.Secrets {
		if !s.Signs(at) {
			continue
		}
		k, ok := cache[s.Sealed]
		if !ok {
			secret, err := secrets.OpenWebhookSecret(ep.Tenant, ep.State.ID, s.Sealed)
			if err != nil {
				return nil, fmt.Errorf("open secret %s: %w", s.ID, err)
			}
			if k, err = ParseKey(secret); err != nil {
				return nil, fmt.Errorf("open secret %s: %w", s.ID, err)
			}
			if cache != nil {
				cache[s.Sealed] = k
			}
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no secret signs now")
	}
	return keys, nil
}
