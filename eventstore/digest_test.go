package eventstore_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore"
)

func TestDigestCoversEveryField(t *testing.T) {
	base := eventstore.Event{
		ID:      "e1",
		Stream:  eventstore.StreamID{Tenant: "acme", Type: "client", ID: "c1"},
		Version: 1, Type: "client.registered", Schema: 1,
		Data: json.RawMessage(`{"a":1}`),
		Meta: eventstore.Metadata{Actor: "root", CorrelationID: "c", CausationID: "k",
			OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC), TraceParent: "t", Reason: "r"},
	}
	want := eventstore.Digest(nil, base)
	if got := eventstore.Digest(nil, base); !bytes.Equal(got, want) {
		t.Fatal("digest is not deterministic")
	}
	mutations := map[string]func(e *eventstore.Event){
		"id":          func(e *eventstore.Event) { e.ID = "e2" },
		"tenant":      func(e *eventstore.Event) { e.Stream.Tenant = "globex" },
		"stream type": func(e *eventstore.Event) { e.Stream.Type = "tenant" },
		"stream id":   func(e *eventstore.Event) { e.Stream.ID = "c2" },
		"version":     func(e *eventstore.Event) { e.Version = 2 },
		"type":        func(e *eventstore.Event) { e.Type = "client.updated" },
		"schema":      func(e *eventstore.Event) { e.Schema = 2 },
		"data":        func(e *eventstore.Event) { e.Data = json.RawMessage(`{"a": 1}`) },
		"actor":       func(e *eventstore.Event) { e.Meta.Actor = "mallory" },
		"correlation": func(e *eventstore.Event) { e.Meta.CorrelationID = "x" },
		"causation":   func(e *eventstore.Event) { e.Meta.CausationID = "x" },
		"time":        func(e *eventstore.Event) { e.Meta.OccurredAt = e.Meta.OccurredAt.Add(time.Microsecond) },
		"trace":       func(e *eventstore.Event) { e.Meta.TraceParent = "x" },
		"reason":      func(e *eventstore.Event) { e.Meta.Reason = "x" },
		"field shift": func(e *eventstore.Event) { e.Stream.Tenant, e.Stream.Type = "acmec", "lient" },
	}
	for name, mutate := range mutations {
		e := base
		mutate(&e)
		if bytes.Equal(eventstore.Digest(nil, e), want) {
			t.Errorf("changing the %s does not change the digest", name)
		}
	}
	if bytes.Equal(eventstore.Digest([]byte("prev"), base), want) {
		t.Error("the previous digest does not change the digest")
	}
}

func TestParsePosition(t *testing.T) {
	for _, p := range []eventstore.Position{{}, {Commit: 1, Seq: 2}, {Commit: 1 << 62, Seq: 1 << 62}} {
		got, err := eventstore.ParsePosition(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePosition(%q) = %v, %v", p.String(), got, err)
		}
	}
	for _, bad := range []string{"", "1", "1.", ".1", "1.2junk", "1.-5", "-1.5", "18446744073709551615.5", "a.b", "1.2.3"} {
		if _, err := eventstore.ParsePosition(bad); err == nil {
			t.Errorf("ParsePosition(%q) succeeded", bad)
		}
	}
}
