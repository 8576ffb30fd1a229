package natsserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/eventstore/relay"
	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
)

// embedded starts the embedded server as serve does, with authorisation
// and a free port, logging into the returned buffer (and the test's
// output).
func embedded(t *testing.T, n subject.Names, password string) (*server.Server, *testnode.Logs) {
	t.Helper()
	logs := &testnode.Logs{}
	log := slog.New(slog.NewTextHandler(&teeWriter{logs, t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ns, err := natsserver.Start(t.TempDir(), natsserver.WithListen("127.0.0.1:0"), natsserver.WithLogger(log), natsserver.WithPassword(password), natsserver.WithNames(n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns, logs
}

type teeWriter struct {
	buf *testnode.Logs
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
	ns, logs := embedded(t, testnode.Names(t), password)

	nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(natsserver.InternalUser, password), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("the node's user cannot connect with its password: %v", err)
	}
	nc.Close()
	if nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(natsserver.InternalUser, password+"x"), nats.Timeout(5*time.Second)); err == nil {
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

// TestAnonymousNATSHasNoJetStream attacks the embedded server as a
// connection without credentials, as any local process can: a consumer
// with 20,000 filter subjects (whose overlap check alone kept the
// server's JetStream API busy for minutes and its restart from ending), a
// pull consumer waiting on 100,000,000 pulls, a push consumer delivering
// anywhere, stream and consumer info, pulls, acks. Every request is
// refused as a permission violation, none reaches JetStream: the node's
// JetStream API keeps answering at once, no ERROR line reaches the log,
// the server restarts on the same store within seconds, and the
// subscriber still receives the public events live.
func TestAnonymousNATSHasNoJetStream(t *testing.T) {
	t.Parallel()
	const password = "correct-horse-battery-staple-0123456789"
	n, dir := testnode.Names(t), t.TempDir()
	logs := &testnode.Logs{}
	log := slog.New(slog.NewTextHandler(&teeWriter{logs, t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	start := func() (*server.Server, jetstream.JetStream) {
		ns, err := natsserver.Start(dir, natsserver.WithListen("127.0.0.1:0"), natsserver.WithLogger(log), natsserver.WithPassword(password), natsserver.WithNames(n))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
		node := testnode.Connect(t, "", nats.InProcessServer(ns), nats.UserInfo(natsserver.InternalUser, password), nats.CustomInboxPrefix(n.InboxPrefix()))
		njs, _ := jetstream.New(node)
		return ns, njs
	}
	ns, njs := start()
	ctx := t.Context()
	if err := relay.EnsureStreams(ctx, njs, n, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := njs.Publish(ctx, n.PublicSubject("acme", "client.registered"), []byte(`{"n":0}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := njs.CreateConsumer(ctx, n.PublicStream(), jetstream.ConsumerConfig{Durable: "billing", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		refusals []string
	)
	attacker := testnode.Connect(t, ns.ClientURL(), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		defer mu.Unlock()
		refusals = append(refusals, err.Error())
	}))
	pub := n.PublicStream()
	filters := make([]string, 20000)
	for i := range filters {
		filters[i] = fmt.Sprintf("%s.t%d.client.registered", strings.TrimSuffix(n.PublicFilter(), ".>"), i)
	}
	jam, _ := json.Marshal(map[string]any{"stream_name": pub, "config": map[string]any{"name": "jam", "filter_subjects": filters, "ack_policy": "explicit"}})
	hog := fmt.Appendf(nil, `{"stream_name":%q,"config":{"name":"hog","ack_policy":"explicit","max_waiting":100000000}}`, pub)
	push := fmt.Appendf(nil, `{"stream_name":%q,"config":{"name":"push","deliver_subject":%q,"ack_wait":1000000}}`, pub, n.InternalSubject("acme", "x"))
	attempts := []struct {
		subject string
		body    []byte
	}{
		{"$JS.API.CONSUMER.CREATE." + pub + ".jam", jam},
		{"$JS.API.CONSUMER.CREATE." + pub + ".hog", hog},
		{"$JS.API.CONSUMER.CREATE." + pub + ".push", push},
		{"$JS.API.CONSUMER.CREATE." + pub, hog},
		{"$JS.API.CONSUMER.DURABLE.CREATE." + pub + ".billing", hog},
		{"$JS.API.CONSUMER.MSG.NEXT." + pub + ".billing", []byte(`{"batch":1,"expires":3600000000000}`)},
		{"$JS.API.CONSUMER.INFO." + pub + ".billing", nil},
		{"$JS.API.CONSUMER.DELETE." + pub + ".billing", nil},
		{"$JS.API.CONSUMER.NAMES." + pub, nil},
		{"$JS.API.STREAM.INFO." + pub, nil},
		{"$JS.API.STREAM.MSG.GET." + pub, []byte(`{"seq":1}`)},
		{"$JS.API.DIRECT.GET." + pub, []byte(`{"seq":1}`)},
		{"$JS.API.INFO", nil},
		{"$JS.ACK." + pub + ".billing.1.1.1.0.0", nil},
		{n.PublicSubject("acme", "client.registered"), []byte(`{"forged":true}`)},
	}
	for _, a := range attempts {
		if err := attacker.PublishRequest(a.subject, "_INBOX.attack", a.body); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 5*time.Second, "every attempt refused", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(refusals) >= len(attempts)
	})
	mu.Lock()
	for _, r := range refusals {
		if !strings.Contains(r, "Permissions Violation for Publish") {
			t.Errorf("an attempt got %q, not a permission violation", r)
		}
	}
	mu.Unlock()

	// The node's JetStream API answers at once, and nothing changed.
	quick, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := njs.CreateKeyValue(quick, jetstream.KeyValueConfig{Bucket: n.GrantsPrefix() + "_AFTER"}); err != nil {
		t.Fatalf("the node's JetStream API after the attempts: %v", err)
	}
	stream, err := njs.Stream(quick, pub)
	if err != nil {
		t.Fatal(err)
	}
	if info := stream.CachedInfo(); info.State.Consumers != 1 || info.State.Msgs != 1 {
		t.Errorf("the public stream has %d consumers and %d messages after the attempts; want 1 and 1", info.State.Consumers, info.State.Msgs)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("refused attempts were logged as errors:\n%s", logs)
	}

	// The same store restarts within seconds.
	ns.Shutdown()
	ns.WaitForShutdown()
	began := time.Now()
	ns, njs = start()
	if err := relay.EnsureStreams(quick, njs, n, 1); err != nil {
		t.Fatalf("the node's streams after a restart: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the restart took %s", took)
	}

	// A subscriber still receives the public events, live.
	listener, _ := anonymous(t, ns)
	heard := make(chan *nats.Msg, 4)
	if _, err := listener.ChanSubscribe(n.PublicFilter(), heard); err != nil {
		t.Fatal(err)
	}
	if err := listener.Flush(); err != nil {
		t.Fatal(err)
	}
	subject := n.PublicSubject("acme", "client.updated")
	if _, err := njs.Publish(ctx, subject, []byte(`{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-heard:
		if m.Subject != subject || string(m.Data) != `{"n":1}` {
			t.Errorf("the subscriber received %s: %s", m.Subject, m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the subscriber received no public event")
	}
}

// TestAnonymousRefusalsDoNotFloodTheLog sends, without credentials, a
// few thousand messages the embedded server refuses: each refusal is
// logged at debug level only, and a single warning counts them, so that
// no client can fill the node's log disk.
func TestAnonymousRefusalsDoNotFloodTheLog(t *testing.T) {
	t.Parallel()
	n := testnode.Names(t)
	ns, logs := embedded(t, n, "correct-horse-battery-staple-0123456789")
	var refused atomic.Int64
	attacker := testnode.Connect(t, ns.ClientURL(), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) { refused.Add(1) }))
	const attempts = 2000
	for range attempts {
		if err := attacker.Publish(n.InternalSubject("acme", "client.registered"), nil); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 10*time.Second, "every message refused", func() bool { return refused.Load() >= attempts })
	if err := attacker.Flush(); err != nil {
		t.Fatal(err)
	}
	text := logs.String()
	if got := strings.Count(text, "level=ERROR"); got > 0 {
		t.Errorf("%d refusals were logged as errors", got)
	}
	if got := strings.Count(text, "level=WARN"); got > 1 {
		t.Errorf("%d warnings for one burst of refusals", got)
	}
	if got := strings.Count(text, "Publish Violation"); got < attempts {
		t.Errorf("only %d of %d refusals were logged at debug level", got, attempts)
	}
}

// TestEmbeddedServerDropsThePublicAccountsJetStream starts the embedded
// server on a store where an earlier layout gave connections without
// credentials a JetStream of their own, holding a stream and a consumer
// one of them created: the server starts, those files are gone (a
// subscriber's consumer could take minutes to recover on every start),
// and the node's account is untouched.
func TestEmbeddedServerDropsThePublicAccountsJetStream(t *testing.T) {
	t.Parallel()
	const password = "correct-horse-battery-staple-0123456789"
	n, dir := testnode.Names(t), t.TempDir()
	ctx := t.Context()

	// The earlier layout, as far as PUBLIC's files go.
	public := server.NewAccount(natsserver.PublicAccount)
	old, err := server.NewServer(&server.Options{JetStream: true, StoreDir: dir, DontListen: true, NoSigs: true, NoLog: true,
		Accounts: []*server.Account{public}, Users: []*server.User{{Username: "old", Password: password, Account: public}}})
	if err != nil {
		t.Fatal(err)
	}
	go old.Start()
	if !old.ReadyForConnections(10 * time.Second) {
		t.Fatal("the old layout's server did not start")
	}
	if acc, _ := old.LookupAccount(natsserver.PublicAccount); !acc.JetStreamEnabled() {
		if err := acc.EnableJetStream(nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	oc, err := nats.Connect("", nats.InProcessServer(old), nats.UserInfo("old", password))
	if err != nil {
		t.Fatal(err)
	}
	ojs, _ := jetstream.New(oc)
	stream, err := ojs.CreateStream(ctx, jetstream.StreamConfig{Name: n.PublicStream(), Subjects: []string{n.PublicFilter()}})
	if err != nil {
		t.Fatal(err)
	}
	filters := make([]string, 200)
	for i := range filters {
		filters[i] = fmt.Sprintf("%s.t%d.client.registered", strings.TrimSuffix(n.PublicFilter(), ".>"), i)
	}
	if _, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "jam", FilterSubjects: filters}); err != nil {
		t.Fatal(err)
	}
	oc.Close()
	old.Shutdown()
	old.WaitForShutdown()
	leftover := filepath.Join(dir, "jetstream", natsserver.PublicAccount)
	if _, err := os.Stat(leftover); err != nil {
		t.Fatalf("the old layout left no files where expected: %v", err)
	}

	ns, err := natsserver.Start(dir, natsserver.WithListen("127.0.0.1:0"), natsserver.WithPassword(password), natsserver.WithNames(n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the public account's old JetStream files are still there: %v", err)
	}
	node := testnode.Connect(t, "", nats.InProcessServer(ns), nats.UserInfo(natsserver.InternalUser, password), nats.CustomInboxPrefix(n.InboxPrefix()))
	njs, _ := jetstream.New(node)
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := relay.EnsureStreams(quick, njs, n, 1); err != nil {
		t.Fatal(err)
	}
}

// anonymous connects to ns without credentials, as a local tool does.
func anonymous(t *testing.T, ns *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := testnode.Connect(t, ns.ClientURL())
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
	n := testnode.Names(t)
	ns, _ := embedded(t, n, password)

	listener, _ := anonymous(t, ns)
	heard := make(chan *nats.Msg, 16)
	if _, err := listener.ChanSubscribe("_INBOX.>", heard); err != nil {
		t.Fatal(err)
	}
	if err := listener.Flush(); err != nil {
		t.Fatal(err)
	}
	tool := testnode.Connect(t, ns.ClientURL(), nats.UserInfo(natsserver.InternalUser, password))
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
// account finds both every time, and subscribers hear new events.
func TestEmbeddedServerKeepsTheNodesDataAcrossRestarts(t *testing.T) {
	t.Parallel()
	const password = "correct-horse-battery-staple-0123456789"
	n, dir := testnode.Names(t), t.TempDir()
	logs := &testnode.Logs{}
	log := slog.New(slog.NewTextHandler(&teeWriter{logs, t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := func(password, listen string) (*server.Server, jetstream.JetStream) {
		opts := []natsserver.Option{natsserver.WithListen(listen), natsserver.WithLogger(log), natsserver.WithNames(n)}
		if password != "" {
			opts = append(opts, natsserver.WithPassword(password))
		}
		ns, err := natsserver.Start(dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect("", nats.InProcessServer(ns), nats.UserInfo(natsserver.InternalUser, password), nats.CustomInboxPrefix(n.InboxPrefix()))
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
		listener, _ := anonymous(t, ns)
		heard, err := listener.SubscribeSync(n.PublicFilter())
		if err != nil {
			t.Fatal(err)
		}
		if err := listener.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, n.PublicSubject("acme", "client.updated"), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := heard.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("a subscriber hears nothing after a restart: %v", err)
		}
		stop(ns)
	}
}

// TestStartRefusesBadOptions checks that every bad option is refused
// before anything starts, with an error that wraps ErrInvalidOption.
func TestStartRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]natsserver.Option{
		"nil option":      nil,
		"no port":         natsserver.WithListen("127.0.0.1"),
		"empty address":   natsserver.WithListen(""),
		"port not a port": natsserver.WithListen("127.0.0.1:70000"),
		"empty password":  natsserver.WithPassword(""),
		"bad names":       natsserver.WithNames(subject.Names{Prefix: "Not.A.Prefix"}),
	} {
		if ns, err := natsserver.Start(t.TempDir(), opt); !errors.Is(err, natsserver.ErrInvalidOption) {
			if ns != nil {
				ns.Shutdown()
			}
			t.Errorf("%s: %v, want %v", name, err, natsserver.ErrInvalidOption)
		}
	}
}
