package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore/relay"
)

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// embedded starts the embedded server as serve does, with authorisation
// and a free port, logging into the returned buffer (and the test's
// output).
func embedded(t *testing.T, n relay.Names, password string) (*server.Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(&teeWriter{logs, t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ns, err := relay.StartServer(relay.ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: log, Password: password, Names: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns, logs
}

type teeWriter struct {
	buf *logBuffer
	t   *testing.T
}

func (w *teeWriter) Write(p []byte) (int, error) {
	_, _ = w.t.Output().Write(p)
	return w.buf.Write(p)
}

// TestEmbeddedServerKeepsNoPlaintextPassword starts the embedded server
// with a password for the node's user: the server holds only a bcrypt
// hash of it (so it does not warn about plaintext passwords on every
// start), the node still connects with the password, a wrong one is
// refused, and connections without credentials are still served.
func TestEmbeddedServerKeepsNoPlaintextPassword(t *testing.T) {
	t.Parallel()
	const password = "correct-horse-battery-staple-0123456789"
	ns, logs := embedded(t, names(t), password)

	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(relay.InternalUser, password), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("the node's user cannot connect with its password: %v", err)
	}
	nc.Close()
	if nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(relay.InternalUser, password+"x"), nats.Timeout(5*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a wrong password for the node's user was accepted")
	}
	anon, err := nats.Connect(ns.ClientURL(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("a connection without credentials is refused: %v", err)
	}
	anon.Close()
	if strings.Contains(logs.String(), "Plaintext password") {
		t.Fatalf("the embedded server warns about plaintext passwords:\n%s", logs)
	}
	if strings.Contains(logs.String(), password) {
		t.Fatal("the embedded server logged the password")
	}
}

// TestAnonymousConsumersAreBounded connects without credentials to the
// embedded server, as any local process can, beside the node's user and
// a second anonymous subscriber. An anonymous subscriber consumes the
// public stream with consumers of its own, but cannot delete, list or
// take over by the legacy durable API anyone else's consumer (the node's
// user's, another subscriber's, the node's on its other streams), and
// cannot create more than the embedded server's cap.
func TestAnonymousConsumersAreBounded(t *testing.T) {
	t.Parallel()
	const password = "correct-horse-battery-staple-0123456789"
	n := names(t)
	ns, _ := embedded(t, n, password)
	ctx := t.Context()

	node := connect(t, ns.ClientURL(), nats.UserInfo(relay.InternalUser, password), nats.CustomInboxPrefix(n.InboxPrefix()))
	njs, _ := jetstream.New(node)
	if err := relay.EnsureStreams(ctx, njs, n, 1); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := njs.Publish(ctx, n.PublicSubject("acme", "client.registered"), fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	billing := jetstream.ConsumerConfig{Durable: "billing", FilterSubject: n.PublicFilter(), AckPolicy: jetstream.AckExplicitPolicy}
	if _, err := njs.CreateConsumer(ctx, n.PublicStream(), billing); err != nil {
		t.Fatal(err)
	}
	projection := jetstream.ConsumerConfig{Durable: "projection", AckPolicy: jetstream.AckExplicitPolicy}
	if _, err := njs.CreateConsumer(ctx, n.InternalStream(), projection); err != nil {
		t.Fatal(err)
	}

	// Subscriber A reads the public stream with an ordered consumer.
	_, ajs := anonymous(t, ns)
	oc, err := ajs.OrderedConsumer(ctx, n.PublicStream(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("an anonymous subscriber cannot consume the public stream: %v", err)
	}
	if _, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
		t.Fatalf("an anonymous subscriber reads nothing from the public stream: %v", err)
	}
	theirs := oc.CachedInfo().Name

	// Subscriber B tries everything else. A refused request gets no
	// answer: each gets a short deadline.
	_, bjs := anonymous(t, ns)
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, time.Second)
		t.Cleanup(cancel)
		return c
	}
	for _, c := range []struct{ stream, name string }{{n.PublicStream(), "billing"}, {n.PublicStream(), theirs}, {n.InternalStream(), "projection"}} {
		if err := bjs.DeleteConsumer(short(), c.stream, c.name); err == nil {
			t.Errorf("an anonymous subscriber deleted the consumer %s of %s", c.name, c.stream)
		}
	}
	pub, err := bjs.Stream(ctx, n.PublicStream())
	if err != nil {
		t.Fatal(err)
	}
	list := pub.ConsumerNames(short())
	for range list.Name() {
	}
	if list.Err() == nil {
		t.Error("an anonymous subscriber listed the public stream's consumers")
	}
	infos := pub.ListConsumers(short())
	for range infos.Info() {
	}
	if infos.Err() == nil {
		t.Error("an anonymous subscriber listed the public stream's consumers with their configuration")
	}
	// The legacy durable API names the consumer it creates or changes.
	req, _ := json.Marshal(map[string]any{"stream_name": n.PublicStream(),
		"config": map[string]any{"durable_name": "billing", "filter_subject": n.PublicSubject("other", "client.registered"), "ack_policy": "explicit"}})
	if _, err := bjs.Conn().RequestWithContext(short(), "$JS.API.CONSUMER.DURABLE.CREATE."+n.PublicStream()+".billing", req); err == nil {
		t.Error("an anonymous subscriber reached the legacy durable consumer API")
	}
	for _, c := range []struct{ stream, name string }{{n.PublicStream(), "billing"}, {n.PublicStream(), theirs}, {n.InternalStream(), "projection"}} {
		info, err := njs.Consumer(ctx, c.stream, c.name)
		if err != nil {
			t.Fatalf("the consumer %s of %s is gone: %v", c.name, c.stream, err)
		}
		if c.name == "billing" && info.CachedInfo().Config.FilterSubject != n.PublicFilter() {
			t.Errorf("billing's filter is now %q", info.CachedInfo().Config.FilterSubject)
		}
	}

	// B creates consumers until refused: the cap holds, counting every
	// consumer of the stream.
	created := 0
	for ; created <= relay.MaxConsumersPerStream; created++ {
		if _, err := bjs.CreateConsumer(ctx, n.PublicStream(), jetstream.ConsumerConfig{InactiveThreshold: time.Hour}); err != nil {
			if !errors.Is(err, jetstream.ErrMaximumConsumersLimit) {
				t.Fatalf("consumer %d: %v", created, err)
			}
			break
		}
	}
	stream, err := njs.Stream(ctx, n.PublicStream())
	if err != nil {
		t.Fatal(err)
	}
	if got := stream.CachedInfo().State.Consumers; got != relay.MaxConsumersPerStream || created >= relay.MaxConsumersPerStream {
		t.Fatalf("an anonymous subscriber created %d consumers, leaving %d on the stream; want at most %d in all", created, got, relay.MaxConsumersPerStream)
	}
}

// anonymous connects to ns without credentials, as a local tool does.
func anonymous(t *testing.T, ns *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := connect(t, ns.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
