package tenant

import (
	"regexp"
	"strings"
	"testing"
)

// dnsLabel accepts what the regular expression of a lowercase DNS label
// accepts, and nothing else.
func TestDNSLabelIsTheLabelPattern(t *testing.T) {
	label := regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	cases := []string{"", "a", "-", "a-", "-a", "a-b", "a--b", "A", "aB", "a_b", "a.b", "é", "a b", "0", "09-x",
		strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("-", 63), "a" + strings.Repeat("-", 61) + "a", "a\n", "\x00"}
	alphabet := "az09-A_."
	for i := range 1 << 12 { // every string of up to four of these characters
		var b strings.Builder
		for n := i; n > 0; n /= len(alphabet) + 1 {
			if d := n % (len(alphabet) + 1); d > 0 {
				b.WriteByte(alphabet[d-1])
			}
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		if got, want := dnsLabel(s), label.MatchString(s); got != want {
			t.Errorf("dnsLabel(%q) = %t, the pattern says %t", s, got, want)
		}
	}
}
