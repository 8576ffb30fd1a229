package main

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
)

// TestOneTraceFromRequestToProjection follows a client creation: the
// HTTP server span, the append, the relay's publish and the projection's
// apply must all belong to the request's trace.
func TestOneTraceFromRequestToProjection(t *testing.T) {
	// Not parallel: it installs the global tracer provider.
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); tp.Shutdown(t.Context()) })

	n := startNode(t, testConfig(t, node.SQLite))
	token := n.RootToken
	post := func(path, body string) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, n.URL+path, bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("/admin/tenants", `{"slug":"traced","name":"Traced"}`); code != http.StatusCreated {
		t.Fatalf("create tenant: %d", code)
	}
	if code := post("/t/traced/admin/clients", `{"client_name":"Svc","code":"urn:traced/svc","type":"m2m","grant_types":["client_credentials"]}`); code != http.StatusCreated {
		t.Fatalf("create client: %d", code)
	}

	poll.UntilNil(t, 10*time.Second, func() error {
		var server, publish, apply sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.Name() == "POST /t/:tenant/admin/clients" || s.Name() == "POST /t/{tenant}/admin/clients" {
				server = s
			}
		}
		if server != nil {
			id := server.SpanContext().TraceID()
			var append_ sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.SpanContext().TraceID() != id {
					continue
				}
				switch s.Name() {
				case "eventstore.append":
					append_ = s
				case "relay.publish":
					publish = s
				case "projection.apply":
					apply = s
				}
			}
			if append_ != nil && publish != nil && apply != nil {
				return nil
			}
		}
		names := map[string]int{}
		for _, s := range rec.Ended() {
			names[s.Name()]++
		}
		return fmt.Errorf("no complete trace from the request to the projection; spans: %v (server %v, publish %v, apply %v)", names, server != nil, publish != nil, apply != nil)
	})
}

func TestPipelineMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(mp)
	t.Cleanup(func() { otel.SetMeterProvider(prev); mp.Shutdown(t.Context()) })

	n := startNode(t, testConfig(t, node.SQLite))
	if code, _, _ := get(t, n.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}
	want := map[string]bool{"clavis.relay.leader": false, "clavis.projection.caught_up": false, "clavis.projection.lag": false, "http.server.request.duration": false}
	poll.UntilNil(t, 10*time.Second, func() error {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(t.Context(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if _, ok := want[m.Name]; ok {
					want[m.Name] = true
				}
			}
		}
		missing := []string{}
		for k, ok := range want {
			if !ok {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("metrics not reported: %v", missing)
		}
		return nil
	})
}
