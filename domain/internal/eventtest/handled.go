package eventtest

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/internal/eventset"
)

// Aggregate is what every aggregate offers the read model: it applies
// events, and its state restores it.
type Aggregate[S any] interface {
	Apply(domain.Event) error
	State() S
}

// Kind is one aggregate's package, as EveryEventTypeIsHandled checks it.
type Kind[A Aggregate[S], S any] struct {
	// Dir is the package's folder, where its event types are declared.
	Dir string
	// New returns an aggregate with no history; FromState restores one.
	New       func() A
	FromState func(S) A
	Decode    Decoder
	Redact    func(domain.Event, domain.Redaction) any
	// Leaks says what of e's redacted JSON at level r is secret material
	// that must not be there ("" when none is).
	Leaks func(e domain.Event, r domain.Redaction, redacted []byte) string
}

// EveryEventTypeIsHandled checks each event type k's package declares,
// with history, which must hold every one of them in an order the
// aggregate accepts: it decodes from what it encodes to, the aggregate
// applies it (also when restored from its State just before), and Redact
// gives it a form at every level without secret material. A new event
// type fails here until its package handles it throughout.
func EveryEventTypeIsHandled[A Aggregate[S], S any](t *testing.T, k Kind[A, S], history []domain.Event) {
	t.Helper()
	declared, err := eventset.Declared(k.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var covered []string
	for _, e := range history {
		covered = append(covered, reflect.TypeOf(e).Name())
	}
	for _, name := range declared {
		if !slices.Contains(covered, name) {
			t.Errorf("event type %s is not in the history this test checks: add it", name)
		}
	}

	whole := k.New()
	for i, e := range history {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		d, err := k.Decode(e.EventType(), e.SchemaVersion(), data)
		if err != nil {
			t.Fatalf("decode %s: %v", e.EventType(), err)
		}
		if again, _ := json.Marshal(d); string(again) != string(data) {
			t.Errorf("%s does not round-trip:\n%s\n%s", e.EventType(), data, again)
		}

		// The aggregate restored from its state applies the event as the
		// aggregate itself does.
		restored := k.FromState(whole.State())
		if err := whole.Apply(d); err != nil {
			t.Fatalf("apply %s: %v", e.EventType(), err)
		}
		if err := restored.Apply(d); err != nil {
			t.Fatalf("apply %s to the restored aggregate: %v", e.EventType(), err)
		}
		if !reflect.DeepEqual(restored.State(), whole.State()) {
			t.Errorf("after %s (event %d) the restored aggregate is\n%+v\nnot\n%+v", e.EventType(), i+1, restored.State(), whole.State())
		}

		for _, r := range []domain.Redaction{domain.RedactHistory, domain.RedactPublic} {
			v := k.Redact(d, r)
			if v == nil {
				t.Errorf("%s has no form at level %d", e.EventType(), r)
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if leak := k.Leaks(d, r, b); leak != "" {
				t.Errorf("%s at level %d shows %s: %s", e.EventType(), r, leak, b)
			}
		}
	}
}
