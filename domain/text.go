package domain

import "strings"

// HasBidiControl reports whether s holds a Unicode bidirectional
// embedding, override or isolate (U+202A–U+202E, U+2066–U+2069), which
// can make a display name read as something else on a page that shows
// it (the consent page): display names refuse them.
func HasBidiControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
	})
}
