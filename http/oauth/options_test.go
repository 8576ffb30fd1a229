package oauth

import (
	"errors"
	"testing"
)

// Every option refuses what it cannot use with an error wrapping
// ErrInvalidOption, as the options of the other packages do.
func TestBadOptionsWrapErrInvalidOption(t *testing.T) {
	cases := map[string]Option{
		"nil clock":                 WithClock(nil),
		"nil grants":                WithGrants(nil),
		"nil assertions":            WithAssertions(nil),
		"nil revocations":           WithRevocations(nil),
		"zero revocation limit":     WithRevocationLimit(RevocationLimit{}),
		"negative refresh limit":    WithRefreshLimit(RefreshLimit{PerClient: -1, Burst: 1, Tokens: 1}),
		"refresh limit of 0 tokens": WithRefreshLimit(RefreshLimit{PerClient: 1, Burst: 1}),
		"zero address flow limit":   WithFlowLimits(FlowLimits{PerClient: 1, ClientBurst: 1, AddressBurst: 1}),
	}
	for name, opt := range cases {
		t.Run(name, func(t *testing.T) {
			var o options
			if err := opt(&o); !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("got %v, want an error wrapping ErrInvalidOption", err)
			}
		})
	}
	var o options
	for _, opt := range []Option{WithDevLogin(), WithKeySetFetching(KeySetFetching{}), WithRevocationLimit(DefaultRevocationLimit),
		WithRefreshLimit(DefaultRefreshLimit), WithFlowLimits(DefaultFlowLimits)} {
		if err := opt(&o); err != nil {
			t.Errorf("a valid option failed: %v", err)
		}
	}
}
