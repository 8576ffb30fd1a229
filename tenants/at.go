package tenants

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/projections"
)

// ErrInvalidInstant is what [ParseInstant] returns for text that is
// neither a store position nor an RFC 3339 time.
var ErrInvalidInstant = errors.New("tenants: not an RFC 3339 time nor a store position")

// Instant is a point in a tenant's history: a store position, or a time.
// At a position, the history holds every event at or before it in the
// store's order; at a time, every event the store recorded at or before
// it (its RecordedAt), each stream up to its first event recorded later.
// Make one with [AtPosition], [AtTime] or [ParseInstant]; the zero
// Instant is the position before every event.
type Instant struct {
	pos    eventstore.Position
	time   time.Time
	byTime bool
}

// AtPosition is the instant right after the event at p.
func AtPosition(p eventstore.Position) Instant { return Instant{pos: p} }

// AtTime is the instant t, in the store's clock.
func AtTime(t time.Time) Instant { return Instant{time: t.UTC(), byTime: true} }

// ParseInstant reads a store position in the form eventstore.Position's
// String writes ("commit.seq", digits only) or an RFC 3339 time with a
// time zone ("2030-01-02T03:04:05Z", fractions of a second allowed). Any
// other text fails with an error matching [ErrInvalidInstant].
func ParseInstant(s string) (Instant, error) {
	if commit, seq, ok := strings.Cut(s, "."); ok && digits(commit) && digits(seq) {
		p, err := eventstore.ParsePosition(s)
		if err != nil {
			return Instant{}, fmt.Errorf("%w: %q", ErrInvalidInstant, s)
		}
		return AtPosition(p), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Instant{}, fmt.Errorf("%w: %q", ErrInvalidInstant, s)
	}
	return AtTime(t), nil
}

// digits reports whether s is a non-empty run of ASCII digits.
func digits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// String is the instant in the form [ParseInstant] reads: the position,
// or the time in UTC (RFC 3339 with as many fractional digits as it has).
func (i Instant) String() string {
	if i.byTime {
		return i.time.Format(time.RFC3339Nano)
	}
	return i.pos.String()
}

// includes reports whether e is at or before the instant.
func (i Instant) includes(e eventstore.Event) bool {
	if i.byTime {
		return !e.RecordedAt.After(i.time)
	}
	return !i.pos.Less(e.Position)
}

// past reports whether every event after e is after the instant too: a
// position is passed for good, a time only for e's own stream (the
// store's order is not the order of its recording times across streams).
func (i Instant) past(e eventstore.Event) bool { return !i.byTime && !i.includes(e) }

// At returns client id of tenant as it was at instant at: the domain's
// own fold ([client.Client.Apply]) of its stream up to that instant, as
// [projections.NewClientView] shows a client (secret hashes in it are
// for the server: answers redact them as every read does). A client
// deleted by then is returned with Deleted set, as it was when deleted
// (UpdatedAt is when). It reads the event store, from the client's
// newest snapshot at or before the instant (see snapshot.go); an instant
// after the newest event gives the client as it is now.
//
// It fails with an error matching [domain.ErrNotFound] when the tenant
// does not exist, or did not yet at that instant, and when the client
// did not exist in the tenant at that instant (not yet, or never, or in
// another tenant only). Suspended tenants may be read.
func (c *Clients) At(ctx context.Context, tenant, id string, at Instant) (projections.ClientView, error) {
	if err := c.existedAt(ctx, tenant, at); err != nil {
		return projections.ClientView{}, fmt.Errorf("client at %s: %w", at, err)
	}
	if !validClientID(id) {
		return projections.ClientView{}, fmt.Errorf("client at %s: %w", at, notFound("client", id))
	}
	usable := func(s eventstore.Snapshot) bool { return !at.pos.Less(s.Position) }
	if at.byTime {
		usable = func(s eventstore.Snapshot) bool { return !s.RecordedAt.After(at.time) }
	}
	f, err := foldClient(ctx, c.store, c.cfg, ClientStream(tenant, id), at.includes, usable)
	if err != nil {
		return projections.ClientView{}, fmt.Errorf("client at %s: %w", at, err)
	}
	agg := f.agg
	if agg.Version() == 0 {
		return projections.ClientView{}, fmt.Errorf("client at %s: %w", at, notFound("client", id))
	}
	return projections.NewClientView(tenant, agg), nil
}

// applyStored decodes a stored client event and applies it to agg,
// checking that it is the next of the stream.
func applyStored(agg *client.Client, e eventstore.Event) error {
	d, err := client.Decode(e.Type, e.Schema, e.Data)
	return applyDecoded(agg, e, decodedEvent{d, err})
}

// decodedEvent is a stored client event decoded, or why it does not
// decode.
type decodedEvent struct {
	ev  domain.Event
	err error
}

// applyDecoded applies the stored event e, decoded as d, to agg,
// checking that it is the next of the stream.
func applyDecoded(agg *client.Client, e eventstore.Event, d decodedEvent) error {
	err := d.err
	if err == nil {
		err = agg.Apply(d.ev)
	}
	if err == nil && agg.Version() != e.Version {
		err = fmt.Errorf("the stream's version %d follows version %d", e.Version, agg.Version()-1)
	}
	if err != nil {
		return &aggregate.LoadError{Stream: e.Stream, Version: e.Version, EventID: e.ID, Type: e.Type, Err: err}
	}
	return nil
}

// decodeChunk is the number of events below which a stream is decoded
// by one goroutine.
const decodeChunk = 128

