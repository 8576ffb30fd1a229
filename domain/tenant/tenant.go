package tenant

import (
	"fmt"
	"strings"
	"time"

	"github.com/clavisiam/clavis/domain"
)

// Tenant is the aggregate of one customer organisation. Its fields are
// unexported: a Tenant is only built by [Replay] or by applying the events
// its commands return, so it always reflects stored history. The zero value
// is a tenant with no history, on which every command returns
// [domain.ErrNotFound].
//
// A Tenant is not safe for concurrent use; load one per request.
type Tenant struct {
	slug             string
	name             string
	suspended        bool
	suspensionReason string
	loginURL         string
	keys             []Key      // in the order added; never removed, copied on write
	auditKeys        []AuditKey // in the order added; never removed, copied on write
	createdAt        time.Time
	updatedAt        time.Time
	version          int64
}

// Create returns the events that bring a new tenant into existence: a
// [TenantCreated] and a [SigningKeyAdded] for its first signing key, which
// is published and signs from now on. It validates slug, name and key (see
// the package doc and [NewKey] for the rules) and reports every problem in
// one *[domain.ValidationError].
//
// Create does not know whether the slug is taken; the event's slug claim
// makes the event store refuse a duplicate atomically.
func Create(slug, name string, key NewKey, now time.Time) ([]domain.Event, error) {
	var p domain.Problems
	name = normalizeName(name)
	checkSlug(&p, slug)
	checkName(&p, name)
	key = checkNewKey(&p, key, nil)
	if err := p.Err(); err != nil {
		return nil, err
	}
	now = at(now)
	return []domain.Event{
		TenantCreated{Slug: slug, Name: name, At: now},
		SigningKeyAdded{KID: key.KID, Alg: key.Alg, PublicJWK: key.PublicJWK, Sealed: key.Sealed, ActiveFrom: now, At: now},
	}, nil
}

// Rename returns a [TenantRenamed] event for the new display name, or no
// events when the trimmed name equals the current one. A suspended tenant
// may be renamed: renaming is an operator action, not tenant traffic.
func (t *Tenant) Rename(name string, now time.Time) ([]domain.Event, error) {
	if err := t.exists(); err != nil {
		return nil, err
	}
	var p domain.Problems
	name = normalizeName(name)
	checkName(&p, name)
	if err := p.Err(); err != nil {
		return nil, err
	}
	if name == t.name {
		return nil, nil
	}
	return []domain.Event{TenantRenamed{Name: name, PreviousName: t.name, At: at(now)}}, nil
}

// SetLoginURL returns a [LoginURLSet] event for the tenant's login
// application URL, the page the authorization endpoint sends browsers to
// with a login_challenge or consent_challenge query parameter, or no
// events when the trimmed URL equals the current one. An empty URL clears
// the setting. Otherwise it must be an absolute https URL with a host, or
// plain http on localhost, 127.0.0.1 or [::1] (for development), without
// user information or a fragment, of at most [MaxLoginURLLength]
// characters; anything else is a *[domain.ValidationError] on
// "login_url". A suspended tenant may set it: it is operator and admin
// configuration, not tenant traffic.
func (t *Tenant) SetLoginURL(loginURL string, now time.Time) ([]domain.Event, error) {
	if err := t.exists(); err != nil {
		return nil, err
	}
	var p domain.Problems
	loginURL = strings.TrimSpace(loginURL)
	checkLoginURL(&p, loginURL)
	if err := p.Err(); err != nil {
		return nil, err
	}
	if loginURL == t.loginURL {
		return nil, nil
	}
	return []domain.Event{LoginURLSet{LoginURL: loginURL, At: at(now)}}, nil
}

// Suspend returns a [TenantSuspended] event, or no events when the tenant
// is already suspended (the first reason stands). The reason is optional,
// trimmed, and at most [MaxReasonLength] characters; it is validated even
// when nothing would change, so a bad request is refused consistently.
func (t *Tenant) Suspend(reason string, now time.Time) ([]domain.Event, error) {
	if err := t.exists(); err != nil {
		return nil, err
	}
	var p domain.Problems
	reason = strings.TrimSpace(reason)
	checkReason(&p, reason)
	if err := p.Err(); err != nil {
		return nil, err
	}
	if t.suspended {
		return nil, nil
	}
	return []domain.Event{TenantSuspended{Reason: reason, At: at(now)}}, nil
}

// Resume returns a [TenantResumed] event, or no events when the tenant is
// not suspended.
func (t *Tenant) Resume(now time.Time) ([]domain.Event, error) {
	if err := t.exists(); err != nil {
		return nil, err
	}
	if !t.suspended {
		return nil, nil
	}
	return []domain.Event{TenantResumed{At: at(now)}}, nil
}

// Replay rebuilds a tenant from its history, oldest event first. An empty
// history gives a tenant with no history (version 0). It fails, naming the
// position, on the first event that [Tenant.Apply] refuses.
func Replay(events []domain.Event) (*Tenant, error) {
	t := new(Tenant)
	for i, e := range events {
		if err := t.Apply(e); err != nil {
			return nil, fmt.Errorf("replay tenant event %d: %w", i+1, err)
		}
	}
	return t, nil
}

