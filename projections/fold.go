package projections

import (
	"context"
	"fmt"
	"reflect"
	"slices"

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
// view is loaded once, changed by every event of the batch in order, and
// written once. It is the same for both backends and for rebuilds.
type fold struct {
	tenants     map[string]*tenantSlot
	tenantOrder []string
	clients     map[string]*clientSlot // by client_id, unique across tenants
	clientOrder []string
}

type tenantSlot struct {
	view          TenantView
	exists, dirty bool
}

type clientSlot struct {
	view   ClientView
	exists bool // the client is live (registered, not deleted)
	stored bool // the read model holds a row for it
	gone   bool // deleted in this batch
	dirty  bool
	ref    ClientRef
}

func newFold() *fold {
	return &fold{tenants: make(map[string]*tenantSlot), clients: make(map[string]*clientSlot)}
}

// touch makes room for the view that d changes.
func (f *fold) touch(d decoded) {
	id := d.env.Stream.ID
	switch d.kind {
	case kindTenant:
		if _, ok := f.tenants[id]; !ok {
			f.tenants[id] = &tenantSlot{}
			f.tenantOrder = append(f.tenantOrder, id)
		}
	case kindClient:
		if _, ok := f.clients[id]; !ok {
			f.clients[id] = &clientSlot{ref: ClientRef{Tenant: d.env.Stream.Tenant, ClientID: id}}
			f.clientOrder = append(f.clientOrder, id)
		}
	}
}

// loadTenant and loadClient put a stored view in place.
func (f *fold) loadTenant(v TenantView) {
	if s, ok := f.tenants[v.Slug]; ok {
		s.view, s.exists = v, true
	}
}

func (f *fold) loadClient(v ClientView) {
	if s, ok := f.clients[v.ClientID]; ok {
		s.view, s.exists, s.stored = v, true, true
		s.ref = ClientRef{Tenant: v.Tenant, ClientID: v.ClientID}
	}
}

// load reads every view the events touch.
func (f *fold) load(ctx context.Context, l Loader) error {
	if len(f.tenantOrder) > 0 {
		views, err := l.Tenants(ctx, f.tenantOrder)
		if err != nil {
			return fmt.Errorf("load tenants: %w", err)
		}
		for _, v := range views {
			f.loadTenant(v)
		}
	}
	if len(f.clientOrder) > 0 {
		views, err := l.Clients(ctx, f.clientOrder)
		if err != nil {
			return fmt.Errorf("load clients: %w", err)
		}
		for _, v := range views {
			f.loadClient(v)
		}
	}
	return nil
}

// apply changes the views by one event, whose view was touched and
// loaded. On error nothing of the fold may be written.
func (f *fold) apply(d decoded) error {
	switch d.kind {
	case kindTenant:
		return f.tenants[d.env.Stream.ID].apply(d.env, d.ev)
	case kindClient:
		return f.clients[d.env.Stream.ID].apply(d.env, d.ev)
	}
	return nil
}

// changes returns what the fold writes: every changed view once, in the
// order the batch first touched it.
func (f *fold) changes() *Changes {
	c := &Changes{}
	for _, slug := range f.tenantOrder {
		if s := f.tenants[slug]; s.dirty {
			c.Tenants = append(c.Tenants, s.view)
		}
	}
	for _, id := range f.clientOrder {
		s := f.clients[id]
		switch {
		case !s.dirty:
		case s.exists:
			c.Clients = append(c.Clients, s.view)
		case s.stored:
			c.Deleted = append(c.Deleted, s.ref)
		}
	}
	return c
}

// corrupt says why an event cannot follow a view's history.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), domain.ErrCorruptEvent)
}

func (s *tenantSlot) apply(env eventstore.Event, e domain.Event) error {
	if c, ok := e.(tenant.TenantCreated); ok {
		switch {
		case s.exists:
			return corrupt("tenant %s already created", env.Stream.ID)
		case env.Version != 1:
			return corrupt("tenant %s created at version %d", env.Stream.ID, env.Version)
		case c.Slug != env.Stream.ID:
			return corrupt("tenant created with slug %q in stream %s", c.Slug, env.Stream)
		}
		s.view = TenantView{Slug: c.Slug, Name: c.Name, Version: 1, CreatedAt: c.At, UpdatedAt: c.At}
		s.exists, s.dirty = true, true
		return nil
	}
	switch {
	case !s.exists:
		return corrupt("tenant %s not created", env.Stream.ID)
	case env.Version != s.view.Version+1:
		return corrupt("tenant %s is at version %d, event has version %d", env.Stream.ID, s.view.Version, env.Version)
	}
	v := &s.view
	switch e := e.(type) {
	case tenant.TenantRenamed:
		v.Name, v.UpdatedAt = e.Name, e.At
	case tenant.TenantSuspended:
		v.Suspended, v.SuspensionReason, v.UpdatedAt = true, e.Reason, e.At
	case tenant.TenantResumed:
		v.Suspended, v.SuspensionReason, v.UpdatedAt = false, "", e.At
	case tenant.LoginURLSet:
		v.LoginURL, v.UpdatedAt = e.LoginURL, e.At
	case tenant.SigningKeyAdded:
		if slices.ContainsFunc(v.Keys, func(k tenant.Key) bool { return k.KID == e.KID }) {
			return corrupt("tenant %s already has key %s", env.Stream.ID, e.KID)
		}
		v.Keys = append(slices.Clone(v.Keys), tenant.Key{KID: e.KID, Alg: e.Alg, PublicJWK: e.PublicJWK, Sealed: e.Sealed,
			AddedAt: e.At, ActiveFrom: e.ActiveFrom})
		v.UpdatedAt = e.At
	case tenant.SigningKeyRetired:
		i := slices.IndexFunc(v.Keys, func(k tenant.Key) bool { return k.KID == e.KID })
		if i < 0 || v.Keys[i].Retired() {
			return corrupt("tenant %s has no key %s to retire", env.Stream.ID, e.KID)
		}
		v.Keys = slices.Clone(v.Keys)
		v.Keys[i].SignsUntil, v.Keys[i].PublishedUntil = e.SignsUntil, e.PublishedUntil
		v.UpdatedAt = e.At
	default:
		return fmt.Errorf("tenant view cannot apply %T: %w", e, domain.ErrUnknownEvent)
	}
	v.Version = env.Version
	s.dirty = true
	return nil
}

