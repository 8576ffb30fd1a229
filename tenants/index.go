package tenants

import (
	"context"
	"fmt"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
)

// tenantIndex is every client of one tenant, replayed from the tenant's
// history in store order: exact as of the scan, with no read model in
// between. Export, Import and [StoreCatalogues] use it.
type tenantIndex struct {
	order   []string // client ids, in the order they were registered
	clients map[string]*client.Client
}

// scanTenant reads tenant's events from the start, a page at a time, and
// replays each client as its events go by, so that memory holds the
// clients' current state, not the history.
func scanTenant(ctx context.Context, store eventstore.Store, tenant string) (*tenantIndex, error) {
	ix := &tenantIndex{clients: make(map[string]*client.Client)}
	var after eventstore.Position
	for {
		page, err := store.ReadTenant(ctx, tenant, after, eventstore.MaxRead)
		if err != nil {
			return nil, fmt.Errorf("read tenant %q: %w", tenant, err)
		}
		for _, e := range page {
			after = e.Position
			if e.Stream.Type != StreamTypeClient {
				continue
			}
			d, err := client.Decode(e.Type, e.Schema, e.Data)
			if err != nil {
				return nil, &aggregate.LoadError{Stream: e.Stream, Version: e.Version, EventID: e.ID, Type: e.Type, Err: err}
			}
			c, ok := ix.clients[e.Stream.ID]
			if !ok {
				c = new(client.Client)
				ix.clients[e.Stream.ID] = c
				ix.order = append(ix.order, e.Stream.ID)
			}
			if err := c.Apply(d); err != nil {
				return nil, &aggregate.LoadError{Stream: e.Stream, Version: e.Version, EventID: e.ID, Type: e.Type, Err: err}
			}
		}
		if len(page) < eventstore.MaxRead {
			return ix, nil
		}
	}
}

// live returns the clients that are not deleted, in registration order.
func (ix *tenantIndex) live() []*client.Client {
	var out []*client.Client
	for _, id := range ix.order {
		if c := ix.clients[id]; !c.Deleted() {
			out = append(out, c)
		}
	}
	return out
}

// byCode returns the live client with code, or nil. Codes are unique
// among live clients of a tenant (the store's claims see to it).
func (ix *tenantIndex) byCode(code string) *client.Client {
	for _, c := range ix.live() {
		if c.Settings().Code == code {
			return c
		}
	}
	return nil
}

// catalogue is the tenant's scope catalogue: the API scopes its live
// clients define.
func (ix *tenantIndex) catalogue() scope.Catalogue {
	var rs []scope.Resource
	for _, c := range ix.live() {
		s := c.Settings()
		if len(s.APIScopes) > 0 {
			rs = append(rs, scope.Resource{Code: s.Code, Scopes: s.APIScopes})
		}
	}
	return scope.NewCatalogue(rs...)
}

// StoreCatalogues returns a [Catalogues] that builds each tenant's
// catalogue from the event store: exact, but it reads the tenant's whole
// history on every call. It is the default of [NewClients] and the
// fallback when the read model does not know a tenant yet; a server
// passes the read model with [WithCatalogues].
func StoreCatalogues(store eventstore.Store) Catalogues { return storeCatalogues{store} }

type storeCatalogues struct{ store eventstore.Store }

// Catalogue scans tenant's history for the API scopes of its live clients.
func (s storeCatalogues) Catalogue(ctx context.Context, tenant string) (scope.Catalogue, error) {
	ix, err := scanTenant(ctx, s.store, tenant)
	if err != nil {
		return scope.Catalogue{}, err
	}
	return ix.catalogue(), nil
}
