package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ory/fosite"
	"golang.org/x/time/rate"

	"github.com/clavisiam/clavis/http/guess"
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
// issues and rotates nothing. Tokens is how many of a grant's latest
// refresh tokens stay usable for a client whose refresh tokens are
// reused (refresh_token_usage "reuse"); a client's rotated refresh
// tokens are usable once each, whatever it is.
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

// sourceKey names the source of a request for rate limits (see
// [guess.Source]): its remote address, which the server sets to the
// client's address behind the proxies it trusts.
func sourceKey(remoteAddr string) string { return guess.Source(remoteAddr) }

// WithGuesses slows down the guessing of client credentials with g
// (package guess), which the node shares with the admin API and the
// console, so that every credential failing from one address counts
// against it. Client authentication at the token, introspection and
// revocation endpoints asks g before verifying anything: a client or an
// address over its limit is answered 429 temporarily_unavailable with
// Retry-After, as the refresh limit is, having verified and read
// nothing; a failed authentication is recorded. The default is a
// limiter of its own with [guess.DefaultLimits] on the provider's clock.
func WithGuesses(g *guess.Limiter) Option {
	return func(o *options) error {
		if g == nil {
			return fmt.Errorf("%w: nil guess limiter", ErrInvalidOption)
		}
		o.guesses = g
		return nil
	}
}

// guessesRefused is the cause of a client authentication refused before
// it was tried (see WithGuesses): wait is how long until it may be.
type guessesRefused struct{ wait time.Duration }

func (e *guessesRefused) Error() string { return "too many failed authentications" }

// errTooManyGuesses answers a client authentication refused for wait.
func errTooManyGuesses(wait time.Duration) error {
	err := fosite.ErrTemporarilyUnavailable.WithHint("Too many failed client authentications; retry in " + guess.InWords(wait) + ".").
		WithWrap(&guessesRefused{wait: wait})
	err.CodeField = http.StatusTooManyRequests
	return err
}

// guessedClient is the client a request's credentials name, unverified,
// as verifyClient picks it: with a client assertion, client_id, else the
// assertion's subject (whose keys verify it; its issuer must be the
// same), whatever HTTP Basic says; otherwise HTTP Basic's user, else
// client_id.
func guessedClient(ctx context.Context, r *http.Request, form url.Values) string {
	if form.Get("client_assertion_type") == jwtBearer {
		if id := form.Get("client_id"); id != "" {
			return id
		}
		return assertionOf(ctx).sub
	}
	if id, _, ok := BasicCredentials(r.Header.Get("Authorization")); ok {
		return id
	}
	return form.Get("client_id")
}

// isAuthFailure reports whether err says the client's credentials are
// wrong (invalid_client), rather than that they could not be checked.
func isAuthFailure(err error) bool {
	var rfc *fosite.RFC6749Error
	return errors.As(err, &rfc) && rfc.ErrorField == fosite.ErrInvalidClient.ErrorField
}
