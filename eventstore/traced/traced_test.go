package traced_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/eventstore/traced"
)

func TestAppendSpanContinuesTheTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { tp.Shutdown(context.Background()) })

	inner, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	s := traced.Store(inner)

	ctx, parent := tp.Tracer("test").Start(t.Context(), "request")
	tp1 := traced.TraceParent(ctx)
	e := eventstore.Event{ID: "e1", Type: "x.y", Schema: 1, Data: json.RawMessage(`{}`),
		Meta: eventstore.Metadata{Actor: "a", OccurredAt: time.Now(), TraceParent: tp1}}
	if _, err := s.Append(ctx, eventstore.StreamID{Tenant: "t", Type: "x", ID: "1"}, 0, []eventstore.Event{e}); err != nil {
		t.Fatal(err)
	}
	parent.End()

	// A consumer far away continues the same trace from the traceparent.
	remote := traced.FromTraceParent(context.Background(), tp1)
	_, child := tp.Tracer("test").Start(remote, "projection.apply")
	child.End()

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("recorded %d spans, want 3", len(spans))
	}
	traceID := parent.SpanContext().TraceID()
	for _, sp := range spans {
		if sp.SpanContext().TraceID() != traceID {
			t.Errorf("span %s is in trace %s, want %s", sp.Name(), sp.SpanContext().TraceID(), traceID)
		}
	}
	if spans[0].Name() != "eventstore.append" || spans[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("first span %s has parent %s", spans[0].Name(), spans[0].Parent().SpanID())
	}
	if traced.TraceParent(context.Background()) != "" {
		t.Error("a context without a span has a traceparent")
	}
}
