// Package traced wraps an [eventstore.Store] so that appends and stream
// reads show up as OpenTelemetry spans, children of the caller's span.
// It also offers the helpers that carry a trace across the event store
// and NATS: an event records the W3C traceparent of the command that made
// it, and the relay and the projections start their spans from it.
package traced

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/clavisiam/clavis/eventstore"
)

const scope = "github.com/clavisiam/clavis/eventstore"

// Store returns s with spans around Append and ReadStream.
func Store(s eventstore.Store) eventstore.Store { return &store{Store: s, tracer: otel.Tracer(scope)} }

type store struct {
	eventstore.Store
	tracer trace.Tracer
}

func (s *store) Append(ctx context.Context, stream eventstore.StreamID, expected int64, events []eventstore.Event, claims ...eventstore.Claim) (eventstore.Position, error) {
	ctx, span := s.tracer.Start(ctx, "eventstore.append", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("clavis.tenant", stream.Tenant),
		attribute.String("clavis.stream", stream.Type+"/"+stream.ID),
		attribute.Int64("clavis.expected_version", expected),
		attribute.Int("clavis.events", len(events)),
	))
	defer span.End()
	pos, err := s.Store.Append(ctx, stream, expected, events, claims...)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "append failed")
	} else {
		span.SetAttributes(attribute.String("clavis.position", pos.String()))
	}
	return pos, err
}

func (s *store) ReadStream(ctx context.Context, stream eventstore.StreamID, after int64) ([]eventstore.Event, error) {
	ctx, span := s.tracer.Start(ctx, "eventstore.read_stream", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("clavis.tenant", stream.Tenant),
		attribute.String("clavis.stream", stream.Type+"/"+stream.ID),
	))
	defer span.End()
	events, err := s.Store.ReadStream(ctx, stream, after)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "read failed")
	}
	span.SetAttributes(attribute.Int("clavis.events", len(events)))
	return events, err
}

// TraceParent returns the W3C traceparent of ctx's span ("" without one),
// for an event's metadata.
func TraceParent(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier["traceparent"]
}

// FromTraceParent returns ctx carrying the remote span context that
// traceparent names, so that a span started from it continues the trace.
func FromTraceParent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// SaveSnapshot passes to the wrapped store when it keeps snapshots
// ([eventstore.Snapshots]), and does nothing otherwise.
func (s *store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if ss, ok := s.Store.(eventstore.Snapshots); ok {
		return ss.SaveSnapshot(ctx, snap)
	}
	return nil
}

// LatestSnapshot passes to the wrapped store when it keeps snapshots
// ([eventstore.Snapshots]), and finds none otherwise.
func (s *store) LatestSnapshot(ctx context.Context, stream eventstore.StreamID, usable func(eventstore.Snapshot) bool) (eventstore.Snapshot, bool, error) {
	if ss, ok := s.Store.(eventstore.Snapshots); ok {
		return ss.LatestSnapshot(ctx, stream, usable)
	}
	return eventstore.Snapshot{}, false, nil
}
