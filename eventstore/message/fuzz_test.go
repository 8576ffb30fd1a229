package message_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/message"
	"github.com/clavisiam/clavis/eventstore/subject"
)

// fuzzEvent is an event as the store hands it to the relay, from a fuzz
// input. ok is false when the input is no event a store holds: a store
// keeps text as UTF-8, and its positions are within int64 (PostgreSQL's
// transaction ids, SQLite's row ids) and never negative.
func fuzzEvent(id, tenant, streamType, streamID string, version int64, typ string, schema int, data []byte,
	actor, traceParent string, commit uint64, seq int64, at int64) (eventstore.Event, bool) {
	if commit > math.MaxInt64 || seq < 0 {
		return eventstore.Event{}, false
	}
	for _, s := range []string{id, tenant, streamType, streamID, typ, actor, traceParent} {
		if !utf8.ValidString(s) {
			return eventstore.Event{}, false
		}
	}
	recorded := time.Unix(0, at).UTC()
	return eventstore.Event{
		ID: id, Stream: eventstore.StreamID{Tenant: tenant, Type: streamType, ID: streamID},
		Version: version, Type: typ, Schema: schema, Data: data,
		Meta:     eventstore.Metadata{Actor: actor, CorrelationID: id, OccurredAt: recorded.Truncate(time.Microsecond), TraceParent: traceParent},
		Position: eventstore.Position{Commit: commit, Seq: seq}, RecordedAt: recorded,
	}, true
}

// eventSeeds are real events' data, of each aggregate.
func eventSeeds(f *testing.F) []struct {
	streamType string
	e          domain.Event
} {
	now := time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC)
	exp := now.Add(time.Hour)
	s := client.DefaultSettings(client.TypeConfidential)
	s.ClientName, s.Code, s.RedirectURIs = "Web", "urn:acme/web", []string{"https://app.example.com/cb"}
	return []struct {
		streamType string
		e          domain.Event
	}{
		{"client", client.ClientRegistered{ClientID: "c1", Settings: s, Active: true,
			Secrets: []client.Secret{{ID: "s1", Hash: "secret-hash", CreatedAt: now, ExpiresAt: &exp}}, At: now}},
		{"client", client.SecretRotated{New: client.Secret{ID: "s3", Hash: "secret-hash"}, Expiring: []client.SecretExpiry{{SecretID: "s1", ExpiresAt: exp}}, At: now}},
		{"client", client.ClientDeactivated{Reason: "r", At: now}},
		{"client", client.ClientDeleted{Code: "urn:acme/web", At: now}},
	}
}

// FuzzInternal checks the internal stream's encoding: every event a
// store holds decodes from its message exactly as it was, data byte for
// byte, and the message carries its position.
func FuzzInternal(f *testing.F) {
	for _, s := range eventSeeds(f) {
		data, err := json.Marshal(s.e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("0190a8e4-0000-7000-8000-000000000001", "acme", s.streamType, "c1", int64(3), s.e.EventType(), s.e.SchemaVersion(), data,
			"client:admin", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", uint64(7), int64(12), int64(1795000000123456789))
	}
	f.Add("", "", "", "", int64(-1), "", -1, []byte{}, "", "", uint64(1)<<63, int64(-5), int64(-1))
	names, err := subject.NewNames(subject.DefaultPrefix)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, tenant, streamType, streamID string, version int64, typ string, schema int, data []byte,
		actor, traceParent string, commit uint64, seq int64, at int64) {
		e, ok := fuzzEvent(id, tenant, streamType, streamID, version, typ, schema, data, actor, traceParent, commit, seq, at)
		if !ok {
			return
		}
		m, err := message.Internal(names, e)
		if err != nil {
			t.Fatalf("Internal(%+v): %v", e, err)
		}
		got, err := message.DecodeInternal(m)
		if err != nil {
			t.Fatalf("DecodeInternal of Internal(%+v): %v", e, err)
		}
		if !bytes.Equal(got.Data, e.Data) || !got.RecordedAt.Equal(e.RecordedAt) || !got.Meta.OccurredAt.Equal(e.Meta.OccurredAt) {
			t.Fatalf("round trip of %+v gives %+v", e, got)
		}
		got.Data, got.RecordedAt, got.Meta.OccurredAt = e.Data, e.RecordedAt, e.Meta.OccurredAt
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip of\n%+v gives\n%+v", e, got)
		}
		if pos, err := message.PositionOf(m.Header); err != nil || pos != e.Position {
			t.Fatalf("PositionOf = %v, %v; want %v", pos, err, e.Position)
		}
	})
}

