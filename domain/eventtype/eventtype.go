// Package eventtype holds the patterns downstream readers choose events
// by, in the events API's type parameter and a webhook endpoint's types:
// an event type ("client.registered"), every event of an aggregate
// ("client.*"), or every event ("*"). A pattern may also be written as
// the CloudEvent type ("dev.clavis.client.registered"); it means the
// same. The package is pure: it imports only the standard library.
package eventtype

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// CloudEventPrefix starts the CloudEvent type of every Clavis event.
const CloudEventPrefix = "dev.clavis."

// MaxPatterns is the most patterns one filter holds; MaxPatternLength the
// longest pattern, in bytes.
const (
	MaxPatterns      = 50
	MaxPatternLength = 100
)

// ErrInvalid matches every error of [Parse].
var ErrInvalid = errors.New("invalid event type pattern")

// Filter is a set of patterns; an event matches when one pattern does.
// The zero Filter matches every event.
type Filter struct {
	all        bool
	aggregates []string // "client" for "client.*"
	types      []string // "client.registered"
}

// Parse reads patterns into a Filter, in their canonical form (without
// the CloudEvent prefix). No patterns, or "*" among them, match
// everything. It refuses more than [MaxPatterns] patterns and any pattern
// that is not "*", "{aggregate}.*" or "{aggregate}.{event}", where both
// names are lower-case letters, digits and underscores, starting with a
// letter.
func Parse(patterns []string) (Filter, error) {
	if len(patterns) > MaxPatterns {
		return Filter{}, fmt.Errorf("%w: at most %d patterns, not %d", ErrInvalid, MaxPatterns, len(patterns))
	}
	var f Filter
	if len(patterns) == 0 {
		f.all = true
		return f, nil
	}
	for _, p := range patterns {
		c, err := canonical(p)
		if err != nil {
			return Filter{}, err
		}
		agg, ev, _ := strings.Cut(c, ".")
		switch {
		case c == "*":
			f.all = true
		case ev == "*":
			if !slices.Contains(f.aggregates, agg) {
				f.aggregates = append(f.aggregates, agg)
			}
		default:
			if !slices.Contains(f.types, c) {
				f.types = append(f.types, c)
			}
		}
	}
	return f, nil
}

func canonical(p string) (string, error) {
	if len(p) > MaxPatternLength {
		return "", fmt.Errorf("%w: a pattern is at most %d bytes", ErrInvalid, MaxPatternLength)
	}
	c := strings.TrimPrefix(p, CloudEventPrefix)
	if c == "*" {
		return c, nil
	}
	agg, ev, ok := strings.Cut(c, ".")
	if !ok || !name(agg) || (ev != "*" && !name(ev)) {
		return "", fmt.Errorf("%w: %q is not *, {aggregate}.* or {aggregate}.{event}", ErrInvalid, p)
	}
	return c, nil
}

// name reports whether s is a lower-case name: a letter, then letters,
// digits and underscores.
func name(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// All reports whether f matches every event.
func (f Filter) All() bool { return f.all || (len(f.aggregates) == 0 && len(f.types) == 0) }

// Match reports whether the event type t ("client.registered", without
// the CloudEvent prefix) matches f.
func (f Filter) Match(t string) bool {
	if f.All() {
		return true
	}
	if slices.Contains(f.types, t) {
		return true
	}
	agg, _, _ := strings.Cut(t, ".")
	return slices.Contains(f.aggregates, agg)
}

// Patterns returns f's patterns in canonical form, sorted: aggregates
// ("client.*") and types; ["*"] for a filter that matches everything.
func (f Filter) Patterns() []string {
	if f.All() {
		return []string{"*"}
	}
	out := make([]string, 0, len(f.aggregates)+len(f.types))
	for _, a := range f.aggregates {
		out = append(out, a+".*")
	}
	for _, t := range f.types {
		if !slices.Contains(f.aggregates, strings.SplitN(t, ".", 2)[0]) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}
