package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/message"
	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/eventstore/traced"
)

// Relay publishes the store's events to the internal and public streams.
// Create it with [New] and run it with [Relay.Run].
type Relay struct {
	store    eventstore.Store
	nc       *nats.Conn
	js       jetstream.JetStream
	names    subject.Names
	log      *slog.Logger
	node     string
	poll     time.Duration
	leases   time.Duration
	replicas int

	wake   chan struct{}
	tracer trace.Tracer

	// announcer gives the messages other than events the relay publishes
	// on the public stream; announced is when it was last asked.
	announcer Announcer
	announced time.Time
	announce  atomic.Bool // set by Announce: ask at the next round

	mu     sync.Mutex
	status Status
	// awaited is the newest committed position a wake-up named; blind is
	// when a wake-up last named none.
	awaited eventstore.Position
	blind   time.Time
}

// Status is what the relay has published so far.
type Status struct {
	// Leader is true while this node holds the relay lease.
	Leader bool `json:"leader"`
	// Internal and Public are the store positions of the last event each
	// stream holds.
	Internal eventstore.Position `json:"internal"`
	Public   eventstore.Position `json:"public"`
	// LastError is the last publishing error, cleared by a success.
	LastError string `json:"last_error,omitempty"`
}

// Option configures [New].
type Option func(*options) error

// ErrInvalidOption is wrapped by every error an [Option] returns.
var ErrInvalidOption = errors.New("relay: invalid option")

type options struct {
	log       *slog.Logger
	node      string
	poll      time.Duration
	leases    time.Duration
	replicas  int
	announcer Announcer
}

// WithLogger makes the relay log to l. Without it, or with a nil l, the
// relay logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		o.log = l
		return nil
	}
}

// WithNode names this node in the lease (default: a random id).
func WithNode(id string) Option {
	return func(o *options) error {
		if id == "" {
			return fmt.Errorf("%w: empty node id", ErrInvalidOption)
		}
		o.node = id
		return nil
	}
}

// WithPollInterval sets how often the relay looks for new events when
// nothing woke it (default 1 s). Wake-ups ([Relay.Wake], or a message on
// the wake subject) make new events go out at once.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Millisecond {
			return fmt.Errorf("%w: poll interval %s is too short", ErrInvalidOption, d)
		}
		o.poll = d
		return nil
	}
}

// WithLeaseTTL sets how long the lease outlives a relay that stopped
// renewing it (default 10 s): the longest pause before another node takes
// over.
func WithLeaseTTL(d time.Duration) Option {
	return func(o *options) error {
		if d < 100*time.Millisecond {
			return fmt.Errorf("%w: lease ttl %s is too short", ErrInvalidOption, d)
		}
		o.leases = d
		return nil
	}
}

// WithReplicas sets the replication factor Run gives the streams it
// creates (default 1).
func WithReplicas(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 5 {
			return fmt.Errorf("%w: %d replicas is not within 1..5", ErrInvalidOption, n)
		}
		o.replicas = n
		return nil
	}
}

// Announcement is a message other than an event that the relay publishes
// on the public stream, in between events. The relay must be the one to
// publish it: each of its pipelined publishes states the stream sequence
// it expects, and a message of anyone else's landing between them would
// take the sequence the next one expects, so that the first one is
// refused, the second lands out of order, and the first is never
// published.
type Announcement struct {
	// ID is the message id JetStream de-duplicates by.
	ID string
	// Msg is the message. The relay sets its position header to the
	// store position of the event it follows, so that it resumes after
	// it as after an event.
	Msg *nats.Msg
	// Published records that the message was published. It may be
	// called again for a message published twice (a duplicate
	// JetStream dropped).
	Published func(ctx context.Context) error
}

// Announcer returns the announcements waiting to be published, oldest
// first.
type Announcer func(ctx context.Context) ([]Announcement, error)

// WithAnnouncer makes the relay, while it holds the lease, publish the
// announcements a returns on the public stream: it asks a at most every
// poll interval, and at its next round after [Relay.Announce].
func WithAnnouncer(a Announcer) Option {
	return func(o *options) error {
		if a == nil {
			return fmt.Errorf("%w: nil announcer", ErrInvalidOption)
		}
		o.announcer = a
		return nil
	}
}