func (s *clientSlot) apply(env eventstore.Event, e domain.Event) error {
	id := env.Stream.ID
	if r, ok := e.(client.ClientRegistered); ok {
		switch {
		case s.exists || s.gone:
			return corrupt("client %s already registered", id)
		case env.Version != 1:
			return corrupt("client %s registered at version %d", id, env.Version)
		case r.ClientID != id:
			return corrupt("client registered with id %q in stream %s", r.ClientID, env.Stream)
		}
		secrets := make([]SecretView, 0, len(r.Secrets))
		for _, sec := range r.Secrets {
			secrets = append(secrets, secretView(sec))
		}
		s.view = ClientView{
			Tenant:     env.Stream.Tenant,
			ClientID:   r.ClientID,
			Settings:   compact(r.Settings),
			Active:     r.Active,
			Secrets:    secrets,
			ClonedFrom: r.ClonedFrom,
			Version:    1,
			CreatedAt:  r.At,
			UpdatedAt:  r.At,
		}
		s.ref = ClientRef{Tenant: env.Stream.Tenant, ClientID: id}
		s.exists, s.dirty = true, true
		return nil
	}
	switch {
	case s.gone:
		return corrupt("client %s already deleted", id)
	case !s.exists:
		return corrupt("client %s not registered", id)
	case s.view.Tenant != env.Stream.Tenant:
		return corrupt("client %s belongs to tenant %s, not %s", id, s.view.Tenant, env.Stream.Tenant)
	case env.Version != s.view.Version+1:
		return corrupt("client %s is at version %d, event has version %d", id, s.view.Version, env.Version)
	}
	v := &s.view
	switch e := e.(type) {
	case client.ClientUpdated:
		v.Settings, v.UpdatedAt = compact(e.Settings), e.At
	case client.SecretAdded:
		if v.secret(e.Secret.ID) >= 0 {
			return corrupt("client %s already holds secret %q", id, e.Secret.ID)
		}
		v.Secrets = append(v.Secrets, secretView(e.Secret))
		v.UpdatedAt = e.At
	case client.SecretRevoked:
		i := v.secret(e.SecretID)
		if i < 0 {
			return corrupt("client %s holds no secret %q", id, e.SecretID)
		}
		v.Secrets = slices.Delete(v.Secrets, i, i+1)
		v.UpdatedAt = e.At
	case client.SecretRotated:
		if v.secret(e.New.ID) >= 0 {
			return corrupt("client %s already holds secret %q", id, e.New.ID)
		}
		for _, x := range e.Expiring {
			i := v.secret(x.SecretID)
			if i < 0 {
				return corrupt("client %s holds no secret %q", id, x.SecretID)
			}
			t := x.ExpiresAt
			v.Secrets[i].ExpiresAt = &t
		}
		v.Secrets = append(v.Secrets, secretView(e.New))
		v.UpdatedAt = e.At
	case client.ClientActivated:
		v.Active, v.DeactivationReason, v.UpdatedAt = true, "", e.At
	case client.ClientDeactivated:
		v.Active, v.DeactivationReason, v.UpdatedAt = false, e.Reason, e.At
	case client.ClientDeleted:
		s.exists, s.gone, s.dirty = false, true, true
		return nil
	default:
		return fmt.Errorf("client view cannot apply %T: %w", e, domain.ErrUnknownEvent)
	}
	v.Version = env.Version
	s.dirty = true
	return nil
}

func (v *ClientView) secret(id string) int {
	return slices.IndexFunc(v.Secrets, func(s SecretView) bool { return s.ID == id })
}

func secretView(s client.Secret) SecretView {
	return SecretView{ID: s.ID, Hash: s.Hash, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, Description: s.Description}
}

// compact turns the empty lists and maps of settings into nil, as the
// client aggregate does with the settings it keeps, so that a view folded
// from events equals [NewClientView] of the replayed aggregate whatever
// the stored JSON held ([] or null). It works on every slice and map
// field, so a field added to client.Settings is covered without a change
// here.
func compact(s client.Settings) client.Settings {
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && !f.IsNil() && f.Len() == 0 {
			f.SetZero()
		}
	}
	return s
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
