package deliver

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/clavisiam/clavis/projections/webhooks"
)

// OnDemand bounds the sends an administrator asks for (pings, resends)
// per tenant, on each node: so many at once, and a token bucket of
// Burst that refills at PerMinute. Past a bound a send is refused with a
// [*webhooks.LimitError]: one tenant cannot hold the node's connections
// to a receiver, nor make the node a traffic amplifier.
type OnDemand struct {
	// InFlight is how many of a tenant's sends may be under way at once.
	InFlight int
	// PerMinute is how many sends a tenant regains per minute.
	PerMinute float64
	// Burst is how many sends a tenant may make at once after a pause.
	Burst int
}

// DefaultOnDemand are the on-demand limits unless [WithOnDemand] says
// otherwise.
var DefaultOnDemand = OnDemand{InFlight: 2, PerMinute: 10, Burst: 5}

// WithOnDemand sets the per-tenant limits of pings and resends (default
// [DefaultOnDemand]); each must be positive.
func WithOnDemand(l OnDemand) Option {
	return func(o *options) error {
		if l.InFlight < 1 || l.Burst < 1 || !(l.PerMinute > 0) || math.IsInf(l.PerMinute, 0) {
			return fmt.Errorf("%w: on-demand limits %+v", ErrInvalidOption, l)
		}
		o.onDemand = l
		return nil
	}
}

// inFlightRetry is the Retry-After of a send refused because the
// tenant's in-flight ones are under way: about what one takes.
const inFlightRetry = 5 * time.Second

// limiter keeps each tenant's on-demand sends in flight and its bucket.
type limiter struct {
	l   OnDemand
	now func() time.Time

	mu      sync.Mutex
	tenants map[string]*bucket
}

type bucket struct {
	inFlight int
	tokens   float64
	at       time.Time // when tokens was last brought up to date
}

func newLimiter(l OnDemand, now func() time.Time) *limiter {
	return &limiter{l: l, now: now, tenants: map[string]*bucket{}}
}

// pruneAt is how many tenants the limiter keeps before it forgets those
// that are idle with a full bucket (the state a new one starts in).
const pruneAt = 1024

// acquire takes one of tenant's sends, or says why not; release gives
// it back once the send is done.
func (l *limiter) acquire(tenant string) (release func(), err error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.tenants[tenant]
	if b == nil {
		if len(l.tenants) >= pruneAt {
			l.prune(now)
		}
		b = &bucket{tokens: float64(l.l.Burst), at: now}
		l.tenants[tenant] = b
	}
	b.refill(l.l, now)
	if b.inFlight >= l.l.InFlight {
		return nil, &webhooks.LimitError{RetryAfter: inFlightRetry,
			Reason: fmt.Sprintf("%d pings or resends of this tenant are under way", b.inFlight)}
	}
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) / l.l.PerMinute * float64(time.Minute))
		return nil, &webhooks.LimitError{RetryAfter: wait,
			Reason: fmt.Sprintf("this tenant may send %d pings or resends at once and %g a minute", l.l.Burst, l.l.PerMinute)}
	}
	b.tokens--
	b.inFlight++
	return sync.OnceFunc(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		b.inFlight--
	}), nil
}

func (b *bucket) refill(l OnDemand, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(float64(l.Burst), b.tokens+d.Minutes()*l.PerMinute)
		b.at = now
	}
}

// prune forgets the tenants with nothing in flight and a full bucket.
func (l *limiter) prune(now time.Time) {
	for t, b := range l.tenants {
		b.refill(l.l, now)
		if b.inFlight == 0 && b.tokens >= float64(l.l.Burst) {
			delete(l.tenants, t)
		}
	}
}
