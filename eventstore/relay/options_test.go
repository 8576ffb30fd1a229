package relay_test

import (
	"errors"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore/relay"
	"github.com/clavisiam/clavis/internal/testnode"
)

// TestNewRefusesBadOptions checks that New refuses every bad option
// before it touches NATS, with an error that wraps ErrInvalidOption, and
// that a nil logger is no error.
func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]relay.Option{
		"nil option":        nil,
		"empty node":        relay.WithNode(""),
		"poll too short":    relay.WithPollInterval(time.Microsecond),
		"lease too short":   relay.WithLeaseTTL(time.Millisecond),
		"no replicas":       relay.WithReplicas(0),
		"too many replicas": relay.WithReplicas(6),
	} {
		if _, err := relay.New(nil, nil, testnode.Names(t), opt); !errors.Is(err, relay.ErrInvalidOption) {
			t.Errorf("%s: %v, want %v", name, err, relay.ErrInvalidOption)
		}
	}
	nc := testnode.Connect(t, natsServer(t, t.TempDir(), 0).ClientURL())
	if _, err := relay.New(sqliteStore(t), nc, testnode.Names(t), relay.WithLogger(nil)); err != nil {
		t.Errorf("a nil logger: %v", err)
	}
}
