package client_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/internal/eventset"
)

// everyEvent is a history with every client event type, in an order
// the aggregate accepts.
func everyEvent(t *testing.T) []domain.Event {
	t.Helper()
	s := settingsFor(client.TypeConfidential)
	s.PairwiseSubjectSalt = testSalt
	var history []domain.Event
	c := new(client.Client)
	step := func(events []domain.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if err := c.Apply(e); err != nil {
				t.Fatal(err)
			}
		}
		history = append(history, events...)
	}
	step(client.Register("c1", s, cat, secretPtr("s1"), now))
	step(c.Update(client.Patch{ClientName: ptr("Renamed")}, cat, now))
	step(c.AddSecret(secret("s2"), now))
	step(c.RotateSecret(secret("s3"), time.Hour, now))
	step(c.RevokeSecret("s2", now))
	step(c.Deactivate("audit", now))
	step(c.Activate(now))
	step(c.Delete(now))
	return history
}

// TestEveryEventTypeIsHandled checks each event type the package
// declares: it decodes from what it encodes to, the aggregate applies it
// (also when restored from its State in between), and Redact gives it a
// form at every level, without secret material. A new event type fails
// here until the package handles it throughout.
func TestEveryEventTypeIsHandled(t *testing.T) {
	t.Parallel()
	declared, err := eventset.Declared(".")
	if err != nil {
		t.Fatal(err)
	}
	history := everyEvent(t)
	var covered []string
	for _, e := range history {
		covered = append(covered, reflect.TypeOf(e).Name())
	}
	for _, name := range declared {
		if !slices.Contains(covered, name) {
			t.Errorf("event type %s is not in the history this test checks: add it", name)
		}
	}

	whole := new(client.Client)
	for i, e := range history {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		d, err := client.Decode(e.EventType(), e.SchemaVersion(), data)
		if err != nil {
			t.Fatalf("decode %s: %v", e.EventType(), err)
		}
		if again, _ := json.Marshal(d); string(again) != string(data) {
			t.Errorf("%s does not round-trip:\n%s\n%s", e.EventType(), data, again)
		}

		// The aggregate restored from its state applies the event as the
		// aggregate itself does.
		restored := client.FromState(whole.State())
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
			v := client.Redact(d, r)
			if v == nil {
				t.Errorf("%s has no form at level %d", e.EventType(), r)
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			for _, leak := range []string{"-hash", testSalt} {
				if strings.Contains(string(b), leak) {
					t.Errorf("%s at level %d shows %q: %s", e.EventType(), r, leak, b)
				}
			}
			if r == domain.RedactPublic && strings.Contains(string(b), `"hash"`) {
				t.Errorf("public %s has a hash field: %s", e.EventType(), b)
			}
		}
	}
}
