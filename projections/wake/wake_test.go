package wake_test

import (
	"testing"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/wake"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestAnEventWakesItsTenantOnly(t *testing.T) {
	h := wake.New()
	a, b, any := h.Next("acme"), h.Next("beta"), h.Any()
	if closed(a) || closed(b) || closed(any) {
		t.Fatal("a channel is closed before any event")
	}
	h.Observe([]eventstore.Event{{Stream: eventstore.StreamID{Tenant: "acme", Type: "client", ID: "c"}}})
	if !closed(a) || !closed(any) {
		t.Fatal("acme's event did not wake acme's waiters")
	}
	if closed(b) {
		t.Fatal("acme's event woke beta's waiters")
	}
	if closed(h.Next("acme")) || closed(h.Any()) {
		t.Fatal("a channel taken after the event is already closed")
	}
	h.Observe(nil)
	if closed(b) {
		t.Fatal("no events woke beta")
	}
}
