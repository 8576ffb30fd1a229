package webhooks

import (
	"fmt"
	"slices"
	"time"

	"github.com/clavisiam/clavis/eventstore"
)

// CheckApply reports, wrapping [ErrInvalid], what makes an Apply
// malformed whatever the store holds: a to not after from, a change
// without a tenant or an endpoint id. Stores call it first.
func CheckApply(from, to eventstore.Position, changes []Change) error {
	if !from.Less(to) {
		return fmt.Errorf("%w: the checkpoint moves from %s to %s, not forward", ErrInvalid, from, to)
	}
	for i, c := range changes {
		if c.Tenant == "" || c.State.ID == "" {
			return fmt.Errorf("%w: change %d has no tenant or no endpoint id", ErrInvalid, i)
		}
	}
	return nil
}

// CheckAcquire reports, wrapping [ErrInvalid], a malformed Acquire: no
// owner, a limit below 1, a lease that ends by now.
func CheckAcquire(owner string, now, until time.Time, limit int) error {
	switch {
	case owner == "":
		return fmt.Errorf("%w: no owner", ErrInvalid)
	case limit < 1:
		return fmt.Errorf("%w: limit %d is below 1", ErrInvalid, limit)
	case !until.After(now):
		return fmt.Errorf("%w: the lease ends by now", ErrInvalid)
	}
	return nil
}

// CheckLimit reports, wrapping [ErrInvalid], a page limit not between 1
// and [MaxLimit].
func CheckLimit(limit int) error {
	if limit < 1 || limit > MaxLimit {
		return fmt.Errorf("%w: limit %d is not between 1 and %d", ErrInvalid, limit, MaxLimit)
	}
	return nil
}

// CheckLog reports, wrapping [ErrInvalid], an attempt to log without a
// tenant or an endpoint.
func CheckLog(attempts []Attempt) error {
	for i, a := range attempts {
		if a.Tenant == "" || a.Webhook == "" {
			return fmt.Errorf("%w: attempt %d has no tenant or no webhook", ErrInvalid, i)
		}
	}
	return nil
}

// OfEndpoint returns a copy of attempts as attempts of endpoint id of
// tenant: what Record logs, whatever their Tenant and Webhook said.
func OfEndpoint(tenant, id string, attempts []Attempt) []Attempt {
	out := slices.Clone(attempts)
	for i := range out {
		out[i].Tenant, out[i].Webhook = tenant, id
	}
	return out
}
