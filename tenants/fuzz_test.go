package tenants_test

import (
	"errors"
	"testing"

	"github.com/clavisiam/clavis/tenants"
)

// FuzzParseInstant checks the at query parameter of a client's past
// state and of history: a refusal matches ErrInvalidInstant; an instant
// accepted is written by String in a form that reads back as the same
// instant.
func FuzzParseInstant(f *testing.F) {
	for _, s := range []string{"7.12", "0.0", "2030-01-02T03:04:05Z", "2030-01-02T03:04:05.123456789+02:00", "2030-01-02T03:04:05",
		"2030-01-02", "1.-1", "-1.0", "9223372036854775808.0", "now", "", "1.2.3", "2030-01-02T03:04:05.Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		i, err := tenants.ParseInstant(s)
		if err != nil {
			if !errors.Is(err, tenants.ErrInvalidInstant) {
				t.Fatalf("ParseInstant(%q) = %v: want ErrInvalidInstant", s, err)
			}
			return
		}
		again, err := tenants.ParseInstant(i.String())
		if err != nil || again != i {
			t.Fatalf("ParseInstant(%q) = %v, which reads back as %v, %v", s, i, again, err)
		}
	})
}
