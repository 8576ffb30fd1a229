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
// public stream with consumers of its own (an ordered consumer fetching
// one message at a time included), but cannot delete or change a
// consumer of the node's account (the node's user's on the public
// stream, the node's on its other streams), list the consumers to learn
// the other subscribers', use the legacy durable API, keep an unused
// durable consumer forever, nor create more consumers than the embedded
// server's cap; reaching it leaves the node's account unaffected.
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
	const events = relay.MaxAnonymousConsumers + 20
	for i := range events {
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
	// Every Next replaces the ordered consumer's consumer, deleting the
	// last: more of them than the cap must not exhaust it.
	for i := range events {
		if _, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
			t.Fatalf("an anonymous subscriber's ordered consumer stopped at message %d: %v", i, err)
		}
	}

	// Subscriber B tries everything else. A refused request gets no
	// answer: each gets a short deadline.
	_, bjs := anonymous(t, ns)
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, time.Second)
		t.Cleanup(cancel)
		return c
	}
	for _, c := range []struct{ stream, name string }{{n.PublicStream(), "billing"}, {n.InternalStream(), "projection"}} {
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
	// Both the legacy durable API and the current one name the consumer
	// they create or change.
	other := n.PublicSubject("other", "client.registered")
	req, _ := json.Marshal(map[string]any{"stream_name": n.PublicStream(),
		"config": map[string]any{"durable_name": "billing", "filter_subject": other, "ack_policy": "explicit"}})
	if _, err := bjs.Conn().RequestWithContext(short(), "$JS.API.CONSUMER.DURABLE.CREATE."+n.PublicStream()+".billing", req); err == nil {
		t.Error("an anonymous subscriber reached the legacy durable consumer API")
	}
	mine, err := bjs.CreateOrUpdateConsumer(short(), n.PublicStream(), jetstream.ConsumerConfig{Durable: "billing", FilterSubject: other, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("an anonymous subscriber cannot create a durable consumer: %v", err)
	}
	if got := mine.CachedInfo().Config.InactiveThreshold; got <= 0 || got > time.Hour {
		t.Errorf("an anonymous subscriber's durable consumer lives %s unused", got)
	}
	for _, c := range []struct {
		stream, name string
		filter       string
	}{
		{n.PublicStream(), "billing", n.PublicFilter()},
		{n.InternalStream(), "projection", ""},
	} {
		info, err := njs.Consumer(ctx, c.stream, c.name)
		if err != nil {
			t.Fatalf("the consumer %s of %s is gone: %v", c.name, c.stream, err)
		}
		if got := info.CachedInfo().Config.FilterSubject; got != c.filter {
			t.Errorf("the consumer %s of %s now filters %q", c.name, c.stream, got)
		}
	}
	admin := connect(t, ns.ClientURL(), nats.UserInfo(relay.PublicAdminUser, password))
	ajs2, _ := jetstream.New(admin)

	// B creates consumers until refused: the cap holds for all anonymous
	// subscribers together.
	created := 0
	for ; created <= relay.MaxAnonymousConsumers; created++ {
		if _, err := bjs.CreateConsumer(ctx, n.PublicStream(), jetstream.ConsumerConfig{InactiveThreshold: time.Hour}); err != nil {
			if !errors.Is(err, jetstream.ErrMaximumConsumersLimit) {
				t.Fatalf("consumer %d: %v", created, err)
			}
			break
		}
	}
	stream, err := ajs2.Stream(ctx, n.PublicStream())
	if err != nil {
		t.Fatal(err)
	}
	if got := stream.CachedInfo().State.Consumers; got != relay.MaxAnonymousConsumers || created >= relay.MaxAnonymousConsumers {
		t.Fatalf("anonymous subscribers have %d consumers after B created %d; want at most %d in all", got, created, relay.MaxAnonymousConsumers)
	}
	// The node's account is not theirs to fill.
	if _, err := njs.CreateConsumer(ctx, n.PublicStream(), jetstream.ConsumerConfig{Durable: "audit"}); err != nil {
		t.Fatalf("the node's user cannot create a consumer once anonymous subscribers reached their cap: %v", err)
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

// TestNodeUserRepliesNeverReachAnonymousInboxes connects as the node's
// user the way an operator's tool does, with NATS's default inbox, while
// a connection without credentials listens on _INBOX.>: connections
// without credentials live in an account of their own, so none of the
// tool's replies reach the listener.
func TestNodeUserRepliesNeverReachAnonymousInboxes(t *testing.T) {
	t.Parallel()
	const password = "correct-horse-battery-staple-0123456789"
	n := names(t)
	ns, _ := embedded(t, n, password)

	listener, _ := anonymous(t, ns)
	heard := make(chan *nats.Msg, 16)
	if _, err := listener.ChanSubscribe("_INBOX.>", heard); err != nil {
		t.Fatal(err)
	}
	if err := listener.Flush(); err != nil {
		t.Fatal(err)
	}
	tool := connect(t, ns.ClientURL(), nats.UserInfo(relay.InternalUser, password))
	tjs, _ := jetstream.New(tool)
	if _, err := tjs.AccountInfo(t.Context()); err != nil {
		t.Fatal(err)
	}
	kv, err := tjs.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: n.GrantsPrefix() + "_TOOL"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(t.Context(), "code", []byte("SECRET-CODE")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(t.Context(), "code"); err != nil {
		t.Fatal(err)
	}
	if err := listener.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-heard:
		t.Fatalf("a connection without credentials received %s: %.200s", m.Subject, m.Data)
	default:
	}
}

// TestEmbeddedServerKeepsTheNodesDataAcrossRestarts stores a key-value
// entry and an event as the node does, on a server started as before
// there were accounts (no authorisation: everything in the global
// account) and then with authorisation, and restarts it: the node's
// account finds both every time, and subscribers the event.
func TestEmbeddedServerKeepsTheNodesDataAcrossRestarts(t *testing.T) {
	t.Parallel()
	const password = "correct-horse-battery-staple-0123456789"
	n, dir := names(t), t.TempDir()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(&teeWriter{logs, t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := func(password, listen string) (*server.Server, jetstream.JetStream) {
		ns, err := relay.StartServer(relay.ServerConfig{StoreDir: dir, Listen: listen, Password: password, Names: n, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect("", nats.InProcessServer(ns), nats.UserInfo(relay.InternalUser, password), nats.CustomInboxPrefix(n.InboxPrefix()))
		if err != nil {
			t.Fatal(err)
		}
		js, _ := jetstream.New(nc)
		t.Cleanup(func() { nc.Close(); ns.Shutdown(); ns.WaitForShutdown() })
		return ns, js
	}
	stop := func(ns *server.Server) { ns.Shutdown(); ns.WaitForShutdown() }
	ctx := t.Context()

	ns, js := start("", "127.0.0.1:0")
	if err := relay.EnsureStreams(ctx, js, n, 1); err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: n.GrantsPrefix() + "_KEEP"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "refresh", []byte("family")); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, n.PublicSubject("acme", "client.registered"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	stop(ns)
	for _, listen := range []string{"127.0.0.1:0", "off", "127.0.0.1:0"} {
		ns, js = start(password, listen)
		kv, err := js.KeyValue(ctx, n.GrantsPrefix()+"_KEEP")
		if err != nil {
			t.Fatalf("the node's bucket is gone after a restart: %v", err)
		}
		if e, err := kv.Get(ctx, "refresh"); err != nil || string(e.Value()) != "family" {
			t.Fatalf("the node's entry after a restart: %v", err)
		}
		if listen == "off" {
			stop(ns)
			continue
		}
		_, ajs := anonymous(t, ns)
		oc, err := ajs.OrderedConsumer(ctx, n.PublicStream(), jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
			t.Fatalf("a subscriber reads nothing after a restart: %v", err)
		}
		stop(ns)
	}
}
