package eventtype_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/eventtype"
)

// FuzzParse checks the event type patterns downstream readers give (the
// events API's type parameter, a webhook endpoint's types), one per
// line of the input: a refusal matches ErrInvalid; a filter accepted
// is written by Patterns in canonical form, which reads back as a
// filter that matches the same events, and matches every type it was
// given by name.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "*", "client.*", "client.registered", "dev.clavis.client.registered\ntenant.*",
		"client.registered\nclient.*\nclient.registered", "client", "Client.registered", "client.*.x", "dev.clavis.*",
		".x", "client.", "x." + strings.Repeat("a", 100), strings.Repeat("a.b\n", 51)} {
		f.Add(s)
	}
	probes := []string{"client.registered", "client.updated", "tenant.created", "webhook.created", "x.y"}
	f.Fuzz(func(t *testing.T, input string) {
		var patterns []string
		if input != "" {
			patterns = strings.Split(input, "\n")
		}
		filter, err := eventtype.Parse(patterns)
		if err != nil {
			if !errors.Is(err, eventtype.ErrInvalid) {
				t.Fatalf("Parse(%q) = %v: want ErrInvalid", patterns, err)
			}
			return
		}
		canonical := filter.Patterns()
		again, err := eventtype.Parse(canonical)
		if err != nil || !slices.Equal(again.Patterns(), canonical) {
			t.Fatalf("Parse(%q) = %q, which reads back as %q, %v", patterns, canonical, again.Patterns(), err)
		}
		for _, p := range append(probes, patterns...) {
			p = strings.TrimPrefix(p, eventtype.CloudEventPrefix)
			if filter.Match(p) != again.Match(p) {
				t.Fatalf("Parse(%q) and Parse(%q) disagree on %q", patterns, canonical, p)
			}
			if !strings.Contains(p, "*") && slices.Contains(patterns, p) && !filter.Match(p) {
				t.Fatalf("Parse(%q) does not match %q", patterns, p)
			}
		}
	})
}
