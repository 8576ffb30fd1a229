package httpapi

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const instrumentation = "github.com/clavisiam/clavis/http"

// headerCarrier reads a fiber request's headers for trace propagation.
type headerCarrier struct{ c *fiber.Ctx }

func (h headerCarrier) Get(key string) string { return h.c.Get(key) }
func (h headerCarrier) Set(string, string)    {}
func (h headerCarrier) Keys() []string        { return nil }

// telemetry starts a server span per request, continuing the caller's
// trace when it sends a W3C traceparent, puts it in the request's user
// context (so the command, its append and, through the event's metadata,
// the relay and every projection join the same trace), and records the
// request's duration by route in http.server.request.duration.
func telemetry() fiber.Handler {
	tracer := otel.Tracer(instrumentation)
	duration, _ := otel.Meter(instrumentation).Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of HTTP server requests, by route"))
	prop := propagation.TraceContext{}
	return func(c *fiber.Ctx) error {
		start := time.Now()
		self := c.Route()
		ctx := prop.Extract(context.Background(), headerCarrier{c})
		ctx, span := tracer.Start(ctx, c.Method(), trace.WithSpanKind(trace.SpanKindServer))
		c.SetUserContext(ctx)
		err := c.Next()
		if err != nil {
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				err = herr
			} else {
				err = nil
			}
		}
		route := matchedRoute(c, self)
		status := c.Response().StatusCode()
		if route != "" {
			span.SetName(c.Method() + " " + route)
		}
		span.SetAttributes(
			attribute.String("http.request.method", c.Method()),
			attribute.String("http.route", route),
			attribute.Int("http.response.status_code", status),
			attribute.String("clavis.request_id", requestID(c)))
		if status >= 500 {
			span.SetStatus(codes.Error, "server error")
		}
		span.End()
		duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(
			attribute.String("http.request.method", c.Method()),
			attribute.String("http.route", route),
			attribute.Int("http.response.status_code", status)))
		return err
	}
}
