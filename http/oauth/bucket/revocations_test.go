package bucket_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/http/oauth/bucket"
	"github.com/clavisiam/clavis/internal/poll"
)

// TestRevocations runs two nodes' views of one bucket on a NATS
// server of the test's own.
func TestRevocations(t *testing.T) {
	ns, err := natsserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	node := func() *bucket.Revocations {
		nc, err := nats.Connect("", nats.InProcessServer(ns))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		return bucket.NewRevocations(ctx, js, "REVOKED", 1, nil)
	}
	a := node()
	if !a.Loaded() {
		t.Fatal("not loaded after NewRevocations returned with NATS up")
	}
	if err := a.Revoke(t.Context(), "acme", "jti-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(t.Context(), "acme", "jti-old", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if !a.Revoked("acme", "jti-1") || a.Revoked("beta", "jti-1") || a.Revoked("acme", "jti-2") {
		t.Fatal("the revoking node does not know what it revoked, or knows too much")
	}
	// A node started later loads what was revoked before it.
	b := node()
	if !b.Loaded() || !b.Revoked("acme", "jti-1") {
		t.Fatal("a later node does not know an earlier revocation")
	}
	// An expired token needs no revocation any more.
	if b.Revoked("acme", "jti-old") {
		t.Error("a revocation outlived its token")
	}
	// And a running node learns of new ones.
	if err := b.Revoke(t.Context(), "acme", "jti-3", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "node A learning node B's revocation", func() bool { return a.Revoked("acme", "jti-3") })
}
