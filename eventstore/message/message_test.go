package message_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/eventstore/message"
	"github.com/clavisiam/clavis/eventstore/subject"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// sealed is the sealed private key of [signingKey]: it must never reach
// the public stream.
const sealed = "v1.test.sealed"

// signingKey is a valid key for a new tenant.
var signingKey = tenant.NewKey{
	KID:       "k1",
	Alg:       tenant.AlgES256,
	PublicJWK: json.RawMessage(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1","alg":"ES256","use":"sig"}`),
	Sealed:    sealed,
}

var seq atomic.Int64

func newID() string { return fmt.Sprintf("00000000-0000-7000-8000-%012d", seq.Add(1)) }

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
	n, err := subject.NewNames(subject.DefaultPrefix)
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

			in, err := message.Internal(n, e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in.Data, e.Data) {
				t.Fatalf("internal body = %s, want the event's data byte for byte: %s", in.Data, e.Data)
			}
			if got := strings.Contains(string(in.Data), `"sealed_private_key":"`+sealed); got != secret {
				t.Fatalf("internal body carries the sealed private key: %v, want %v", got, secret)
			}

			pub, err := message.Public(n, e)
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
			if ce.Type != message.TypePrefix+e.Type || ce.Subject != "tenants/acme" {
				t.Errorf("public type %q subject %q, want %q tenants/acme", ce.Type, ce.Subject, message.TypePrefix+e.Type)
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
