package httpapi

import (
	"context"
	"strings"
	"sync"
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
		duration.Record(ctx, time.Since(start).Seconds(), durations.attributes(c.Method(), route, status))
		return err
	}
}

// durationKey is what a request's duration is recorded by.
type durationKey struct {
	method, route string
	status        int
}

// durationSets are the attribute sets of durations recorded so far:
// making a set for every request took a third of the telemetry's CPU.
// Only standard methods, the server's own routes (or none) and status
// codes are kept, so the map stays as small as the server.
type durationSets struct {
	m sync.Map // durationKey → metric.MeasurementOption
}

// durations are the process's: its servers share the routes.
var durations durationSets

// attributes is what a request of method, to route, answered with
// status, is recorded with.
func (d *durationSets) attributes(method, route string, status int) metric.MeasurementOption {
	k := durationKey{method: method, route: route, status: status}
	if o, ok := d.m.Load(k); ok {
		return o.(metric.MeasurementOption)
	}
	o := metric.WithAttributeSet(attribute.NewSet(
		attribute.String("http.request.method", method),
		attribute.String("http.route", route),
		attribute.Int("http.response.status_code", status)))
	if standardMethod(method) && status >= 100 && status <= 599 {
		d.m.Store(durationKey{method: strings.Clone(method), route: strings.Clone(route), status: status}, o)
	}
	return o
}

// standardMethod reports whether m is one of HTTP's standard methods.
func standardMethod(m string) bool {
	switch m {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete,
		fiber.MethodConnect, fiber.MethodOptions, fiber.MethodTrace:
		return true
	}
	return false
}