// decodeAll decodes stored client events, on every CPU for a long
// stream: decoding is pure and most of a past state's cost, and only
// the fold that follows, through Apply, needs the order.
func decodeAll(stored []eventstore.Event) []decodedEvent {
	out := make([]decodedEvent, len(stored))
	decode := func(from, to int) {
		for i := from; i < to; i++ {
			e := stored[i]
			out[i].ev, out[i].err = client.Decode(e.Type, e.Schema, e.Data)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(stored)/decodeChunk)
	if workers < 2 {
		decode(0, len(stored))
		return out
	}
	var wg sync.WaitGroup
	per := (len(stored) + workers - 1) / workers
	for from := 0; from < len(stored); from += per {
		wg.Go(func() { decode(from, min(from+per, len(stored))) })
	}
	wg.Wait()
	return out
}

// existedAt fails with an error matching [domain.ErrNotFound] unless
// tenant slug exists and its creation is part of the history at at.
func (c *Clients) existedAt(ctx context.Context, slug string, at Instant) error {
	if !tenant.ValidSlug(slug) {
		return notFound("tenant", slug)
	}
	history, err := c.store.ReadStream(ctx, TenantStream(slug), 0)
	if err != nil {
		return fmt.Errorf("read tenant %q: %w", slug, err)
	}
	if len(history) == 0 || !at.includes(history[0]) {
		return notFound("tenant", slug)
	}
	return nil
}

// AllAt returns one page of the clients of tenant as they were at
// instant at, each as [Clients.At] returns it, deleted ones included
// (with Deleted set) when they had been created by then: limit
// (1..projections.MaxPage) clients with ids after after, ordered by
// client id, and the cursor of the next page ("" on the last one). It
// fails as At does for a tenant that did not exist at that instant.
//
// It reads the tenant's events in the store's order, in pages, and folds
// each client's with the domain's Apply, keeping in memory only the
// clients that can still be on the page. At a position it stops there;
// at a time it reads to the newest event, since an event recorded
// earlier may come later in the store's order. Each page costs one read
// of the tenant's history up to the instant.
func (c *Clients) AllAt(ctx context.Context, tenant string, at Instant, after string, limit int) ([]projections.ClientView, string, error) {
	if limit < 1 || limit > projections.MaxPage {
		return nil, "", fmt.Errorf("clients at %s: limit %d is not within 1..%d: %w", at, limit, projections.MaxPage, eventstore.ErrInvalid)
	}
	if err := c.existedAt(ctx, tenant, at); err != nil {
		return nil, "", fmt.Errorf("clients at %s: %w", at, err)
	}
	p := newPastPage(after, limit)
	var from eventstore.Position
	for {
		events, err := c.store.ReadTenant(ctx, tenant, from, eventstore.MaxRead)
		if err != nil {
			return nil, "", fmt.Errorf("clients at %s: %w", at, err)
		}
		for _, e := range events {
			if at.past(e) {
				return p.result(tenant)
			}
			if err := p.add(e, at); err != nil {
				return nil, "", fmt.Errorf("clients at %s: %w", at, err)
			}
		}
		if len(events) < eventstore.MaxRead {
			return p.result(tenant)
		}
		from = events[len(events)-1].Position
	}
}

// pastPage folds the clients that can be on one page of [Clients.AllAt].
// Once more than the page's clients are known, those with the largest
// ids are dropped for good, and cutoff remembers where: a client with an
// id above it can no longer be on the page, whatever comes later.
type pastPage struct {
	after   string
	limit   int
	clients map[string]*pastClient
	cutoff  string // "" until the first prune
}

type pastClient struct {
	agg *client.Client
	// done is set at the stream's first event after the instant (at a
	// time): the stream's later events are not part of the history.
	done bool
}

func newPastPage(after string, limit int) *pastPage {
	return &pastPage{after: after, limit: limit, clients: make(map[string]*pastClient)}
}

// add folds one event of the tenant, read in the store's order.
func (p *pastPage) add(e eventstore.Event, at Instant) error {
	if e.Stream.Type != StreamTypeClient {
		return nil
	}
	id := e.Stream.ID
	if id <= p.after || p.cutoff != "" && id > p.cutoff {
		return nil
	}
	pc, ok := p.clients[id]
	if !ok {
		// A stream whose first event is after the instant was not
		// there; its later events are not either, and they never
		// make a slot (they are not its first).
		if e.Version != 1 || !at.includes(e) {
			return nil
		}
		pc = &pastClient{agg: new(client.Client)}
		p.clients[id] = pc
		if len(p.clients) > 2*(p.limit+1) {
			p.prune()
		}
	}
	if pc.done {
		return nil
	}
	if !at.includes(e) {
		pc.done = true
		return nil
	}
	return applyStored(pc.agg, e)
}

// prune keeps the limit+1 clients with the smallest ids (one more than
// the page, to tell whether a next page exists) and moves the cutoff to
// the largest of them.
func (p *pastPage) prune() {
	ids := make([]string, 0, len(p.clients))
	for id := range p.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) <= p.limit+1 {
		return
	}
	for _, id := range ids[p.limit+1:] {
		delete(p.clients, id)
	}
	p.cutoff = ids[p.limit]
}

// result is the page: the clients by id, and the next page's cursor.
func (p *pastPage) result(tenant string) ([]projections.ClientView, string, error) {
	ids := make([]string, 0, len(p.clients))
	for id := range p.clients {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var next string
	if len(ids) > p.limit {
		ids = ids[:p.limit]
		next = ids[p.limit-1]
	}
	out := make([]projections.ClientView, len(ids))
	for i, id := range ids {
		out[i] = projections.NewClientView(tenant, p.clients[id].agg)
	}
	return out, next, nil
}