// Apply changes the tenant by one event and increments its version. It is
// used by [Replay] and by callers after a successful append. It accepts the
// event structs and pointers to them, and copies what it keeps, so that
// later changes to the event do not reach the aggregate.
//
// Apply returns an error wrapping [domain.ErrUnknownEvent] for an event
// that is not a tenant event, and one wrapping [domain.ErrCorruptEvent] for
// an event that cannot follow the current history: anything before
// [TenantCreated], a second TenantCreated, a key id added twice, retiring
// a key the tenant does not hold or has already retired, a
// [SigningKeyRetired] whose SignsUntil is after its PublishedUntil, or an
// [AuditKeyAdded] that [Tenant.AddAuditKey] would refuse (a key hash used
// before, a verifier that is not valid or names another key). On
// error the tenant is unchanged. Apply never panics.
func (t *Tenant) Apply(e domain.Event) error {
	switch e := deref(e).(type) {
	case TenantCreated:
		if t.version != 0 {
			return t.sequenceError(e, "tenant already created")
		}
		t.slug, t.name, t.createdAt = e.Slug, e.Name, e.At
	case TenantRenamed:
		if t.version == 0 {
			return t.sequenceError(e, "tenant not created yet")
		}
		t.name = e.Name
	case TenantSuspended:
		if t.version == 0 {
			return t.sequenceError(e, "tenant not created yet")
		}
		t.suspended, t.suspensionReason = true, e.Reason
	case TenantResumed:
		if t.version == 0 {
			return t.sequenceError(e, "tenant not created yet")
		}
		t.suspended, t.suspensionReason = false, ""
	case LoginURLSet:
		if t.version == 0 {
			return t.sequenceError(e, "tenant not created yet")
		}
		t.loginURL = e.LoginURL
	case SigningKeyAdded:
		if t.version == 0 {
			return t.sequenceError(e, "tenant not created yet")
		}
		if err := t.addKey(e); err != nil {
			return err
		}
	case SigningKeyRetired:
		if t.version == 0 {
			return t.sequenceError(e, "tenant not created yet")
		}
		if err := t.retireKey(e); err != nil {
			return err
		}
	case AuditKeyAdded:
		if t.version == 0 {
			return t.sequenceError(e, "tenant not created yet")
		}
		if err := t.addAuditKey(e); err != nil {
			return err
		}
	case nil:
		return fmt.Errorf("apply nil event to tenant: %w", domain.ErrUnknownEvent)
	default:
		return fmt.Errorf("apply %T to tenant: %w", e, domain.ErrUnknownEvent)
	}
	t.updatedAt = eventTime(deref(e))
	t.version++
	return nil
}

func (t *Tenant) sequenceError(e domain.Event, why string) error {
	return fmt.Errorf("apply %s to tenant at version %d: %s: %w", e.EventType(), t.version, why, domain.ErrCorruptEvent)
}

// deref turns a non-nil pointer to a tenant event into the event value, so
// that Apply accepts both; a nil pointer becomes nil.
func deref(e domain.Event) domain.Event {
	switch p := e.(type) {
	case *TenantCreated:
		if p != nil {
			return *p
		}
		return nil
	case *TenantRenamed:
		if p != nil {
			return *p
		}
		return nil
	case *TenantSuspended:
		if p != nil {
			return *p
		}
		return nil
	case *TenantResumed:
		if p != nil {
			return *p
		}
		return nil
	case *LoginURLSet:
		if p != nil {
			return *p
		}
		return nil
	case *SigningKeyAdded:
		if p != nil {
			return *p
		}
		return nil
	case *SigningKeyRetired:
		if p != nil {
			return *p
		}
		return nil
	case *AuditKeyAdded:
		if p != nil {
			return *p
		}
		return nil
	}
	return e
}

func eventTime(e domain.Event) time.Time {
	switch e := e.(type) {
	case TenantCreated:
		return e.At
	case TenantRenamed:
		return e.At
	case TenantSuspended:
		return e.At
	case TenantResumed:
		return e.At
	case LoginURLSet:
		return e.At
	case SigningKeyAdded:
		return e.At
	case SigningKeyRetired:
		return e.At
	case AuditKeyAdded:
		return e.AddedAt
	}
	return time.Time{}
}

// exists returns [domain.ErrNotFound] for a tenant without history.
func (t *Tenant) exists() error {
	if t == nil || t.version == 0 {
		return domain.ErrNotFound
	}
	return nil
}

// Slug returns the tenant's immutable identifier.
func (t *Tenant) Slug() string { return t.slug }

// Name returns the tenant's display name.
func (t *Tenant) Name() string { return t.name }

// Suspended reports whether the tenant is suspended.
func (t *Tenant) Suspended() bool { return t.suspended }

// SuspensionReason returns the reason given when the tenant was suspended,
// or "" when it is active.
func (t *Tenant) SuspensionReason() string { return t.suspensionReason }

// LoginURL returns the tenant's login application URL, or "" when none
// is set.
func (t *Tenant) LoginURL() string { return t.loginURL }

// Version returns the number of events applied, which is the expected
// version for the next append to the tenant's stream.
func (t *Tenant) Version() int64 { return t.version }

// CreatedAt returns when the tenant was created (UTC, microseconds).
func (t *Tenant) CreatedAt() time.Time { return t.createdAt }

// UpdatedAt returns the time of the latest event applied.
func (t *Tenant) UpdatedAt() time.Time { return t.updatedAt }

// at is how a command's clock reading enters an event: UTC, truncated to
// microseconds, the precision Postgres stores, so that an event read back
// equals the one written.
func at(now time.Time) time.Time { return now.UTC().Truncate(time.Microsecond) }
