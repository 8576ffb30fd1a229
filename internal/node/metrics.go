package node

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections"
)

// registerMetrics publishes the pipeline's gauges: the relay's backlog
// (events committed but not yet on NATS, counted up to eventstore.MaxRead)
// and whether this node holds the relay lease; each projection's lag
// behind the store and whether it has caught up. They are computed when
// a metric reader collects, so they cost nothing without an exporter.
func registerMetrics(n *Node) (metric.Registration, error) {
	m := otel.Meter("github.com/clavisiam/clavis")
	backlog, err1 := m.Int64ObservableGauge("clavis.relay.backlog", metric.WithUnit("{event}"),
		metric.WithDescription("Committed events not yet published to NATS (capped at 10000)"))
	leader, err2 := m.Int64ObservableGauge("clavis.relay.leader",
		metric.WithDescription("1 while this node holds the relay lease"))
	lag, err3 := m.Float64ObservableGauge("clavis.projection.lag", metric.WithUnit("s"),
		metric.WithDescription("How long ago the newest applied event was recorded, while the projection is behind"))
	caught, err4 := m.Int64ObservableGauge("clavis.projection.caught_up",
		metric.WithDescription("1 when the projection has applied every event readers can see"))
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		st := n.Relay.Status()
		o.ObserveInt64(leader, boolInt(st.Leader))
		if st.Leader {
			events, err := n.Store.ReadAll(ctx, minPosition(st.Internal, st.Public), eventstore.MaxRead)
			if err == nil {
				o.ObserveInt64(backlog, int64(len(events)))
			}
		}
		ps, err := n.Projector.Status(ctx)
		if err == nil {
			attrs := metric.WithAttributes(attribute.String("projection", projections.Name))
			o.ObserveFloat64(lag, ps.Lag.Seconds(), attrs)
			o.ObserveInt64(caught, boolInt(ps.CaughtUp), attrs)
		}
		return nil
	}, backlog, leader, lag, caught)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func minPosition(a, b eventstore.Position) eventstore.Position {
	if b.Less(a) {
		return b
	}
	return a
}
