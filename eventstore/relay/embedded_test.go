package relay_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

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
