// Package guess slows down the guessing of credentials: client secrets
// and assertions, registration access tokens, the root token and the
// other bearer tokens of the admin API.
//
// Only failures count: a request that authenticates spends nothing, so a
// client that knows its secret is never slowed down. Each failure spends
// a token of three buckets (token buckets that refill at a rate, up to a
// burst), kept in memory per node:
//
//   - its source address's (an IPv6 address counts by its /64), whatever
//     credential failed;
//   - the client's and the source's together, when the credential names a
//     client (a client_id of a tenant);
//   - the client's, from anywhere.
//
// Before a credential is verified, [Limiter.Allow] refuses the attempt
// when the source's bucket or the client-and-source bucket is empty, and
// when the client's bucket is empty and this source failed against this
// client recently (its client-and-source bucket is not full). A source
// that has not failed against a client is never refused because of
// failures elsewhere: however many addresses guess a client's secret, the
// client itself, from its own address, goes on authenticating.
//
// Allow spends nothing (it only drops buckets that have refilled);
// [Limiter.Fail] spends. Attempts allowed at once may all fail: each is
// charged, the buckets run into debt (down to minus their burst) and the
// source then waits the longer, so that over time no more failures are
// verified than the rates allow.
//
// The buckets are in maps of at most [MaxEntries] keys each: a bucket
// that has refilled is the same as none and is dropped first; when the
// map is full of buckets still refilling, arbitrary ones are dropped (an
// attacker rotating through that many addresses or clients gets a fresh
// burst for some, never unbounded memory).
package guess

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a bucket of failures: Rate failures a second regained, up to
// Burst at once.
type Limit struct {
	Rate  rate.Limit
	Burst int
}

// Limits are a [Limiter]'s buckets.
type Limits struct {
	// Source bounds the failures of every credential from one source
	// address.
	Source Limit
	// Client bounds the failures against one client from anywhere; it
	// refuses only the sources that failed against the client recently.
	Client Limit
	// ClientSource bounds the failures against one client from one
	// source address.
	ClientSource Limit
}

// DefaultLimits are the limits without [WithLimits]: a source may fail 100
// times at once and then once a second; against one client, 20 times at
// once and then 5 times a minute; a client may be failed against 200
// times at once from anywhere and then once a second.
var DefaultLimits = Limits{
	Source:       Limit{Rate: 1, Burst: 100},
	Client:       Limit{Rate: 1, Burst: 200},
	ClientSource: Limit{Rate: rate.Limit(5.0 / 60), Burst: 20},
}

// MaxEntries bounds the keys each of a [Limiter]'s maps holds (sources,
// clients, clients with sources): about 200 bytes each.
const MaxEntries = 100_000

// ErrInvalidOption is wrapped by every error an [Option] returns.
var ErrInvalidOption = errors.New("guess: invalid option")

// Option configures [New].
type Option func(*Limiter) error

// WithLimits sets the limits (default [DefaultLimits]); every rate and
// burst must be positive.
func WithLimits(l Limits) Option {
	return func(g *Limiter) error {
		for _, b := range []Limit{l.Source, l.Client, l.ClientSource} {
			if !(b.Rate > 0) || b.Burst <= 0 {
				return fmt.Errorf("%w: every rate and burst must be positive", ErrInvalidOption)
			}
		}
		g.sources.limit, g.clients.limit, g.pairs.limit = l.Source, l.Client, l.ClientSource
		return nil
	}
}

// WithClock makes now the limiter's clock (default [time.Now]).
func WithClock(now func() time.Time) Option {
	return func(g *Limiter) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidOption)
		}
		g.now = now
		return nil
	}
}

// Limiter counts failed authentications and refuses attempts beyond its
// [Limits]. It is safe for concurrent use.
type Limiter struct {
	now func() time.Time

	mu                      sync.Mutex
	sources, clients, pairs buckets
}

