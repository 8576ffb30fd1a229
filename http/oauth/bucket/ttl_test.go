package bucket

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/http/oauth"
)

// An entry's TTL ends no sooner than its expiry (JetStream counts whole
// seconds, down), and leaves to the bucket's TTL what that covers.
func TestEntryTTL(t *testing.T) {
	now := time.Now()
	own, bucketOnly := grantBucket{ownTTL: true}, grantBucket{}
	for _, c := range []struct {
		name    string
		b       grantBucket
		expires time.Time
		want    time.Duration
	}{
		{"a second and a bit: rounded up", own, now.Add(1200 * time.Millisecond), 2 * time.Second},
		{"whole seconds: as they are", own, now.Add(90 * time.Second), 90 * time.Second},
		{"under a second: one", own, now.Add(time.Millisecond), time.Second},
		{"past: one", own, now.Add(-time.Hour), time.Second},
		{"just under the life's TTL", own, now.Add(time.Hour - 500*time.Millisecond), time.Hour},
		{"the life's TTL: the bucket's", own, now.Add(time.Hour), 0},
		{"past the life's TTL: the bucket's", own, now.Add(48 * time.Hour), 0},
		{"no expiry: the bucket's", own, time.Time{}, 0},
		{"a bucket without per-message TTLs", bucketOnly, now.Add(time.Second), 0},
	} {
		if got := c.b.ttl(oauth.LifeFlow, c.expires, now); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestKeyValid holds keyValid to the rule nats.go checks keys by,
// written as it writes it: a regular expression and no empty token.
func TestKeyValid(t *testing.T) {
	rule := regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)
	want := func(k string) bool {
		return k != "" && k[0] != '.' && k[len(k)-1] != '.' && !strings.Contains(k, "..") && rule.MatchString(k)
	}
	const alphabet = "aZ09-/_=.*> \xff"
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		b := make([]byte, r.IntN(7))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if got := keyValid(string(b)); got != want(string(b)) {
			t.Fatalf("keyValid(%q) = %v, want %v", b, got, want(string(b)))
		}
	}
}
