package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/eventstore/message"
	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/eventstore/relay"
	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
)

var dbURL string

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &dbURL)) }

var seq atomic.Int64

func newID() string { return fmt.Sprintf("00000000-0000-7000-8000-%012d", seq.Add(1)) }

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// sealed is the sealed private key of [signingKey]: it must never reach
// the public stream.
const sealed = "v1.test.sealed"

// signingKey is a valid key for a new tenant.
var signingKey = tenant.NewKey{
	KID:       "k1",
	Alg:       tenant.AlgES256,
	PublicJWK: json.RawMessage(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1","alg":"ES256","use":"sig"}`),
	Sealed:    sealed,
}

// natsServer runs an in-process NATS server on a free loopback port with
// its JetStream files in dir; restarting it on the same dir and port
// simulates an outage.
func natsServer(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	listen := "127.0.0.1:0"
	if port != 0 {
		listen = fmt.Sprintf("127.0.0.1:%d", port)
	}
	ns, err := natsserver.Start(dir, natsserver.WithListen(listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func sqliteStore(t *testing.T) eventstore.Store {
	t.Helper()
	return testnode.Store(t, "")
}

// appendedCount counts register's events per store.
var (
	appendedMu    sync.Mutex
	appendedCount = map[string]int{}
)

// appended is how many events register appended in this test.
func appended(t *testing.T, _ eventstore.Store) int {
	appendedMu.Lock()
	defer appendedMu.Unlock()
	return appendedCount[fmt.Sprintf("%p", t)]
}

// register appends a tenant, with a sealed private key, and a confidential
// client in it, with a secret hash: neither may reach the public stream.
func register(t *testing.T, s eventstore.Store, slug string) {
	t.Helper()
	ctx := t.Context()
	meta := eventstore.Metadata{Actor: "root", OccurredAt: now, TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		Reason: "relay test", Source: "203.0.113.7", UserAgent: "relay-test/1.0"}
	if _, err := aggregate.Execute(ctx, s, aggregate.Command[*tenant.Tenant]{
		Stream: eventstore.StreamID{Tenant: slug, Type: "tenant", ID: slug},
		Decode: tenant.Decode, Replay: tenant.Replay, Meta: meta, NewID: newID,
		Decide: func(*tenant.Tenant) ([]domain.Event, error) { return tenant.Create(slug, "T "+slug, signingKey, now) },
	}); err != nil {
		t.Fatal(err)
	}
	st := client.DefaultSettings(client.TypeM2M)
	st.ClientName, st.Code = "Svc", "urn:"+slug+"/svc"
	id := "c-" + slug
	if _, err := aggregate.Execute(ctx, s, aggregate.Command[*client.Client]{
		Stream: eventstore.StreamID{Tenant: slug, Type: "client", ID: id},
		Decode: client.Decode, Replay: client.Replay, Meta: meta, NewID: newID,
		Decide: func(*client.Client) ([]domain.Event, error) {
			return client.Register(id, st, scope.NewCatalogue(), &client.Secret{ID: "s1", Hash: "sha256$SECRET-HASH"}, now)
		},
	}); err != nil {
		t.Fatal(err)
	}
	appendedMu.Lock()
	defer appendedMu.Unlock()
	key := fmt.Sprintf("%p", t)
	if _, ok := appendedCount[key]; !ok {
		// A later test (another -count run) may get this test's address.
		t.Cleanup(func() {
			appendedMu.Lock()
			defer appendedMu.Unlock()
			delete(appendedCount, key)
		})
	}
	appendedCount[key] += 3
}

func startRelay(t *testing.T, s eventstore.Store, nc *nats.Conn, n subject.Names, opts ...relay.Option) (*relay.Relay, context.CancelFunc) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.EnsureStreams(t.Context(), js, n, 1); err != nil {
		t.Fatal(err)
	}
	opts = append([]relay.Option{relay.WithPollInterval(20 * time.Millisecond), relay.WithLeaseTTL(time.Second)}, opts...)
	r, err := relay.New(s, nc, n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return r, stop
}

// drain waits until stream holds want messages and returns them all.
func drain(t *testing.T, js jetstream.JetStream, stream string, want int) []jetstream.RawStreamMsg {
	t.Helper()
	ctx := t.Context()
	var s jetstream.Stream
	poll.UntilNil(t, 20*time.Second, func() error {
		var err error
		if s == nil {
			if s, err = js.Stream(ctx, stream); err != nil {
				return fmt.Errorf("%s did not reach %d messages: %w", stream, want, err)
			}
		}
		info, err := s.Info(ctx)
		if err != nil {
			return fmt.Errorf("%s did not reach %d messages: %w", stream, want, err)
		}
		if info.State.Msgs > uint64(want) {
			t.Fatalf("%s holds %d messages, want %d", stream, info.State.Msgs, want)
		}
		if info.State.Msgs < uint64(want) {
			return fmt.Errorf("%s holds %d messages, want %d", stream, info.State.Msgs, want)
		}
		return nil
	})
	out := make([]jetstream.RawStreamMsg, 0, want)
	for i := uint64(1); i <= uint64(want); i++ {
		m, err := s.GetMsg(ctx, i)
		if err != nil {
			t.Fatalf("get %s message %d: %v", stream, i, err)
		}
		out = append(out, *m)
	}
	return out
}

// assertRelayed checks that the streams hold exactly the store's events,
// in store order, once each, and that the public one holds no secret.
func assertRelayed(t *testing.T, s eventstore.Store, js jetstream.JetStream, n subject.Names, appended int) {
	t.Helper()
	// On PostgreSQL an appended event is readable once every older
	// transaction in the cluster has ended: wait for all of them.
	var all []eventstore.Event
	poll.UntilNil(t, 20*time.Second, func() error {
		all = all[:0]
		var after eventstore.Position
		for {
			page, err := s.ReadAll(t.Context(), after, 1000)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if len(page) < 1000 {
				break
			}
			after = page[len(page)-1].Position
		}
		if len(all) < appended {
			return fmt.Errorf("the store shows %d events, %d were appended", len(all), appended)
		}
		return nil
	})
	internal := drain(t, js, n.InternalStream(), len(all))
	public := drain(t, js, n.PublicStream(), len(all))
	for i, e := range all {
		m := &nats.Msg{Subject: internal[i].Subject, Header: internal[i].Header, Data: internal[i].Data}
		got, err := message.DecodeInternal(m)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(e, got); diff != "" {
			t.Fatalf("internal message %d differs from the stored event (-stored +relayed):\n%s", i, diff)
		}
		if want := n.InternalSubject(e.Stream.Tenant, e.Type); m.Subject != want {
			t.Fatalf("internal subject %q, want %q", m.Subject, want)
		}
		var ce map[string]any
		if err := json.Unmarshal(public[i].Data, &ce); err != nil {
			t.Fatal(err)
		}
		if ce["id"] != e.ID || ce["type"] != message.TypePrefix+e.Type || ce["specversion"] != "1.0" || ce["clavistenant"] != e.Stream.Tenant {
			t.Fatalf("public event %d = %v, want id %s type %s", i, ce, e.ID, e.Type)
		}
		if want := n.PublicSubject(e.Stream.Tenant, e.Type); public[i].Subject != want {
			t.Fatalf("public subject %q, want %q", public[i].Subject, want)
		}
		if strings.Contains(string(public[i].Data), "SECRET-HASH") || strings.Contains(string(public[i].Data), `"hash"`) {
			t.Fatalf("public event %d carries a secret hash: %s", i, public[i].Data)
		}
		if strings.Contains(string(public[i].Data), sealed) || strings.Contains(string(public[i].Data), "sealed_private_key") {
			t.Fatalf("public event %d carries a sealed private key: %s", i, public[i].Data)
		}
	}
}

func TestRelayPublishesEveryEventInOrder(t *testing.T) {
	t.Parallel()
	s := sqliteStore(t)
	ns := natsServer(t, t.TempDir(), 0)
	nc := testnode.Connect(t, ns.ClientURL())
	n := testnode.Names(t)
	r, _ := startRelay(t, s, nc, n)
	ws := relay.Waking(s, nc, n, r.Wake)
	for i := range 20 {
		register(t, ws, fmt.Sprintf("acme%d", i))
	}
	js, _ := jetstream.New(nc)
	assertRelayed(t, s, js, n, appended(t, s))
	if st := r.Status(); !st.Leader || st.Internal.IsZero() {
		t.Fatalf("status = %+v", st)
	}
}

func TestRelayCatchesUpAfterNATSOutage(t *testing.T) {
	t.Parallel()
	s := sqliteStore(t)
	dir := t.TempDir()
	ns := natsServer(t, dir, 0)
	addr := ns.Addr().String()
	var p int
	if _, err := fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &p); err != nil {
		t.Fatal(err)
	}
	nc := testnode.Connect(t, ns.ClientURL())
	n := testnode.Names(t)
	r, _ := startRelay(t, s, nc, n)
	ws := relay.Waking(s, nc, n, r.Wake)
	js, _ := jetstream.New(nc)
	for i := range 5 {
		register(t, ws, fmt.Sprintf("before%d", i))
	}
	assertRelayed(t, s, js, n, appended(t, s))

	ns.Shutdown()
	ns.WaitForShutdown()
	// Commands keep succeeding while NATS is down; events wait in the store.
	for i := range 10 {
		register(t, ws, fmt.Sprintf("during%d", i))
	}
	natsServer(t, dir, p)
	for i := range 5 {
		register(t, ws, fmt.Sprintf("after%d", i))
	}
	assertRelayed(t, s, js, n, appended(t, s))
}

func TestRelayResumesWithoutDuplicates(t *testing.T) {
	t.Parallel()
	s := sqliteStore(t)
	ns := natsServer(t, t.TempDir(), 0)
	nc := testnode.Connect(t, ns.ClientURL())
	n := testnode.Names(t)
	js, _ := jetstream.New(nc)
	_, stop := startRelay(t, s, nc, n)
	for i := range 5 {
		register(t, s, fmt.Sprintf("a%d", i))
	}
	assertRelayed(t, s, js, n, appended(t, s))
	stop()
	for i := range 5 {
		register(t, s, fmt.Sprintf("b%d", i))
	}
	startRelay(t, s, nc, n)
	assertRelayed(t, s, js, n, appended(t, s))
}

func TestTwoRelaysPublishEachEventOnce(t *testing.T) {
	t.Parallel()
	s := sqliteStore(t)
	ns := natsServer(t, t.TempDir(), 0)
	n := testnode.Names(t)
	nc1, nc2 := testnode.Connect(t, ns.ClientURL()), testnode.Connect(t, ns.ClientURL())
	r1, _ := startRelay(t, s, nc1, n, relay.WithNode("one"))
	r2, _ := startRelay(t, s, nc2, n, relay.WithNode("two"))
	for i := range 30 {
		register(t, s, fmt.Sprintf("x%d", i))
		r1.Wake(eventstore.Position{})
		r2.Wake(eventstore.Position{})
	}
	js, _ := jetstream.New(nc1)
	assertRelayed(t, s, js, n, appended(t, s))
}

func TestRelayOnPostgresAndExternalNATS(t *testing.T) {
	t.Parallel()
	s := testnode.Store(t, dbURL)
	url := os.Getenv("CLAVIS_TEST_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("NATS is not reachable at %s (start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log): %v", url, err)
	}
	t.Cleanup(nc.Close)
	n := testnode.Names(t)
	js, _ := jetstream.New(nc)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, n.InternalStream())
		_ = js.DeleteStream(ctx, n.PublicStream())
		_ = js.DeleteKeyValue(ctx, n.LeaseBucket())
	})
	r, _ := startRelay(t, s, nc, n)
	ws := relay.Waking(s, nc, n, r.Wake)
	for i := range 10 {
		register(t, ws, fmt.Sprintf("pg%d", i))
	}
	assertRelayed(t, s, js, n, appended(t, s))
}
