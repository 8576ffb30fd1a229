package feed

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/message"
	"github.com/clavisiam/clavis/eventstore/natsserver"
)

func TestFirstAfterFindsTheResumePoint(t *testing.T) {
	ns, err := natsserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := t.Context()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := firstAfter(ctx, s, eventstore.Position{Commit: 5, Seq: 5}); err != nil || seq != 1 {
		t.Fatalf("empty stream: %d, %v; want 1", seq, err)
	}
	// Positions as PostgreSQL makes them: commit ids grow, sequences jump.
	positions := []eventstore.Position{{Commit: 10, Seq: 3}, {Commit: 10, Seq: 4}, {Commit: 12, Seq: 2}, {Commit: 15, Seq: 9}, {Commit: 20, Seq: 5}}
	for _, p := range positions {
		m := nats.NewMsg("s.x")
		m.Header.Set(message.HeaderPosition, p.String())
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		after eventstore.Position
		want  uint64
	}{
		{eventstore.Position{}, 1},
		{eventstore.Position{Commit: 1, Seq: 1}, 1},
		{eventstore.Position{Commit: 10, Seq: 3}, 2},
		{eventstore.Position{Commit: 10, Seq: 4}, 3},
		{eventstore.Position{Commit: 11, Seq: 100}, 3},
		{eventstore.Position{Commit: 15, Seq: 9}, 5},
		{eventstore.Position{Commit: 20, Seq: 5}, 6},
		{eventstore.Position{Commit: 99, Seq: 1}, 6},
	}
	for _, c := range cases {
		if got, err := firstAfter(ctx, s, c.after); err != nil || got != c.want {
			t.Errorf("first after %s = %d, %v; want %d", c.after, got, err, c.want)
		}
	}
}
