package tenant_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/tenant"
)

// pointerTo returns a pointer to a copy of the tenant event e.
func pointerTo(t *testing.T, e domain.Event) domain.Event {
	t.Helper()
	p := reflect.New(reflect.TypeOf(e))
	p.Elem().Set(reflect.ValueOf(e))
	return p.Interface().(domain.Event)
}

func TestPublicRemovesSealedPrivateKey(t *testing.T) {
	t.Parallel()
	for _, e := range slices.Concat(history(), keyHistory()) {
		t.Run(e.EventType(), func(t *testing.T) {
			t.Parallel()
			whole, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]json.RawMessage
			if err := json.Unmarshal(whole, &want); err != nil {
				t.Fatal(err)
			}
			delete(want, "sealed_private_key")
			for _, form := range []domain.Event{e, pointerTo(t, e)} {
				p := tenant.Redact(form, domain.RedactPublic)
				if p == nil {
					t.Fatalf("%T has no public form", form)
				}
				b, err := json.Marshal(p)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(b), "sealed") {
					t.Errorf("public %T carries the sealed private key: %s", form, b)
				}
				var got map[string]json.RawMessage
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatal(err)
				}
				if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
					t.Errorf("public %T = %s, want %s without sealed_private_key", form, b, whole)
				}
			}
		})
	}
}

func TestPublicPassesEventsWithoutSecretsUnchanged(t *testing.T) {
	t.Parallel()
	for _, e := range slices.Concat(history(), keyHistory()) {
		if _, ok := e.(tenant.SigningKeyAdded); ok {
			continue
		}
		if p := tenant.Redact(e, domain.RedactPublic); !reflect.DeepEqual(p, e) {
			t.Errorf("Public(%#v) = %#v, want the event itself", e, p)
		}
	}
}

func TestPublicOfAnotherAggregateIsNil(t *testing.T) {
	t.Parallel()
	for _, e := range []domain.Event{foreignEvent{}, (*tenant.SigningKeyAdded)(nil), nil} {
		if p := tenant.Redact(e, domain.RedactPublic); p != nil {
			t.Errorf("Public(%#v) = %#v, want nil", e, p)
		}
	}
}
