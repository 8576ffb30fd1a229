// Package wake tells a node's readers of a tenant's events (the events
// API's long polls, its live streams, the webhook deliverers) that the
// tenant has something new. It carries no events: a reader woken reads
// the event store from its own cursor, so a missed or spurious wake-up
// costs a read, never an event.
package wake

import (
	"sync"

	"github.com/clavisiam/clavis/eventstore"
)

// Hub hands out, per tenant, a channel that is closed at the tenant's
// next event. Its zero value is not usable; make one with [New]. It is
// safe for concurrent use.
type Hub struct {
	mu      sync.Mutex
	tenants map[string]chan struct{}
	any     chan struct{}
}

// New returns an empty hub.
func New() *Hub { return &Hub{tenants: map[string]chan struct{}{}, any: make(chan struct{})} }

// Next returns a channel that is closed when an event of tenant is
// observed after the call. Take the channel before reading the store,
// then wait on it: an event committed in between closes it.
func (h *Hub) Next(tenant string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.tenants[tenant]
	if !ok {
		ch = make(chan struct{})
		h.tenants[tenant] = ch
	}
	return ch
}

// Any returns a channel that is closed when an event of any tenant is
// observed after the call.
func (h *Hub) Any() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.any
}

// Observe wakes the waiters of every tenant that events name. It has
// the shape of the projector's and the feed's observers.
func (h *Hub) Observe(events []eventstore.Event) {
	if len(events) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range events {
		if ch, ok := h.tenants[e.Stream.Tenant]; ok {
			close(ch)
			delete(h.tenants, e.Stream.Tenant)
		}
	}
	close(h.any)
	h.any = make(chan struct{})
}
