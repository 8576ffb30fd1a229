package eventstore_test

import (
	"errors"
	"testing"

	"github.com/clavisiam/clavis/eventstore"
)

// FuzzParsePosition checks the reading of store positions, which come
// from outside as cursors (the events API's after, SSE's Last-Event-ID, a
// webhook replay's from): a refusal matches ErrInvalid; a position
// accepted is never negative and reads back from its String.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"0.0", "7.12", "9223372036854775807.9223372036854775807", "1.-1", "-1.0", "1", "1.2.3", "+1.2", "01.2", " 1.2", "a.b", "", ".", "1e3.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := eventstore.ParsePosition(s)
		if err != nil {
			if !errors.Is(err, eventstore.ErrInvalid) || p != (eventstore.Position{}) {
				t.Fatalf("ParsePosition(%q) = %v, %v: want ErrInvalid", s, p, err)
			}
			return
		}
		if p.Seq < 0 {
			t.Fatalf("ParsePosition(%q) = %v", s, p)
		}
		if again, err := eventstore.ParsePosition(p.String()); err != nil || again != p {
			t.Fatalf("ParsePosition(%q) = %v, which reads back as %v, %v", s, p, again, err)
		}
	})
}
