package projections

import (
	"context"
	"fmt"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
)

// The stream types (aggregates) the read model follows. Events of other
// stream types are skipped: they belong to projections of their own.
const (
	streamTenant = "tenant"
	streamClient = "client"
)

// kind says what the read model does with a stored event.
type kind uint8

const (
	kindSkip kind = iota
	kindTenant
	kindClient
)

// decoded is a stored event and the domain event it decodes to, or why it
// does not decode. Decoding happens before the write transaction; the
// error only counts if the event turns out not to be applied yet.
type decoded struct {
	env  eventstore.Event
	kind kind
	ev   domain.Event
	err  error
}

func decode(e eventstore.Event) decoded {
	d := decoded{env: e}
	switch e.Stream.Type {
	case streamClient:
		d.kind = kindClient
		d.ev, d.err = client.Decode(e.Type, e.Schema, e.Data)
	case streamTenant:
		d.kind = kindTenant
		d.ev, d.err = tenant.Decode(e.Type, e.Schema, e.Data)
	}
	return d
}

// fold changes the views that a batch of events touches, in memory: each
// view is loaded once, turned back into its aggregate, changed by every
// event of the batch in order through the aggregate's own Apply, and
// written once. It is the same for both backends and for rebuilds. What
// an event does to a tenant or a client is therefore said once, in the
// domain; the fold adds only what the envelope tells (the stream's
// tenant, id and version), which the aggregate never sees.
type fold struct {
	tenants     map[string]*tenantSlot
	tenantOrder []string
	clients     map[string]*clientSlot // by client_id, unique across tenants
	clientOrder []string
}

type tenantSlot struct {
	agg   *tenant.Tenant
	dirty bool
}

type clientSlot struct {
	agg    *client.Client
	tenant string
	dirty  bool
}

func newFold() *fold {
	return &fold{tenants: make(map[string]*tenantSlot), clients: make(map[string]*clientSlot)}
}

// touch makes room for the view that d changes: an aggregate with no
// history until load finds one.
func (f *fold) touch(d decoded) {
	id := d.env.Stream.ID
	switch d.kind {
	case kindTenant:
		if _, ok := f.tenants[id]; !ok {
			f.tenants[id] = &tenantSlot{agg: new(tenant.Tenant)}
			f.tenantOrder = append(f.tenantOrder, id)
		}
	case kindClient:
		if _, ok := f.clients[id]; !ok {
			f.clients[id] = &clientSlot{agg: new(client.Client), tenant: d.env.Stream.Tenant}
			f.clientOrder = append(f.clientOrder, id)
		}
	}
}

// load reads every view the events touch and restores its aggregate.
func (f *fold) load(ctx context.Context, l Loader) error {
	if len(f.tenantOrder) > 0 {
		views, err := l.Tenants(ctx, f.tenantOrder)
		if err != nil {
			return fmt.Errorf("load tenants: %w", err)
		}
		for _, v := range views {
			if s, ok := f.tenants[v.Slug]; ok {
				s.agg = tenant.FromState(v.State())
			}
		}
	}
	if len(f.clientOrder) > 0 {
		views, err := l.Clients(ctx, f.clientOrder)
		if err != nil {
			return fmt.Errorf("load clients: %w", err)
		}
		for _, v := range views {
			if s, ok := f.clients[v.ClientID]; ok {
				s.agg, s.tenant = client.FromState(v.State()), v.Tenant
			}
		}
	}
	return nil
}

// apply changes the aggregates by one event, whose view was touched and
// loaded. On error nothing of the fold may be written.
func (f *fold) apply(d decoded) error {
	switch d.kind {
	case kindTenant:
		s := f.tenants[d.env.Stream.ID]
		if err := applyTenant(s.agg, d.env, d.ev); err != nil {
			return err
		}
		s.dirty = true
	case kindClient:
		s := f.clients[d.env.Stream.ID]
		if s.tenant != d.env.Stream.Tenant {
			return corrupt("client %s belongs to tenant %s, not %s", d.env.Stream.ID, s.tenant, d.env.Stream.Tenant)
		}
		if err := applyClient(s.agg, d.env, d.ev); err != nil {
			return err
		}
		s.dirty = true
	}
	return nil
}

// applyTenant applies e to t, then checks what the envelope adds. Apply
// comes first so that an event the aggregate refuses is refused with the
// aggregate's own error, whichever batch it arrives in.
func applyTenant(t *tenant.Tenant, env eventstore.Event, e domain.Event) error {
	if err := t.Apply(e); err != nil {
		return err
	}
	if c, ok := e.(tenant.TenantCreated); ok && c.Slug != env.Stream.ID {
		return corrupt("tenant created with slug %q in stream %s", c.Slug, env.Stream)
	}
	return inSequence(t.Version(), env)
}

// applyClient applies e to c, then checks what the envelope adds, as
// applyTenant does.
func applyClient(c *client.Client, env eventstore.Event, e domain.Event) error {
	if err := c.Apply(e); err != nil {
		return err
	}
	if r, ok := e.(client.ClientRegistered); ok && r.ClientID != env.Stream.ID {
		return corrupt("client registered with id %q in stream %s", r.ClientID, env.Stream)
	}
	return inSequence(c.Version(), env)
}

// inSequence checks that an aggregate that applied env's event is at
// env's version: no event of its stream is missing from the read model.
func inSequence(version int64, env eventstore.Event) error {
	if version != env.Version {
		return corrupt("%s is at version %d, event has version %d", env.Stream, version-1, env.Version)
	}
	return nil
}

// changes returns what the fold writes: every changed view once, in the
// order the batch first touched it.
func (f *fold) changes() *Changes {
	c := &Changes{}
	for _, slug := range f.tenantOrder {
		if s := f.tenants[slug]; s.dirty {
			c.Tenants = append(c.Tenants, NewTenantView(s.agg))
		}
	}
	for _, id := range f.clientOrder {
		s := f.clients[id]
		switch {
		case !s.dirty:
		case s.agg.Deleted():
			c.Deleted = append(c.Deleted, ClientRef{Tenant: s.tenant, ClientID: id, Version: s.agg.Version()})
		default:
			// The fold is done with the aggregate: its state moves
			// into the view without a copy.
			c.Clients = append(c.Clients, clientView(s.tenant, s.agg.TakeState()))
		}
	}
	return c
}

// corrupt says why an event cannot follow a view's history.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), domain.ErrCorruptEvent)
}

// foldEvents folds events, every one of them not applied yet, into the
// views held by l and returns what to write (the checkpoint left to the
// caller). An event that does not decode or cannot follow its view's
// history fails the whole batch with an *EventError.
func foldEvents(ctx context.Context, l Loader, events []decoded) (*Changes, error) {
	f := newFold()
	for _, d := range events {
		if d.err != nil {
			return nil, eventError(d.env, d.err)
		}
		f.touch(d)
	}
	if err := f.load(ctx, l); err != nil {
		return nil, err
	}
	for _, d := range events {
		if err := f.apply(d); err != nil {
			return nil, eventError(d.env, err)
		}
	}
	return f.changes(), nil
}
