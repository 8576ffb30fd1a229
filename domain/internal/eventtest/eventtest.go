// Package eventtest holds the checks every aggregate's tests make of its
// events, so that each aggregate states them once.
package eventtest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/clavisiam/clavis/domain"
)

// Decoder reads an event back from its type, schema version and JSON, as
// each aggregate's Decode does.
type Decoder func(eventType string, schemaVersion int, data []byte) (domain.Event, error)

// RoundTrip checks, in one parallel subtest per event, that each of
// events is at schema version 1 and that decode reads its JSON encoding
// back to an equal event.
func RoundTrip(t *testing.T, events []domain.Event, decode Decoder) {
	t.Helper()
	for i, e := range events {
		t.Run(fmt.Sprintf("%d_%s", i, e.EventType()), func(t *testing.T) {
			t.Parallel()
			if e.SchemaVersion() != 1 {
				t.Errorf("SchemaVersion() = %d", e.SchemaVersion())
			}
			data, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode(e.EventType(), e.SchemaVersion(), data)
			if err != nil {
				t.Fatalf("Decode(%s): %v", data, err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, e)
			}
		})
	}
}
