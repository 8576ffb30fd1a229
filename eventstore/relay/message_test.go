package relay_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/eventstore/relay"
)

// tenantHistory returns the envelopes of a tenant's creation and one key
// rotation, as the store hands them to the relay: tenant.created, two
// tenant.signing_key_added (sealed keys "{sealed}" and "{sealed}.k2") and
// a tenant.signing_key_retired.
func tenantHistory(t *testing.T) []eventstore.Event {
	t.Helper()
	created, err := tenant.Create("acme", "Acme", signingKey, now)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := tenant.Replay(created)
	if err != nil {
		t.Fatal(err)
	}
	next := signingKey
	next.KID, next.Sealed = "k2", sealed+".k2"
	next.PublicJWK = bytes.ReplaceAll(next.PublicJWK, []byte(`"kid":"k1"`), []byte(`"kid":"k2"`))
	rotated, err := tn.RotateKey(next, time.Hour, 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	meta := eventstore.Metadata{Actor: "root", OccurredAt: now}
	events, _, err := aggregate.Envelopes(slices.Concat(created, rotated), meta, newID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		events[i].Stream = eventstore.StreamID{Tenant: "acme", Type: "tenant", ID: "acme"}
		events[i].Version = int64(i + 1)
		events[i].Position = eventstore.Position{Commit: 7, Seq: int64(i + 1)}
		events[i].RecordedAt = now
	}
	return events
}

func TestPublicMessageLeavesOutSealedPrivateKeys(t *testing.T) {
	t.Parallel()
	n, err := relay.NewNames(relay.DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	events := tenantHistory(t)
	if got := len(events); got != 4 {
		t.Fatalf("history has %d events, want 4", got)
	}
	for _, e := range events {
		t.Run(fmt.Sprintf("%d %s", e.Version, e.Type), func(t *testing.T) {
			t.Parallel()
			secret := e.Type == tenant.EventTypeSigningKeyAdded

			in, err := relay.InternalMessage(n, e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in.Data, e.Data) {
				t.Fatalf("internal body = %s, want the event's data byte for byte: %s", in.Data, e.Data)
			}
			if got := strings.Contains(string(in.Data), `"sealed_private_key":"`+sealed); got != secret {
				t.Fatalf("internal body carries the sealed private key: %v, want %v", got, secret)
			}

			pub, err := relay.PublicMessage(n, e)
			if err != nil {
				t.Fatal(err)
			}
			for _, leak := range []string{sealed, "sealed_private_key"} {
				if strings.Contains(string(pub.Data), leak) {
					t.Errorf("public message contains %q: %s", leak, pub.Data)
				}
			}
			var ce struct {
				Type    string         `json:"type"`
				Subject string         `json:"subject"`
				Data    map[string]any `json:"data"`
			}
			if err := json.Unmarshal(pub.Data, &ce); err != nil {
				t.Fatal(err)
			}
			if ce.Type != relay.TypePrefix+e.Type || ce.Subject != "tenants/acme" {
				t.Errorf("public type %q subject %q, want %q tenants/acme", ce.Type, ce.Subject, relay.TypePrefix+e.Type)
			}
			// Apart from the sealed private key, the public data is the
			// event's data.
			var want map[string]any
			if err := json.Unmarshal(e.Data, &want); err != nil {
				t.Fatal(err)
			}
			delete(want, "sealed_private_key")
			if !reflect.DeepEqual(ce.Data, want) {
				t.Errorf("public data = %v, want %v", ce.Data, want)
			}
			if secret {
				members := slices.Sorted(maps.Keys(ce.Data))
				if want := []string{"active_from", "alg", "at", "kid", "public_jwk"}; !slices.Equal(members, want) {
					t.Errorf("public data has members %v, want %v", members, want)
				}
			}
		})
	}
}
