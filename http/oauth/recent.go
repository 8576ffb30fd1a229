package oauth

import (
	"sync"
	"time"
)

// recent keeps what this node last wrote of flows, codes and grants, so
// that the step that comes next reads it without a round trip to the
// grant store. A flow's steps, a code's exchange and a refresh are each
// a read and a compare-and-set: the read can be what the last step here
// wrote, since the compare-and-set, against that revision, still fails
// if anything changed the record since, on this node or another. The
// answer is then the one a read from the store would have given: a flow,
// code or grant only moves forward, so a record moved on since is a
// challenge, verifier, code or refresh token used (or a grant revoked).
// A record that reads as not usable (another node may have moved it to
// where it is) is read again from the store (see readFlow and
// GetRefreshTokenSession); a record this node does not have is read from
// the store, never taken as absent.
//
// What it holds is bounded: entries of the current generation and the
// one before it, a new generation starting when the current one holds
// half of maxBytes or is maxAge old; an entry is not read once it is
// twice maxAge old, or past its record's expiry.
type recent struct {
	mu        sync.Mutex
	cur, prev map[string]recentEntry
	curBytes  int
	started   time.Time
	maxBytes  int
	maxAge    time.Duration
}

// recentEntry is a record as written, its revision, its expiry and when
// it was kept.
type recentEntry struct {
	raw     []byte
	rev     uint64
	expires time.Time
	at      time.Time
}

// recentBytes bounds what recent holds (see entrySize), recentAge how
// long a generation takes entries.
// At a thousand flows a second whose users take 10 seconds to log in,
// some 10,000 flows are under way, about a kilobyte and a quarter each
// (entrySize): 12 MiB.
const (
	recentBytes = 16 << 20
	recentAge   = time.Minute
)

// entrySize is what an entry holds of the heap: its key, the whole
// buffer its record was encoded into (encodeRecord's, which may have
// grown to twice the record), and about what its slot in the map takes.
func entrySize(key string, raw []byte) int {
	const slot = 16 + 24 + 8 + 2*24 // key, raw, rev, expires and at
	return len(key) + cap(raw) + slot
}

func newRecent(maxBytes int, maxAge time.Duration) *recent {
	return &recent{cur: map[string]recentEntry{}, prev: map[string]recentEntry{}, maxBytes: maxBytes, maxAge: maxAge}
}

// get is the record last written under key and its revision, if this
// node has it and it has not expired.
func (c *recent) get(key string, now time.Time) ([]byte, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cur[key]
	if !ok {
		e, ok = c.prev[key]
	}
	if !ok || !now.Before(e.expires) || now.Sub(e.at) >= 2*c.maxAge {
		return nil, 0, false
	}
	return e.raw, e.rev, true
}

// put keeps raw, written under key at revision rev, until expires. raw
// is kept as it is: the caller does not change it afterwards.
func (c *recent) put(key string, raw []byte, rev uint64, expires, now time.Time) {
	size := entrySize(key, raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.curBytes+size > c.maxBytes/2 || now.Sub(c.started) >= c.maxAge {
		c.prev, c.cur, c.curBytes, c.started = c.cur, make(map[string]recentEntry, len(c.cur)), 0, now
	}
	delete(c.prev, key)
	if old, ok := c.cur[key]; ok {
		c.curBytes -= entrySize(key, old.raw)
	}
	c.cur[key] = recentEntry{raw: raw, rev: rev, expires: expires, at: now}
	c.curBytes += size
}

// forget drops what is kept under key.
func (c *recent) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.cur[key]; ok {
		c.curBytes -= entrySize(key, old.raw)
		delete(c.cur, key)
	}
	delete(c.prev, key)
}
