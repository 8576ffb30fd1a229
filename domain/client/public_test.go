package client_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
)

func TestPublicRemovesSecretMaterial(t *testing.T) {
	s := settingsFor(client.TypeConfidential)
	s.PairwiseSubjectSalt = "pepper-salt-value"
	reg, err := client.Register("c1", s, cat, secretPtr("s1"), now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Replay(reg)
	if err != nil {
		t.Fatal(err)
	}
	history := reg
	add, err := c.AddSecret(secret("s2"), now)
	if err != nil {
		t.Fatal(err)
	}
	history = append(history, add...)
	if err := c.Apply(add[0]); err != nil {
		t.Fatal(err)
	}
	rot, err := c.RotateSecret(secret("s3"), time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	history = append(history, rot...)
	upd, err := c.Update(client.Patch{ClientName: ptr("Renamed")}, cat, now)
	if err != nil {
		t.Fatal(err)
	}
	history = append(history, upd...)
	for _, e := range append(history, client.ClientActivated{At: now}) {
		p := client.Redact(e, domain.RedactPublic)
		if p == nil {
			t.Fatalf("%s has no public form", e.EventType())
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range []string{"-hash", `"hash"`, "pepper-salt-value"} {
			if strings.Contains(string(b), leak) {
				t.Errorf("public %s contains %s: %s", e.EventType(), leak, b)
			}
		}
	}
	if p := client.Redact(otherEvent{}, domain.RedactPublic); p != nil {
		t.Errorf("an event of another aggregate has a public client form: %v", p)
	}
}

type otherEvent struct{}

func (otherEvent) EventType() string  { return "tenant.created" }
func (otherEvent) SchemaVersion() int { return 1 }

var _ domain.Event = otherEvent{}