// Announce tells the relay that an announcement is waiting.
func (r *Relay) Announce() {
	r.announce.Store(true)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// batchSize is how many events are pipelined per round.
const batchSize = 256

// New returns a relay from store to the streams named by names, over nc.
func New(store eventstore.Store, nc *nats.Conn, names subject.Names, opts ...Option) (*Relay, error) {
	o := options{
		log:  slog.New(slog.DiscardHandler),
		node: fmt.Sprintf("node-%016x", rand.Uint64()),
		poll: time.Second, leases: 10 * time.Second, replicas: 1,
	}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return &Relay{
		store: store, nc: nc, js: js, names: names,
		log: o.log, node: o.node,
		poll: o.poll, leases: o.leases, replicas: o.replicas, announcer: o.announcer,
		wake:   make(chan struct{}, 1),
		tracer: otel.Tracer("github.com/clavisiam/clavis/eventstore/relay"),
	}, nil
}

// Status reports what the relay has published.
func (r *Relay) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Wake tells the relay that events up to pos are committed (pos may be
// zero when unknown). Until it has published them, the relay polls
// briskly for a while: on PostgreSQL a committed event only becomes
// readable once every older transaction has ended.
func (r *Relay) Wake(pos eventstore.Position) {
	r.mu.Lock()
	if pos.IsZero() {
		r.blind = time.Now()
	} else if r.awaited.Less(pos) {
		r.awaited = pos
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// EnsureStreams creates or updates the internal and public streams and
// the lease bucket. Their retention is unlimited: the streams are the
// history downstream subscribers replay from.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, names subject.Names, replicas int) error {
	if replicas < 1 {
		replicas = 1
	}
	for _, cfg := range []jetstream.StreamConfig{
		{Name: names.InternalStream(), Subjects: []string{names.InternalFilter()}, Description: "Clavis events, whole envelopes (internal)"},
		{Name: names.PublicStream(), Subjects: []string{names.PublicFilter()}, Description: "Clavis events as CloudEvents, without secrets"},
	} {
		cfg.Storage = jetstream.FileStorage
		cfg.Retention = jetstream.LimitsPolicy
		cfg.Duplicates = 10 * time.Minute
		cfg.Replicas = replicas
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("relay: create stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// lane is one stream the relay feeds.
type lane struct {
	name    string
	encode  func(subject.Names, eventstore.Event) (*nats.Msg, error)
	lastSeq uint64
	lastPos eventstore.Position
	synced  bool
}

// Run publishes until ctx ends. It survives NATS outages and store
// errors, retrying with backoff; it returns only ctx's error.
func (r *Relay) Run(ctx context.Context) error {
	sub, err := r.nc.Subscribe(r.names.WakeSubject(), func(m *nats.Msg) {
		pos, _ := eventstore.ParsePosition(string(m.Data)) // zero when absent or garbled
		r.Wake(pos)
	})
	if err == nil {
		defer sub.Unsubscribe()
	} else {
		r.log.Warn("relay: no wake-up subscription; polling only", "error", err)
	}
	lanes := []*lane{
		{name: r.names.InternalStream(), encode: message.Internal},
		{name: r.names.PublicStream(), encode: message.Public},
	}
	lease := &lease{r: r}
	backoff := 100 * time.Millisecond
	ensured := false
	// After a wake-up or a publish the relay polls briskly for a while,
	// as long as a wake-up named a position it has not published: on
	// PostgreSQL a new event only becomes readable once every older
	// transaction has ended, which can be a moment after its own commit
	// woke the relay. Otherwise it sleeps until the next wake-up (or
	// poll): polling for nothing only loaded the database.
	var active time.Time
	for {
		if ctx.Err() != nil {
			lease.release()
			return ctx.Err()
		}
		var err error
		if !ensured {
			// Create the streams (idempotent); NATS may still be away.
			if err = EnsureStreams(ctx, r.js, r.names, r.replicas); err == nil {
				ensured = true
			}
		}
		var leader bool
		if err == nil {
			leader, err = lease.hold(ctx)
		}
		if err == nil && !leader {
			r.setLeader(false)
			for _, l := range lanes {
				l.synced = false // another node publishes meanwhile
			}
			r.sleep(ctx, r.leases/3)
			continue
		}
		if err == nil {
			r.setLeader(true)
			var published int
			published, err = r.round(ctx, lanes)
			if err == nil {
				backoff = 100 * time.Millisecond
				r.setError(nil)
				if published > 0 {
					active = time.Now()
				} else {
					wait := r.poll
					if time.Since(active) < hotWindow && r.pending(lanes) {
						wait = hotPoll
					}
					if r.sleep(ctx, wait) {
						active = time.Now()
					}
				}
				continue
			}
		}
		if ctx.Err() != nil {
			continue
		}
		r.setError(err)
		r.log.Warn("relay: publishing paused", "error", err, "retry_in", backoff)
		for _, l := range lanes {
			l.synced = false
		}
		r.sleep(ctx, backoff+time.Duration(rand.Int64N(int64(backoff/2)+1)))
		backoff = min(backoff*2, 5*time.Second)
	}
}

// How briskly, and for how long after activity, the relay polls.
const (
	hotPoll   = 2 * time.Millisecond
	hotWindow = 500 * time.Millisecond
)

// pending reports whether a wake-up named a position that some lane has
// not published yet, or named none a moment ago.
func (r *Relay) pending(lanes []*lane) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.blind) < hotWindow {
		return true
	}
	for _, l := range lanes {
		if l.lastPos.Less(r.awaited) {
			return true
		}
	}
	return false
}

// sleep waits for d, a wake-up or the end of ctx, and reports whether a
// wake-up ended it.
func (r *Relay) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-r.wake:
		return true
	case <-t.C:
	}
	return false
}

// round publishes the next batch of events to every lane and reports how
// many messages it published.
func (r *Relay) round(ctx context.Context, lanes []*lane) (int, error) {
	from := eventstore.Position{}
	for i, l := range lanes {
		if !l.synced {
			if err := r.sync(ctx, l); err != nil {
				return 0, err
			}
		}
		if i == 0 || l.lastPos.Less(from) {
			from = l.lastPos
		}
	}
	announced, err := r.announceOn(ctx, lanes[len(lanes)-1])
	if err != nil {
		return announced, err
	}
	events, err := r.store.ReadAll(ctx, from, batchSize)
	if err != nil {
		return announced, fmt.Errorf("read events after %s: %w", from, err)
	}
	if len(events) == 0 {
		return announced, nil
	}
	type pending struct {
		l   *lane
		pos eventstore.Position
		ack jetstream.PubAckFuture
	}
	var inflight []pending
	expected := map[*lane]uint64{}
	for _, l := range lanes {
		expected[l] = l.lastSeq
	}
	var perr error
	var spans []trace.Span
	defer func() {
		for _, sp := range spans {
			if perr != nil {
				sp.SetStatus(codes.Error, "publish failed")
			}
			sp.End()
		}
	}()
publish:
	for _, e := range events {
		_, sp := r.tracer.Start(traced.FromTraceParent(ctx, e.Meta.TraceParent), "relay.publish",
			trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
				attribute.String("clavis.tenant", e.Stream.Tenant),
				attribute.String("clavis.event_type", e.Type),
				attribute.String("clavis.position", e.Position.String()),
				attribute.String("messaging.system", "nats")))
		spans = append(spans, sp)
		for _, l := range lanes {
			if !l.lastPos.Less(e.Position) {
				continue
			}
			m, err := l.encode(r.names, e)
			if err != nil {
				perr = err
				break publish
			}
			f, err := r.js.PublishMsgAsync(m,
				jetstream.WithMsgID(e.ID),
				jetstream.WithExpectStream(l.name),
				jetstream.WithExpectLastSequence(expected[l]))
			if err != nil {
				perr = fmt.Errorf("publish to %s: %w", l.name, err)
				break publish
			}
			expected[l]++
			inflight = append(inflight, pending{l, e.Position, f})
		}
	}
	// Take every ack in order; the first failure stops a lane's progress,
	// and everything pipelined behind it on that lane failed its
	// expected-sequence check, so nothing landed out of order.
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	failed := map[*lane]bool{}
	n := 0
	for _, p := range inflight {
		select {
		case ack := <-p.ack.Ok():
			if failed[p.l] {
				continue
			}
			p.l.lastSeq, p.l.lastPos = ack.Sequence, p.pos
			n++
		case err := <-p.ack.Err():
			if !failed[p.l] {
				failed[p.l] = true
				p.l.synced = false
				if perr == nil {
					perr = fmt.Errorf("publish to %s: %w", p.l.name, err)
				}
			}
		case <-timeout.C:
			for _, l := range lanes {
				l.synced = false
			}
			return n, errors.Join(perr, errors.New("publish acknowledgements timed out"))
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
	r.mu.Lock()
	r.status.Internal, r.status.Public = lanes[0].lastPos, lanes[1].lastPos
	r.mu.Unlock()
	return n, perr
}

// announceOn publishes the waiting announcements on the lane l (the
// public one), one at a time, each after the lane's last message, when
// Announce asked or a poll interval has passed since it last looked.
func (r *Relay) announceOn(ctx context.Context, l *lane) (int, error) {
	if r.announcer == nil || (!r.announce.Swap(false) && time.Since(r.announced) < r.poll) {
		return 0, nil
	}
	r.announced = time.Now()
	as, err := r.announcer(ctx)
	if err != nil {
		return 0, fmt.Errorf("read announcements: %w", err)
	}
	n := 0
	for _, a := range as {
		if a.Msg.Header == nil {
			a.Msg.Header = nats.Header{}
		}
		a.Msg.Header.Set(message.HeaderPosition, l.lastPos.String())
		ack, err := r.js.PublishMsg(ctx, a.Msg, jetstream.WithMsgID(a.ID), jetstream.WithExpectStream(l.name),
			jetstream.WithExpectLastSequence(l.lastSeq))
		if err != nil {
			l.synced = false
			r.announce.Store(true)
			return n, fmt.Errorf("publish %s to %s: %w", a.ID, l.name, err)
		}
		if !ack.Duplicate {
			l.lastSeq = ack.Sequence
			n++
		}
		if err := a.Published(ctx); err != nil {
			return n, fmt.Errorf("announcement %s published: %w", a.ID, err)
		}
	}
	return n, nil
}

// sync reads where a stream stands: its last sequence and the store
// position its last message carries.
func (r *Relay) sync(ctx context.Context, l *lane) error {
	s, err := r.js.Stream(ctx, l.name)
	if err != nil {
		return fmt.Errorf("open stream %s: %w", l.name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s info: %w", l.name, err)
	}
	l.lastSeq, l.lastPos = info.State.LastSeq, eventstore.Position{}
	if l.lastSeq > 0 {
		m, err := s.GetMsg(ctx, l.lastSeq)
		if err != nil {
			return fmt.Errorf("read last message of %s: %w", l.name, err)
		}
		if l.lastPos, err = message.PositionOf(m.Header); err != nil {
			return fmt.Errorf("last message of %s: %w", l.name, err)
		}
	}
	l.synced = true
	return nil
}

func (r *Relay) setLeader(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.Leader = on
}

func (r *Relay) setError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.status.LastError = ""
	} else {
		r.status.LastError = err.Error()
	}
}

// lease is the relay's claim to be the one publishing, a key in a
// JetStream key-value bucket whose entries expire after the lease TTL. It
// saves work; correctness never depends on it.
type lease struct {
	r        *Relay
	kv       jetstream.KeyValue
	revision uint64
	renewed  time.Time
}

const leaseKey = "relay"

// hold takes or renews the lease and reports whether this node holds it.
func (l *lease) hold(ctx context.Context) (bool, error) {
	if l.kv == nil {
		// Created, or bound when it exists: nodes that start together
		// create it at once, which JetStream answers at once, whereas
		// updates of a bucket being created stall until their deadline.
		kv, err := l.r.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: l.r.names.LeaseBucket(), TTL: l.r.leases, History: 1,
			// Replicated as the streams are: a lease on one server would
			// stop every relay while that server is down.
			Replicas: l.r.replicas,
			MaxBytes: 1 << 20, MaxValueSize: 1 << 10, // one key, a node's name
			Description: "Clavis relay lease",
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = l.r.js.KeyValue(ctx, l.r.names.LeaseBucket())
		}
		if err != nil {
			return false, fmt.Errorf("open lease bucket: %w", err)
		}
		l.kv = kv
	}
	if l.revision != 0 {
		if time.Since(l.renewed) < l.r.leases/3 {
			return true, nil
		}
		rev, err := l.kv.Update(ctx, leaseKey, []byte(l.r.node), l.revision)
		if err == nil {
			l.revision, l.renewed = rev, time.Now()
			return true, nil
		}
		l.r.log.Info("relay: lease lost", "node", l.r.node, "error", err)
		l.revision = 0
	}
	rev, err := l.kv.Create(ctx, leaseKey, []byte(l.r.node))
	switch {
	case err == nil:
		l.revision, l.renewed = rev, time.Now()
		l.r.log.Info("relay: lease taken; publishing", "node", l.r.node)
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	}
	return false, fmt.Errorf("take lease: %w", err)
}

// release gives the lease up so another node takes over at once.
func (l *lease) release() {
	if l.kv == nil || l.revision == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.kv.Delete(ctx, leaseKey, jetstream.LastRevision(l.revision))
	l.revision = 0
}