// secretMembers are members of event data that hold secret material.
var secretMembers = []string{"hash", "sealed_private_key", "client_secret", "secret"}

// FuzzPublic checks the public stream's CloudEvent encoding: an event
// this version knows becomes a valid CloudEvent that a CloudEvents
// decoder reads back with the same id, source, type, subject, time,
// extensions and data, and whose data has no secret member; an event it
// does not know is refused.
func FuzzPublic(f *testing.F) {
	for _, s := range eventSeeds(f) {
		data, err := json.Marshal(s.e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("0190a8e4-0000-7000-8000-000000000001", "acme", s.streamType, "c1", int64(3), s.e.EventType(), s.e.SchemaVersion(), data,
			"client:admin", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", uint64(7), int64(12), int64(1795000000123456789))
	}
	f.Add("id", "acme", "tenant", "acme", int64(1), "tenant.created", 1, []byte(`{}`), "", "", uint64(0), int64(0), int64(0))
	f.Add("id", "acme", "client", "c1", int64(1), "client.exploded", 1, []byte(`{}`), "", "", uint64(0), int64(0), int64(0))
	f.Fuzz(func(t *testing.T, id, tenant, streamType, streamID string, version int64, typ string, schema int, data []byte,
		actor, traceParent string, commit uint64, seq int64, at int64) {
		e, ok := fuzzEvent(id, tenant, streamType, streamID, version, typ, schema, data, actor, traceParent, commit, seq, at)
		if !ok {
			return
		}
		ce, err := message.PublicEvent(e)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "message: ") {
				t.Fatalf("PublicEvent(%+v): %v", e, err)
			}
			return
		}
		body, err := json.Marshal(ce)
		if err != nil {
			t.Fatalf("PublicEvent(%+v) does not encode: %v", e, err)
		}
		got := event.New()
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("the CloudEvent of %+v does not decode: %v\n%s", e, err, body)
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("the CloudEvent of %+v is not valid: %v\n%s", e, err, body)
		}
		if got.ID() != ce.ID() || got.Source() != ce.Source() || got.Type() != ce.Type() || got.Subject() != ce.Subject() ||
			!got.Time().Equal(ce.Time()) || got.SpecVersion() != message.SpecVersion {
			t.Fatalf("CloudEvent of %+v:\n%s\ndecodes as\n%s", e, ce, got)
		}
		if got.Type() != message.TypePrefix+e.Type || got.Source() != "/t/"+e.Stream.Tenant {
			t.Fatalf("CloudEvent of %+v has type %q, source %q", e, got.Type(), got.Source())
		}
		for _, name := range []string{"clavistenant", "clavisschema", "clavisversion", "clavisposition", "clavisactor", "claviscorrelationid", "traceparent"} {
			want, _ := ce.Extensions()[name]
			have, _ := got.Extensions()[name]
			if want != nil && have == nil || want != nil && !reflect.DeepEqual(stringOf(want), stringOf(have)) {
				t.Fatalf("CloudEvent of %+v: extension %s %v decodes as %v", e, name, want, have)
			}
		}
		if !sameJSON(got.Data(), ce.Data()) {
			t.Fatalf("CloudEvent of %+v: data %s decodes as %s", e, ce.Data(), got.Data())
		}
		var v any
		if err := json.Unmarshal(got.Data(), &v); err != nil {
			t.Fatalf("CloudEvent of %+v: data is not JSON: %v", e, err)
		}
		if name, found := memberNamed(v, secretMembers); found {
			t.Fatalf("CloudEvent of %+v carries member %q: %s", e, name, got.Data())
		}
	})
}

func stringOf(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}

func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// memberNamed finds an object member with one of names, at any depth.
func memberNamed(v any, names []string) (string, bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, m := range v {
			for _, n := range names {
				if k == n {
					return k, true
				}
			}
			if name, ok := memberNamed(m, names); ok {
				return name, ok
			}
		}
	case []any:
		for _, m := range v {
			if name, ok := memberNamed(m, names); ok {
				return name, ok
			}
		}
	}
	return "", false
}
