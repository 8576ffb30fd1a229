package client_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain/client"
)

// TakeState hands over what State would copy, and leaves the client with
// no history, so that the two never share a slice or a map.
func TestTakeStateMovesTheStateOut(t *testing.T) {
	c, err := client.Replay(everyEvent(t)[:5]) // registered … revoked: secrets and settings to move
	if err != nil {
		t.Fatal(err)
	}
	want := c.State()
	got := c.TakeState()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TakeState differs from State (-State +TakeState):\n%s", diff)
	}
	if diff := cmp.Diff(client.State{}, c.State()); diff != "" {
		t.Errorf("the client keeps a history after TakeState:\n%s", diff)
	}
}
