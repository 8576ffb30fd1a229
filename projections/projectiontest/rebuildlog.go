package projectiontest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections"
)

// catchUpOnReset is a read model whose Reset lets another node catch up
// right after it: a running node's watchdog applying the events from the
// store while a rebuild starts, deterministically.
type catchUpOnReset struct {
	projections.Backend
	other *projections.Projector
}

func (b catchUpOnReset) Reset(ctx context.Context, name string) error {
	if err := b.Backend.Reset(ctx, name); err != nil {
		return err
	}
	return b.other.CatchUp(ctx)
}

// rebuiltRecords returns the "rebuilt read model" records logs holds.
func rebuiltRecords(t *testing.T, logs *testnode.Logs) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range logs.Records(t) {
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, "rebuilt read model") {
			out = append(out, r)
		}
	}
	return out
}

// testRebuildReportsWhatItRebuilt checks that a rebuild reports and logs
// how many events the rebuilt model holds, also when another node applied
// them meanwhile (it logged events:0 while the CLI printed 45), and
// counts only what it applied itself as applied.
func testRebuildReportsWhatItRebuilt(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.rich()
	for i := range 12 {
		w.register("acme", fmt.Sprintf("r%02d", i), settings(client.TypePublic, "R", fmt.Sprintf("urn:acme/r%02d", i)))
	}
	events := w.events()
	ctx := t.Context()
	apply(t, ctx, projector(t, env.Backend, env.Store), events, len(events))

	var logs testnode.Logs
	log := slog.New(slog.NewJSONHandler(&logs, nil))

	// Alone: every event is applied by the rebuild.
	p, err := projections.NewProjector(env.Backend, env.Store, log, projections.WithPageSize(5))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != len(events) || res.Applied != len(events) || res.Position != events[len(events)-1].Position {
		t.Fatalf("a rebuild alone = %+v, want %d events, all applied here, at %s", res, len(events), events[len(events)-1].Position)
	}

	// Another node catches up as the rebuild starts: the model still holds
	// every event, this rebuild applied none of them.
	store2, backend2 := env.Node(t)
	other := projector(t, backend2, store2)
	p, err = projections.NewProjector(catchUpOnReset{env.Backend, other}, env.Store, log, projections.WithPageSize(5))
	if err != nil {
		t.Fatal(err)
	}
	res, err = p.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "rebuilt with another node's help", w.read(env.Backend), w.want())
	if res.Events != len(events) || res.Applied != 0 {
		t.Errorf("a rebuild another node did = %+v, want %d events, none applied here", res, len(events))
	}

	recs := rebuiltRecords(t, &logs)
	if len(recs) != 2 {
		t.Fatalf("want two rebuilt records, got %v", recs)
	}
	for i, r := range recs {
		if r["events"] != float64(len(events)) {
			t.Errorf("rebuild %d logged events=%v, want %d (the events the model holds): %v", i+1, r["events"], len(events), r)
		}
	}
	if recs[0]["applied_by_other_nodes"] != nil {
		t.Errorf("a rebuild alone logged other nodes' work: %v", recs[0])
	}
	if recs[1]["applied_by_other_nodes"] != float64(len(events)) {
		t.Errorf("a rebuild another node did logged %v, want applied_by_other_nodes=%d", recs[1], len(events))
	}
}

// RunOptimistic runs the cases for a backend whose Update writes
// optimistically: it may call its function again when another node moved
// the checkpoint meanwhile, and only the last call's changes land.
func RunOptimistic(t *testing.T, newEnv func(t testing.TB) Env) {
	t.Run("RebuildCountsOnlyTheWriteThatLanded", func(t *testing.T) {
		t.Parallel()
		testRebuildLostWrite(t, newEnv(t))
	})
}

// catchUpInUpdate is a read model whose first Update lets another node
// catch up after the update's function has run and before its write, so
// that the write loses and the function runs again.
type catchUpInUpdate struct {
	projections.Backend
	other *projections.Projector
	once  *sync.Once
}

func (b catchUpInUpdate) Update(ctx context.Context, name string, fn projections.UpdateFunc) error {
	return b.Backend.Update(ctx, name, func(ctx context.Context, cp eventstore.Position, load projections.Loader) (*projections.Changes, error) {
		changes, err := fn(ctx, cp, load)
		if err != nil {
			return nil, err
		}
		var cerr error
		b.once.Do(func() { cerr = b.other.CatchUp(ctx) })
		return changes, cerr
	})
}

func testRebuildLostWrite(t *testing.T, env Env) {
	w := newWorld(t, env.Store)
	w.rich()
	events := w.events()
	ctx := t.Context()
	store2, backend2 := env.Node(t)
	other := projector(t, backend2, store2)
	p := projector(t, catchUpInUpdate{env.Backend, other, new(sync.Once)}, env.Store, projections.WithPageSize(5))
	res, err := p.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "rebuilt after a lost write", w.read(env.Backend), w.want())
	if res.Events != len(events) || res.Applied != 0 {
		t.Errorf("a rebuild whose only write lost = %+v, want %d events, none applied here", res, len(events))
	}
}
