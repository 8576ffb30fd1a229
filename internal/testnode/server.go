package testnode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/internal/node"
)

// Config is a valid configuration of a node whose data lives under
// tb.TempDir(): SQLite there when dbURL is empty, else a schema of its
// own in the PostgreSQL database dbURL (a package's database from
// pgtest.Main). The embedded NATS server takes no local subscribers, so
// that many nodes run at once; set NATSURL to use a server of the test's
// own ([StartNATS]).
func Config(tb testing.TB, dbURL string) node.Config {
	tb.Helper()
	cfg := node.Config{
		PublicURL:    "http://127.0.0.1:0",
		DataDir:      filepath.Join(tb.TempDir(), "data"),
		Migrate:      true,
		NATSListen:   "off",
		NATSPrefix:   subject.DefaultPrefix,
		NATSReplicas: 1,
		Version:      "test",
	}
	if dbURL != "" {
		cfg.DatabaseURL = pgtest.Schema(tb, dbURL)
	}
	return cfg
}

// Logs collects what a node logs, from all of its goroutines.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Records decodes what was logged as JSON, one record a line, failing tb
// on a line that is not a JSON object.
func (l *Logs) Records(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			tb.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// Logger logs JSON at debug level into the returned Logs and tb's output.
func Logger(tb testing.TB) (*slog.Logger, *Logs) {
	tb.Helper()
	logs := &Logs{}
	h := slog.NewJSONHandler(io.MultiWriter(logs, tb.Output()), &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h), logs
}

// Server is a node built by node.New and run by its Run, as `clavis
// serve` builds and runs it, over HTTP on a free loopback port.
type Server struct {
	*node.Node
	// URL is the node's base URL: http://127.0.0.1:port.
	URL  string
	Logs *Logs
	stop func() error
}

// stopTimeout bounds the wait for Run to return once it is told to stop.
const stopTimeout = 30 * time.Second

// Start builds the node cfg describes and runs it until tb ends (or
// Stop). An empty cfg.PublicURL becomes the node's own URL. A node that does not stop cleanly fails the test.
func Start(tb testing.TB, cfg node.Config, opts ...node.Option) *Server {
	tb.Helper()
	log, logs := Logger(tb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	if cfg.PublicURL == "" {
		// The node's own address: browsers (the console's tests) follow
		// the redirects the node builds from it.
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	n, err := node.New(tb.Context(), cfg, log, opts...)
	if err != nil {
		ln.Close()
		tb.Fatalf("node.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(tb.Context()))
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, ln) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(stopTimeout):
				runErr = fmt.Errorf("run did not return %s after its context ended", stopTimeout)
			}
		})
		return runErr
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("run: %v", err)
		}
	})
	return &Server{Node: n, URL: "http://" + ln.Addr().String(), Logs: logs, stop: stop}
}

// Stop ends Run and returns its error; the cleanup then does nothing.
func (s *Server) Stop() error { return s.stop() }
