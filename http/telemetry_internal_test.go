package httpapi

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// A request's duration is recorded by its method, route and status, with
// an attribute set kept for each of the server's own; a method of the
// client's making gets its set, and is not kept.
func TestDurationAttributes(t *testing.T) {
	var d durationSets
	kept := func() int {
		n := 0
		d.m.Range(func(any, any) bool { n++; return true })
		return n
	}
	for _, c := range []struct {
		method, route string
		status        int
		keep          bool
	}{
		{"POST", "/t/:tenant/oauth2/token", 200, true},
		{"POST", "/t/:tenant/oauth2/token", 200, false}, // kept already
		{"POST", "/t/:tenant/oauth2/token", 400, true},
		{"GET", "", 404, true},
		{"BREW", "", 501, false},
		{"GET", "", 1000, false},
	} {
		before := kept()
		o := d.attributes(c.method, c.route, c.status)
		got := metric.NewRecordConfig([]metric.RecordOption{o}).Attributes()
		want := attribute.NewSet(attribute.String("http.request.method", c.method), attribute.String("http.route", c.route),
			attribute.Int("http.response.status_code", c.status))
		if !got.Equals(&want) {
			t.Errorf("%+v: attributes %v, want %v", c, got.ToSlice(), want.ToSlice())
		}
		if added := kept() - before; added != map[bool]int{true: 1, false: 0}[c.keep] {
			t.Errorf("%+v: %d sets kept, want keep=%t", c, added, c.keep)
		}
	}
}
