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
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/projections/webhooks"
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

// auditLogName names the audit log among the projections: it is rebuilt
// from the event store like the read model.
const auditLogName = "audit_log"

// webhooksName names the webhook endpoints among the projections: a
// rebuild keeps the delivery cursors and the attempt log.
const webhooksName = "webhooks"

// projectionNames are the projections `clavis projections` knows.
var projectionNames = []string{projections.Name, auditLogName, webhooksName}

// projectionsRebuild is `clavis projections rebuild [name]`: it rebuilds
// the projection named, or without a name every one, from the event store.
func projectionsRebuild(name string) func(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	return func(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
		if name == "" || name == projections.Name {
			if err := readModelRebuild(projections.Name)(ctx, cfg, log, stdout); err != nil {
				return err
			}
		}
		if name == "" || name == auditLogName {
			if err := auditLogRebuild(ctx, cfg, log, stdout); err != nil {
				return err
			}
		}
		if name == "" || name == webhooksName {
			return webhooksRebuild(ctx, cfg, log, stdout)
		}
		return nil
	}
}

// webhooksRebuild drops the webhook endpoints and projects them again
// from the event store. The deliveries (where each endpoint's deliveries
// stand) and the attempt log are kept: the events do not start again the
// deliveries they started, so no receiver is sent again what it got.
func webhooksRebuild(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	store, err := node.OpenStore(ctx, cfg.Config, log)
	if err != nil {
		return err
	}
	defer store.Close()
	ws, err := node.WebhookStore(store)
	if err != nil {
		return err
	}
	p, err := webhooks.NewProjection(ws, store, log)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := p.Rebuild(ctx); err != nil {
		return fmt.Errorf("rebuild %s: %w", webhooksName, err)
	}
	took := time.Since(start)
	at, err := ws.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", webhooksName, err)
	}
	fmt.Fprintf(stdout, "rebuilt %s in %s, at position %s; deliveries kept\n", webhooksName, took.Round(time.Millisecond), at)
	return nil
}

// auditLogRebuild drops the tenants' audit logs and logs the event store
// again, then checks every checkpoint kept against the rebuilt trees: a
// checkpoint they disagree with fails it, naming the tenant and the size,
// for the store no longer holds the history that was signed.
func auditLogRebuild(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
	store, err := node.OpenStore(ctx, cfg.Config, log)
	if err != nil {
		return err
	}
	defer store.Close()
	as, err := node.AuditStore(store)
	if err != nil {
		return err
	}
	l, err := auditlog.New(as, store, log)
	if err != nil {
		return err
	}
	start := time.Now()
	n, err := l.Rebuild(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", auditLogName, err)
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "rebuilt %s: %d events in %s (%.0f events/s)\n", auditLogName, n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	return nil
}

// readModelRebuild drops the read model and replays it from the event
// store (not from NATS), then prints how many events the model holds and
// how fast it was rebuilt — the numbers the log shows too. Running nodes
// keep serving meanwhile; their reads see a partly rebuilt model until it
// ends, and they may apply part of the events themselves, which the
// output says.
func readModelRebuild(name string) func(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error {
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