// New returns a limiter with [DefaultLimits], adjusted by opts.
func New(opts ...Option) (*Limiter, error) {
	g := &Limiter{now: time.Now}
	g.sources.limit, g.clients.limit, g.pairs.limit = DefaultLimits.Source, DefaultLimits.Client, DefaultLimits.ClientSource
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(g); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Client names the client a credential is presented for: ID of tenant
// Tenant. The zero Client names none (the root token, a bearer token of
// the admin API): only the source's bucket counts.
type Client struct{ Tenant, ID string }

// maxIDKey is the longest client id kept as it is in a key; a longer one
// (no client has one) is kept as its SHA-256, so that keys stay small
// whatever a request sends.
const maxIDKey = 64

func (c Client) key() string {
	id := c.ID
	if len(id) > maxIDKey {
		sum := sha256.Sum256([]byte(id))
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	return c.Tenant + "\x00" + id
}

// Allow reports whether source (a remote address, "ip" or "ip:port")
// may present a credential of c now; if not, how long until it may. It
// spends nothing: call it before verifying the credential, and
// [Limiter.Fail] when the credential fails.
func (g *Limiter) Allow(source string, c Client) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.sources.m) == 0 {
		return 0, true // nothing failed lately: the common case, kept cheap
	}
	now, src := g.now(), Source(source)
	wait := g.sources.lookup(src, now)
	if c.ID == "" {
		return wait, wait == 0
	}
	ck := c.key()
	pk := ck + "\x00" + src
	wait = max(wait, g.pairs.lookup(pk, now))
	if pair, ok := g.pairs.m[pk]; ok {
		// The client's bucket refuses only a source that failed against
		// it recently: one whose own bucket for it is not full (a full
		// one lookup dropped).
		if w := g.clients.lookup(ck, now); w > 0 {
			wait = max(wait, min(w, pair.until(now, g.pairs.limit, float64(g.pairs.limit.Burst))))
		}
	}
	return wait, wait == 0
}

// Fail records that source failed to authenticate as c (or, for the
// zero Client, with a credential naming no client).
func (g *Limiter) Fail(source string, c Client) {
	now, src := g.now(), Source(source)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sources.spend(src, now)
	if c.ID != "" {
		ck := c.key()
		g.pairs.spend(ck+"\x00"+src, now)
		g.clients.spend(ck, now)
	}
}

// RetryAfter is wait in whole seconds, rounded up, at least 1: a
// Retry-After header's value.
func RetryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}

// Source names the source of a request: the IP address of remoteAddr
// ("ip" or "ip:port"), or the /64 network of an IPv6 one (a host usually
// has a whole /64 to pick addresses from); what is no address is kept as
// it is.
func Source(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		prefix, _ := ip.Prefix(64)
		return prefix.String()
	}
	return ip.String()
}

// bucket is a token bucket's level at a time. It is written only when a
// failure spends from it; a key without one is a full bucket.
type bucket struct {
	tokens float64
	at     time.Time
}

// level is b's tokens at now, refilled at l's rate up to its burst.
func (b bucket) level(now time.Time, l Limit) float64 {
	if l.Rate == rate.Inf {
		return float64(l.Burst)
	}
	elapsed := max(0, now.Sub(b.at))
	return min(float64(l.Burst), b.tokens+elapsed.Seconds()*float64(l.Rate))
}

// until is how long until b holds want tokens (0 if it does).
func (b bucket) until(now time.Time, l Limit, want float64) time.Duration {
	missing := want - b.level(now, l)
	if missing <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(missing / float64(l.Rate) * float64(time.Second)))
}

// buckets are the buckets of one kind of key.
type buckets struct {
	limit Limit
	m     map[string]bucket
}

// lookup is how long until key's bucket holds a token (0 if it does). A
// bucket that has refilled is dropped: it is the same as none.
func (bs *buckets) lookup(key string, now time.Time) time.Duration {
	b, ok := bs.m[key]
	if !ok {
		return 0
	}
	if b.level(now, bs.limit) >= float64(bs.limit.Burst) {
		delete(bs.m, key)
		return 0
	}
	return b.until(now, bs.limit, 1)
}

// spend takes a token of key's bucket at now, running into debt down to
// minus the burst.
func (bs *buckets) spend(key string, now time.Time) {
	b, ok := bs.m[key]
	level := float64(bs.limit.Burst)
	if ok {
		level = b.level(now, bs.limit)
	} else {
		bs.room(now)
	}
	bs.m[key] = bucket{tokens: max(level-1, -float64(bs.limit.Burst)), at: now}
}

// room makes room for a new key: when the map is full, it drops the
// buckets that have refilled, and then, if that freed less than an
// eighth, arbitrary ones until it did (so that the sweep runs at most
// once every MaxEntries/8 new keys).
func (bs *buckets) room(now time.Time) {
	if bs.m == nil {
		bs.m = map[string]bucket{}
	}
	if len(bs.m) < MaxEntries {
		return
	}
	for k, b := range bs.m {
		if b.level(now, bs.limit) >= float64(bs.limit.Burst) {
			delete(bs.m, k)
		}
	}
	for k := range bs.m {
		if len(bs.m) <= MaxEntries-MaxEntries/8 {
			break
		}
		delete(bs.m, k)
	}
}

// InWords is [RetryAfter] in words: "1 second", "60 seconds".
func InWords(wait time.Duration) string {
	if n := RetryAfter(wait); n != 1 {
		return strconv.Itoa(n) + " seconds"
	}
	return "1 second"
}
