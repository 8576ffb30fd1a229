package bucket

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/internal/poll"
)

// Outage is an embedded NATS server that a test stops and starts again,
// on the same address and store, and a connection to it that
// reconnects as a node's does.
type Outage struct {
	t         *testing.T
	dir, addr string
	ns        *server.Server
	NC        *nats.Conn
}

// StartOutage starts the server and connects to it.
func StartOutage(t *testing.T) *Outage {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &Outage{t: t, dir: t.TempDir(), addr: l.Addr().String()}
	l.Close()
	o.start()
	if o.NC, err = nats.Connect("nats://"+o.addr, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.NC.Close)
	return o
}

func (o *Outage) start() {
	o.t.Helper()
	ns, err := natsserver.Start(o.dir, natsserver.WithListen(o.addr))
	if err != nil {
		o.t.Fatal(err)
	}
	o.ns = ns
	o.t.Cleanup(ns.Shutdown)
}

// Stop shuts the server down and waits for the connection to see it gone.
func (o *Outage) Stop() {
	o.t.Helper()
	o.ns.Shutdown()
	o.ns.WaitForShutdown()
	poll.Until(o.t, 5*time.Second, "the client to see the server gone", func() bool { return o.NC.Status() != nats.CONNECTED })
}

// Restart starts the server again and waits for the connection to be
// back and to have sent what it kept meanwhile.
func (o *Outage) Restart() {
	o.t.Helper()
	o.start()
	poll.Until(o.t, 10*time.Second, "the client to reconnect", func() bool { return o.NC.Status() == nats.CONNECTED })
	if err := o.NC.Flush(); err != nil {
		o.t.Fatal(err)
	}
}
