package oauth

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The rate limits of the endpoints anyone, or any client, may call
// without bound otherwise: each is a token bucket per key and per node,
// set by an option with a documented default.

// RevocationLimit bounds how fast one client may revoke, per node:
// PerClient revocations a second, up to Burst at once. Each revocation is
// kept in every node's memory until its token would have expired, so an
// unbounded rate would let one client fill it. Beyond, the endpoint
// answers 429 with Retry-After and records nothing.
type RevocationLimit struct {
	PerClient rate.Limit
	Burst     int
}

// DefaultRevocationLimit is the limit without [WithRevocationLimit].
var DefaultRevocationLimit = RevocationLimit{PerClient: 10, Burst: 100}

// WithRevocationLimit sets how fast each client may revoke (default
// [DefaultRevocationLimit]); the rate and the burst must be positive.
func WithRevocationLimit(l RevocationLimit) Option {
	return func(o *options) error {
		if l.PerClient <= 0 || l.Burst <= 0 {
			return fmt.Errorf("%w: the revocation limit must be positive", ErrInvalidOption)
		}
		o.revocationLimit = l
		return nil
	}
}

// RefreshLimit bounds what refreshing may cost. PerClient and Burst
// bound how fast one client may refresh, per node: beyond, the token
// endpoint answers 429 temporarily_unavailable with Retry-After and
// issues and rotates nothing. Tokens bounds what a grant (a family of
// refresh tokens) keeps: its live access tokens (past it, the oldest
// are revoked at once) and its refresh tokens, used ones kept for reuse
// detection included (past it, the oldest are forgotten: using one is
// then invalid_grant, without revoking the grant).
type RefreshLimit struct {
	PerClient rate.Limit
	Burst     int
	Tokens    int
}

// DefaultRefreshLimit is the limit without [WithRefreshLimit].
var DefaultRefreshLimit = RefreshLimit{PerClient: 10, Burst: 100, Tokens: 256}

// WithRefreshLimit sets how fast each client may refresh and how many
// tokens a grant keeps (default [DefaultRefreshLimit]); all must be
// positive.
func WithRefreshLimit(l RefreshLimit) Option {
	return func(o *options) error {
		if l.PerClient <= 0 || l.Burst <= 0 || l.Tokens <= 0 {
			return fmt.Errorf("%w: the refresh limit must be positive", ErrInvalidOption)
		}
		o.refreshLimit = l
		return nil
	}
}

// FlowLimits bound how fast authorization requests store flows (each is
// kept until it expires, whether the user comes back or not), per node:
// PerClient flows per second of each client, up to ClientBurst at once,
// and PerAddress per second from each source address (an IPv6 address
// counts by its /64), up to AddressBurst at once. Beyond, the
// authorization endpoint answers 429 with Retry-After and stores
// nothing.
type FlowLimits struct {
	PerClient, PerAddress     rate.Limit
	ClientBurst, AddressBurst int
}

// DefaultFlowLimits are the limits without [WithFlowLimits].
var DefaultFlowLimits = FlowLimits{PerClient: 20, ClientBurst: 200, PerAddress: 2, AddressBurst: 60}

// WithFlowLimits sets the rates at which authorization requests may
// store flows (default [DefaultFlowLimits]); every rate and burst must
// be positive.
func WithFlowLimits(l FlowLimits) Option {
	return func(o *options) error {
		if l.PerClient <= 0 || l.PerAddress <= 0 || l.ClientBurst <= 0 || l.AddressBurst <= 0 {
			return fmt.Errorf("%w: flow limits must be positive", ErrInvalidOption)
		}
		o.flowLimits = l
		return nil
	}
}

// maxLimiters bounds the keys (clients, addresses) a [limiters] tracks;
// past it, the count starts afresh for everyone.
const maxLimiters = 100_000

// limiters are per-key token buckets (golang.org/x/time/rate), each
// filling at limit per second up to burst.
type limiters struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func (l *limiters) allow(key string, now time.Time) bool {
	ok, _ := l.take(key, now)
	return ok
}

// take takes a token of key's bucket at now if it has one; otherwise it
// takes nothing and says how long until the bucket has one.
func (l *limiters) take(key string, now time.Time) (bool, time.Duration) {
	_, ok, wait := l.reserve(key, now)
	return ok, wait
}

// reserve is take, which also returns, when it took a token, a function
// that gives it back (for a request refused after all).
func (l *limiters) reserve(key string, now time.Time) (func(), bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= maxLimiters {
		l.m = map[string]*rate.Limiter{}
	}
	lim, ok := l.m[key]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.m[key] = lim
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return nil, false, time.Second
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return nil, false, wait
	}
	// Cancelled at the time it was taken: a reservation cancelled later
	// than the time it was for gives nothing back.
	return func() { r.CancelAt(now) }, true, 0
}

// allowFlow reports whether client (of tenant), asked for from the peer
// remoteAddr, may store a flow or a code now; if not, how long until it
// may. A request the client's limit refuses gives the address its token
// back: it stored nothing.
func (p *Provider) allowFlow(tenant, client, remoteAddr string) (time.Duration, bool) {
	now := p.now()
	giveBack, ok, wait := p.addressFlows.reserve(sourceKey(remoteAddr), now)
	if !ok {
		return wait, false
	}
	if ok, wait := p.clientFlows.take(tenant+"\x00"+client, now); !ok {
		giveBack()
		return wait, false
	}
	return 0, true
}

// sourceKey names the source of a request for rate limits: the peer's
// IP address, or the /64 network of an IPv6 one (a host usually has a
// whole /64 to pick addresses from). Proxy headers are not read: the
// node is its own edge.
func sourceKey(remoteAddr string) string {
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
