package tenant_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/internal/eventset"
	"github.com/clavisiam/clavis/domain/tenant"
)

// TestEveryEventTypeIsHandled checks each event type the package
// declares: it decodes from what it encodes to, the aggregate applies it
// (also when restored from its State in between), and Redact gives it a
// form at every level, without the sealed private key. A new event type
// fails here until the package handles it throughout.
func TestEveryEventTypeIsHandled(t *testing.T) {
	t.Parallel()
	declared, err := eventset.Declared(".")
	if err != nil {
		t.Fatal(err)
	}
	history := slices.Concat(keyHistory(), history()[1:])
	var covered []string
	for _, e := range history {
		covered = append(covered, reflect.TypeOf(e).Name())
	}
	for _, name := range declared {
		if !slices.Contains(covered, name) {
			t.Errorf("event type %s is not in the history this test checks: add it", name)
		}
	}

	whole := new(tenant.Tenant)
	for i, e := range history {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		d, err := tenant.Decode(e.EventType(), e.SchemaVersion(), data)
		if err != nil {
			t.Fatalf("decode %s: %v", e.EventType(), err)
		}
		if again, _ := json.Marshal(d); string(again) != string(data) {
			t.Errorf("%s does not round-trip:\n%s\n%s", e.EventType(), data, again)
		}

		restored := tenant.FromState(whole.State())
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
			v := tenant.Redact(d, r)
			if v == nil {
				t.Errorf("%s has no form at level %d", e.EventType(), r)
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if k, ok := d.(tenant.SigningKeyAdded); ok && strings.Contains(string(b), k.Sealed) {
				t.Errorf("%s at level %d shows the sealed key: %s", e.EventType(), r, b)
			}
		}
	}
}
