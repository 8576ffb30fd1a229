package oauth

import (
	"strconv"
	"testing"
	"time"
)

// recent gives back what was put until the record expires, it is
// forgotten or replaced, or it is twice the generation's age old; and it
// holds no more than its bytes.
func TestRecentKeepsWhatWasWrittenLast(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newRecent(1<<10, time.Minute)
	get := func(key string, at time.Time) (string, uint64, bool) {
		raw, rev, ok := c.get(key, at)
		return string(raw), rev, ok
	}

	c.put("acme.flow.a", []byte("one"), 1, now.Add(time.Hour), now)
	c.put("acme.flow.a", []byte("two"), 2, now.Add(time.Hour), now)
	if v, rev, ok := get("acme.flow.a", now); !ok || v != "two" || rev != 2 {
		t.Errorf("after two puts: %q %d %t, want the last", v, rev, ok)
	}
	if _, _, ok := get("acme.flow.b", now); ok {
		t.Error("a key never put is there")
	}
	c.forget("acme.flow.a")
	if _, _, ok := get("acme.flow.a", now); ok {
		t.Error("a forgotten key is there")
	}

	c.put("acme.code.c", []byte("c"), 7, now.Add(10*time.Second), now)
	if _, _, ok := get("acme.code.c", now.Add(9*time.Second)); !ok {
		t.Error("a record before its expiry is not there")
	}
	if _, _, ok := get("acme.code.c", now.Add(10*time.Second)); ok {
		t.Error("a record at its expiry is there")
	}

	// Nothing is read twice the generation's age after it was put, even
	// when no put started a new generation since.
	c.put("acme.fam.g", []byte("g"), 3, now.Add(24*time.Hour), now)
	if _, _, ok := get("acme.fam.g", now.Add(119*time.Second)); !ok {
		t.Error("an entry just under two generations old is not there")
	}
	if _, _, ok := get("acme.fam.g", now.Add(2*time.Minute)); ok {
		t.Error("an entry two generations old is there")
	}

	// A new generation after a minute: what the one before it holds is
	// still read; two generations on, it is gone.
	c = newRecent(1<<10, time.Minute)
	c.put("acme.flow.old", []byte("old"), 1, now.Add(time.Hour), now)
	c.put("acme.flow.x", []byte("x"), 1, now.Add(time.Hour), now.Add(61*time.Second))
	if _, _, ok := get("acme.flow.old", now.Add(62*time.Second)); !ok {
		t.Error("an entry of the generation before is not there")
	}
	c.put("acme.flow.y", []byte("y"), 1, now.Add(time.Hour), now.Add(122*time.Second))
	if _, _, ok := get("acme.flow.old", now.Add(62*time.Second)); ok {
		t.Error("an entry two generations back is there")
	}

	// Bytes: a generation takes half of them; what is kept is at most
	// all, counting the whole buffer each record was encoded into.
	c = newRecent(1<<10, time.Hour)
	for i := range 100 {
		c.put("acme.flow."+strconv.Itoa(i), make([]byte, 10, 50), 1, now.Add(time.Hour), now)
		if held := c.curBytes + bytesOf(c.prev); held > 1<<10 {
			t.Fatalf("after %d puts recent holds %d bytes, more than its %d", i+1, held, 1<<10)
		}
	}
	if _, _, ok := get("acme.flow.99", now); !ok {
		t.Error("the last entry put is not there")
	}
	if _, _, ok := get("acme.flow.0", now); ok {
		t.Error("the first of 100 entries of 60 bytes is still there in 1 KiB")
	}
}

func bytesOf(m map[string]recentEntry) int {
	n := 0
	for k, e := range m {
		n += len(k) + cap(e.raw)
	}
	return n
}
