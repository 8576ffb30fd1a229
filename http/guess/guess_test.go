package guess

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/time/rate"
)

var testLimits = Limits{
	Source:       Limit{Rate: rate.Every(time.Minute), Burst: 4},
	Client:       Limit{Rate: rate.Every(time.Minute), Burst: 3},
	ClientSource: Limit{Rate: rate.Every(time.Minute), Burst: 2},
}

func newTest(t *testing.T) (*Limiter, *time.Time) {
	t.Helper()
	now := time.Unix(1_800_000_000, 0)
	g, err := New(WithLimits(testLimits), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	return g, &now
}

// answer is what Allow says, in whole seconds.
type answer struct {
	Allowed bool
	Wait    int
}

func allow(g *Limiter, source string, c Client) answer {
	wait, ok := g.Allow(source, c)
	return answer{ok, int(wait / time.Second)}
}

func TestOptionsRefuseWhatIsNotPositive(t *testing.T) {
	for name, l := range map[string]Limits{
		"zero rate":      {Source: Limit{0, 1}, Client: testLimits.Client, ClientSource: testLimits.ClientSource},
		"negative burst": {Source: testLimits.Source, Client: Limit{1, -1}, ClientSource: testLimits.ClientSource},
		"nothing":        {},
	} {
		if _, err := New(WithLimits(l)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(WithClock(nil)); err == nil {
		t.Error("a nil clock was accepted")
	}
}

// Failures that all went ahead at once are each charged: the bucket runs
// into debt, down to minus its burst, and the source waits the longer.
func TestFailuresAllowedAtOnceRunIntoDebt(t *testing.T) {
	g, now := newTest(t)
	c := Client{"acme", "worker"}
	for range 10 {
		g.Fail("198.51.100.7:4711", c)
	}
	// The source's bucket is at -4 (its floor): 5 tokens, 5 minutes,
	// to get one back.
	if diff := cmp.Diff(answer{false, 300}, allow(g, "198.51.100.7", c)); diff != "" {
		t.Errorf("after 10 failures (-want +got):\n%s", diff)
	}
	*now = now.Add(5 * time.Minute)
	if diff := cmp.Diff(answer{true, 0}, allow(g, "198.51.100.7", c)); diff != "" {
		t.Errorf("5 minutes later (-want +got):\n%s", diff)
	}
}

// The client's bucket refuses only the sources that failed against it
// since their own bucket was last full.
func TestTheClientsBucketRefusesOnlySourcesThatFailed(t *testing.T) {
	g, now := newTest(t)
	c := Client{"acme", "worker"}
	for i := range 3 {
		g.Fail("203.0.113."+strconv.Itoa(i), c)
	}
	type shown struct{ Failed, Fresh, OtherClient answer }
	got := shown{allow(g, "203.0.113.0", c), allow(g, "192.0.2.1", c), allow(g, "203.0.113.0", Client{"acme", "other"})}
	if diff := cmp.Diff(shown{answer{false, 60}, answer{true, 0}, answer{true, 0}}, got); diff != "" {
		t.Errorf("with the client's budget spent (-want +got):\n%s", diff)
	}
	// A minute on, the client's bucket has a token again.
	*now = now.Add(time.Minute)
	if diff := cmp.Diff(answer{true, 0}, allow(g, "203.0.113.0", c)); diff != "" {
		t.Errorf("a minute later (-want +got):\n%s", diff)
	}
}

// However many sources and clients fail, each map holds at most
// MaxEntries keys; a very long client id makes a short key.
func TestMemoryIsBounded(t *testing.T) {
	g, _ := newTest(t)
	long := string(make([]byte, 200))
	for i := range MaxEntries + MaxEntries/2 {
		g.Fail("10."+strconv.Itoa(i>>16)+"."+strconv.Itoa(i>>8&255)+"."+strconv.Itoa(i&255), Client{"acme", long + strconv.Itoa(i)})
	}
	type sizes struct{ Sources, Clients, Pairs bool }
	got := sizes{len(g.sources.m) <= MaxEntries, len(g.clients.m) <= MaxEntries, len(g.pairs.m) <= MaxEntries}
	if diff := cmp.Diff(sizes{true, true, true}, got); diff != "" {
		t.Errorf("maps within MaxEntries (-want +got):\n%s", diff)
	}
	for k := range g.clients.m {
		if len(k) > 100 {
			t.Fatalf("a key of %d bytes", len(k))
		}
	}
}

func TestSource(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7:4711":        "198.51.100.7",
		"198.51.100.7":             "198.51.100.7",
		"[::ffff:198.51.100.7]:80": "198.51.100.7",
		"[2001:db8:1:2::7]:443":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":     "2001:db8:1:2::/64",
		"not an address":           "not an address",
	} {
		if got := Source(in); got != want {
			t.Errorf("Source(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for wait, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, time.Minute: 60} {
		if got := RetryAfter(wait); got != want {
			t.Errorf("RetryAfter(%v) = %d, want %d", wait, got, want)
		}
	}
}
