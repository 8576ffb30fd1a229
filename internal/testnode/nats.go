package testnode

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/eventstore/subject"
)

// NATS is an in-process NATS server with JetStream, of one test, on a
// free loopback port, with a connection of the test's own to it.
type NATS struct {
	Server *server.Server
	// URL is where a node (or anything else) connects: nats://127.0.0.1:port.
	URL       string
	Conn      *nats.Conn
	JetStream jetstream.JetStream
}

// StartNATS starts the server the node embeds, without authorisation,
// storing under tb.TempDir(); it stops when tb ends.
func StartNATS(tb testing.TB) *NATS {
	tb.Helper()
	s, err := natsserver.Start(tb.TempDir(), natsserver.WithListen("127.0.0.1:0"))
	if err != nil {
		tb.Fatalf("start nats: %v", err)
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		tb.Fatalf("connect to nats: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return &NATS{Server: s, URL: s.ClientURL(), Conn: nc, JetStream: js}
}

// Connect connects to url, retrying and reconnecting briskly for as long
// as the test runs (a test's server may restart), and closes the
// connection when tb ends.
func Connect(tb testing.TB, url string, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond), nats.RetryOnFailedConnect(true)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// Names are the NATS names of a prefix of the test's own, so that tests
// sharing a server never see each other's subjects, streams or buckets.
func Names(tb testing.TB) subject.Names {
	tb.Helper()
	n, err := subject.NewNames(fmt.Sprintf("t%d", time.Now().UnixNano()%1e12))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
