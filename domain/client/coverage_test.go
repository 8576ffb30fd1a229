package client_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/internal/eventtest"
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

// TestEveryEventTypeIsHandled checks that every client event type
// decodes, applies (also to an aggregate restored from its State) and
// redacts at every level without a hash or the pairwise subject salt.
func TestEveryEventTypeIsHandled(t *testing.T) {
	t.Parallel()
	eventtest.EveryEventTypeIsHandled(t, eventtest.Kind[*client.Client, client.State]{
		Dir: ".", New: func() *client.Client { return new(client.Client) }, FromState: client.FromState,
		Decode: client.Decode, Redact: client.Redact,
		Leaks: func(_ domain.Event, r domain.Redaction, b []byte) string {
			for _, leak := range []string{"-hash", testSalt} {
				if strings.Contains(string(b), leak) {
					return leak
				}
			}
			if r == domain.RedactPublic && strings.Contains(string(b), `"hash"`) {
				return "a hash field"
			}
			return ""
		},
	}, everyEvent(t))
}
