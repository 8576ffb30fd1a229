package bucket_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
	"github.com/clavisiam/clavis/internal/poll"
)

// TestGrantsWhileNATSIsAway shuts the NATS server under a grant store
// and an assertion store: every operation fails with
// oauth.ErrUnavailable, not with what a missing, taken or replayed entry
// fails with.
func TestGrantsWhileNATSIsAway(t *testing.T) {
	ns, err := natsserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	g := bucket.NewGrants(js, "AWAY", 1, 0)
	a := bucket.NewAssertions(js, "AWAY_ASSERTIONS", 1)
	if _, err := g.Create(t.Context(), oauth.LifeFlow, "k", []byte("v"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := a.Use(t.Context(), "acme", "client", "jti-1", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	ns.WaitForShutdown()

	ctx := context.Background()
	_, _, getErr := g.Get(ctx, oauth.LifeFlow, "k")
	_, createErr := g.Create(ctx, oauth.LifeFlow, "k2", []byte("v"), time.Time{})
	_, updateErr := g.Update(ctx, oauth.LifeFlow, "k", []byte("w"), 1, time.Time{})
	checks := map[string]error{
		"get":       getErr,
		"create":    createErr,
		"update":    updateErr,
		"delete":    g.Delete(ctx, oauth.LifeFlow, "k"),
		"assertion": a.Use(ctx, "acme", "client", "jti-2", time.Now().Add(time.Minute)),
	}
	for name, err := range checks {
		if !errors.Is(err, oauth.ErrUnavailable) {
			t.Errorf("%s while NATS is away: %v, want oauth.ErrUnavailable", name, err)
		}
	}
}

// TestIsUnavailable classifies NATS's and JetStream's errors.
func TestIsUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nats.ErrTimeout, true},
		{nats.ErrNoResponders, true},
		{fmt.Errorf("kv get: %w", nats.ErrConnectionClosed), true},
		{nats.ErrConnectionReconnecting, true},
		{jetstream.ErrNoStreamResponse, true},
		{jetstream.ErrJetStreamNotEnabled, true},
		{context.DeadlineExceeded, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{&jetstream.APIError{Code: 500, ErrorCode: 10118, Description: "stream is offline"}, true},
		{&jetstream.APIError{Code: 500, ErrorCode: 10009, Description: "JetStream cluster can not handle request"}, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum bytes exceeded"}, false},
		{&jetstream.APIError{Code: 400, ErrorCode: 10071, Description: "wrong last sequence: 3"}, false},
		{jetstream.ErrKeyNotFound, false},
		{jetstream.ErrKeyExists, false},
		{context.Canceled, false},
		{errors.New("something else"), false},
		{nil, false},
	} {
		if got := bucket.IsUnavailable(c.err); got != c.want {
			t.Errorf("IsUnavailable(%v) = %t, want %t", c.err, got, c.want)
		}
	}
}

// A write while the connection to NATS is down fails at once as
// unavailable and is not sent later: nats.go would otherwise keep it
// and send it once reconnected, so that a write the node answered 503
// for (using nothing up) would use up a code or refresh token after
// all.
func TestGrantWritesWhileAwayAreNeverApplied(t *testing.T) {
	srv := bucket.StartOutage(t)
	js, _ := jetstream.New(srv.NC)
	g := bucket.NewGrants(js, "AWAY", 1, 0)
	ctx := t.Context()
	rev, err := g.Create(ctx, oauth.LifeGrant, "acme.fam.g", []byte("before"), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	start := time.Now()
	_, updateErr := g.Update(ctx, oauth.LifeGrant, "acme.fam.g", []byte("during"), rev, time.Time{})
	_, createErr := g.Create(ctx, oauth.LifeGrant, "acme.fam.new", []byte("during"), time.Time{})
	for name, err := range map[string]error{"update": updateErr, "create": createErr} {
		if !errors.Is(err, oauth.ErrUnavailable) {
			t.Errorf("%s while NATS is away: %v, want oauth.ErrUnavailable", name, err)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the writes while NATS is away took %s: they waited instead of failing", took)
	}

	srv.Restart()
	poll.UntilNil(t, 10*time.Second, func() error {
		_, _, err := g.Get(ctx, oauth.LifeGrant, "acme.fam.g")
		return err
	})
	if v, got, err := g.Get(ctx, oauth.LifeGrant, "acme.fam.g"); err != nil || got != rev || string(v) != "before" {
		t.Errorf("after the outage the entry is %q at %d (%v), want %q at %d: a write the outage refused was applied", v, got, err, "before", rev)
	}
	if _, _, err := g.Get(ctx, oauth.LifeGrant, "acme.fam.new"); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("after the outage the entry created during it: %v, want oauth.ErrGrantNotFound", err)
	}
}
