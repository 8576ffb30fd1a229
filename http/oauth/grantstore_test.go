package oauth

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestValidGrantID checks the hand-written check of a key's id against
// the grammar it implements, written as a regular expression: every
// string over an alphabet that holds each kind of byte (valid, dot,
// invalid) gets the same answer.
func TestValidGrantID(t *testing.T) {
	grammar := regexp.MustCompile(`^[-_=A-Za-z0-9]+(\.[-_=A-Za-z0-9]+)*$`)
	want := func(id string) bool { return len(id) <= 512 && grammar.MatchString(id) }
	for _, id := range []string{"", ".", "a", "a.b", "a..b", ".a", "a.", "ory_ac_x.y-z=", "a b", "a/b", "ä",
		strings.Repeat("a", 512), strings.Repeat("a", 513), "a\x00", "a\n"} {
		if got := validGrantID(id); got != want(id) {
			t.Errorf("validGrantID(%q) = %v, want %v", id, got, want(id))
		}
	}
	const alphabet = "aZ09-_=./+ \xff"
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		b := make([]byte, r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if got := validGrantID(string(b)); got != want(string(b)) {
			t.Fatalf("validGrantID(%q) = %v, want %v", b, got, want(string(b)))
		}
	}
}
