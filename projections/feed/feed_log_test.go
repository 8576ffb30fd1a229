package feed_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/eventstore/relay"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/feed"
	projsqlite "github.com/clavisiam/clavis/projections/sqlite"
)

// TestFeedLogsADatabaseFailureAsOne runs a feed whose read model's
// database is closed while NATS works: the log must name the database,
// not NATS.
func TestFeedLogsADatabaseFailureAsOne(t *testing.T) {
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
	names, err := subject.NewNames("clavis")
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.EnsureStreams(t.Context(), js, names, 1); err != nil {
		t.Fatal(err)
	}

	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
	if err != nil {
		t.Fatal(err)
	}
	w, r := store.DB()
	var logs testnode.Logs
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	p, err := projections.NewProjector(projsqlite.New(w, r), store, log)
	if err != nil {
		t.Fatal(err)
	}
	f, err := feed.New(store, nc, names, p, log)
	if err != nil {
		t.Fatal(err)
	}
	// The database goes away; NATS stays.
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var warning map[string]any
	poll.UntilNil(t, 10*time.Second, func() error {
		records := logs.Records(t)
		for _, rec := range records {
			errText, _ := rec["error"].(string)
			if (rec["level"] == "WARN" || rec["level"] == "ERROR") && strings.Contains(errText, "database is closed") {
				warning = rec
				return nil
			}
		}
		return fmt.Errorf("no warning of the database failure was logged:\n%v", records)
	})
	msg, _ := warning["msg"].(string)
	if strings.Contains(msg, "NATS") {
		t.Fatalf("a database failure is logged as a NATS one: %v", warning)
	}
	if !strings.Contains(msg, "read model") {
		t.Fatalf("a database failure is logged without naming the read model: %v", warning)
	}
}
