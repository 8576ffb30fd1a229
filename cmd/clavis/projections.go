package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/projections"
)

// openProjector opens the store cfg selects and a projector of its read
// model, for the projections commands. The caller closes the store.
func openProjector(ctx context.Context, cfg Config, log *slog.Logger) (node.Backend, *projections.Projector, error) {
	store, err := node.OpenStore(ctx, cfg.Config, log)
	if err != nil {
		return nil, nil, err
	}
	rm, err := node.ReadModel(store)
	if err == nil {
		var p *projections.Projector
		if p, err = projections.NewProjector(rm, store, log); err == nil {
			return store, p, nil
		}
	}
	store.Close()
	return nil, nil, err
}

// projectionNames are the projections `clavis projections` knows.
var projectionNames = []string{projections.Name}

// projectionsRebuild is `clavis projections rebuild [name]`: it drops the
// read model and replays it from the event store (not from NATS), then
// prints how many events the model holds and how fast it was rebuilt — the
// numbers the log shows too. Running nodes keep serving meanwhile; their
// reads see a partly rebuilt model until it ends, and they may apply part
// of the events themselves, which the output says.
func projectionsRebuild(name string) func(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	return func(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
		store, p, err := openProjector(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer store.Close()
		res, err := p.Rebuild(ctx)
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", name, err)
		}
		fmt.Fprintf(stdout, "rebuilt %s: %d events in %s (%.0f events/s), at position %s",
			name, res.Events, res.Took.Round(time.Millisecond), float64(res.Events)/res.Took.Seconds(), res.Position)
		if others := res.Events - res.Applied; others > 0 {
			fmt.Fprintf(stdout, "; running nodes applied %d of them meanwhile", others)
		}
		fmt.Fprintln(stdout)
		return nil
	}
}

// projectionsStatus is `clavis projections status`.
func projectionsStatus(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	store, p, err := openProjector(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := p.Status(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPOSITION\tHEAD\tCAUGHT UP\tLAG")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", st.Name, st.Position, st.Head, st.CaughtUp, st.Lag.Round(time.Millisecond))
	return tw.Flush()
}
