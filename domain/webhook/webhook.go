// Package webhook is the webhook endpoint aggregate: where a tenant's
// events are pushed, which of them, and with which signing secrets. Each
// endpoint is an event-sourced aggregate of its own, so that every change
// to it is in the tenant's audit history. Delivery itself (the cursor,
// attempts, retries) is operational state kept beside the events, not in
// them; the events say only what an administrator, or the platform when
// an endpoint fails for too long, decided.
//
// Like the other aggregates, it imports only the standard library and
// domain packages: ids, times and sealed secrets are passed in.
package webhook

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clavisiam/clavis/domain"
)

// MaxOverlap is the longest a rotated secret may keep signing beside its
// successor.
const MaxOverlap = 7 * 24 * time.Hour

// Webhook is one endpoint. Its fields are unexported: it is only built by
// [Replay], [FromState] or by applying the events its commands return. The
// zero value has no history; every command but [Create] returns
// [domain.ErrNotFound] on it. It is not safe for concurrent use.
type Webhook struct {
	id        string
	slot      int
	settings  Settings
	active    bool
	reason    string
	automatic bool
	secrets   []Secret
	deleted   bool
	createdAt time.Time
	updatedAt time.Time
	version   int64
}

// Secret is one signing secret of an endpoint, sealed.
type Secret struct {
	ID        string
	Sealed    string
	CreatedAt time.Time
	// Until is when it stops signing; zero while it is the current one.
	Until time.Time
}

// Signs reports whether s signs deliveries made at now.
func (s Secret) Signs(now time.Time) bool { return s.Until.IsZero() || now.Before(s.Until) }

// Create returns the events that bring endpoint id into existence,
// active, after validating s (see [Normalize]). The endpoint holds no
// slot: it counts against no limit; see [CreateInSlot].
func Create(id string, s Settings, secret NewSecret, now time.Time) ([]domain.Event, error) {
	return CreateInSlot(id, 0, s, secret, now)
}

// CreateInSlot is [Create] for an endpoint that holds slot (1 or more) of
// its tenant's limit: its [Created] event claims the slot, which only its
// deletion gives back, so appending it fails while another live endpoint
// holds the slot. Slot 0 holds none.
func CreateInSlot(id string, slot int, s Settings, secret NewSecret, now time.Time) ([]domain.Event, error) {
	var p domain.Problems
	if strings.TrimSpace(id) == "" {
		p.Add("id", "required", "id is required")
	}
	if slot < 0 {
		p.Add("slot", "invalid_value", "slot must not be negative")
	}
	s = normalize(&p, s)
	checkSecret(&p, secret)
	if err := p.Err(); err != nil {
		return nil, err
	}
	return []domain.Event{Created{ID: id, Slot: slot, Settings: s, Secret: secret, At: at(now)}}, nil
}

// Update returns an [Updated] event for the new settings s, whole, or no
// events when they equal the current ones.
func (w *Webhook) Update(s Settings, now time.Time) ([]domain.Event, error) {
	if err := w.live(); err != nil {
		return nil, err
	}
	var p domain.Problems
	s = normalize(&p, s)
	if err := p.Err(); err != nil {
		return nil, err
	}
	if equal(s, w.settings) {
		return nil, nil
	}
	return []domain.Event{Updated{Settings: s, Previous: w.Settings(), At: at(now)}}, nil
}

// RotateSecret returns a [SecretRotated] event: secret signs from now
// on, and the current one keeps signing beside it for overlap (0 to
// [MaxOverlap]).
func (w *Webhook) RotateSecret(secret NewSecret, overlap time.Duration, now time.Time) ([]domain.Event, error) {
	if err := w.live(); err != nil {
		return nil, err
	}
	var p domain.Problems
	checkSecret(&p, secret)
	if overlap < 0 || overlap > MaxOverlap {
		p.Add("overlap", "invalid_value", "overlap must be between 0 and %s", MaxOverlap)
	}
	for _, s := range w.secrets {
		if s.ID == secret.ID {
			p.Add("secret.id", "invalid_value", "the endpoint already has a secret %s", secret.ID)
		}
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	now = at(now)
	return []domain.Event{SecretRotated{Secret: secret, PreviousUntil: now.Add(overlap), At: now}}, nil
}

// Deactivate returns a [Deactivated] event, or none when the endpoint is
// inactive already. The reason is optional, at most [MaxReasonLength]
// characters; automatic says the platform decides it.
func (w *Webhook) Deactivate(reason string, automatic bool, now time.Time) ([]domain.Event, error) {
	if err := w.live(); err != nil {
		return nil, err
	}
	var p domain.Problems
	reason = strings.TrimSpace(reason)
	checkText(&p, "reason", reason, MaxReasonLength, true)
	if err := p.Err(); err != nil {
		return nil, err
	}
	if !w.active {
		return nil, nil
	}
	return []domain.Event{Deactivated{Reason: reason, Automatic: automatic, At: at(now)}}, nil
}

// Activate returns an [Activated] event, or none when the endpoint is
// active.
func (w *Webhook) Activate(now time.Time) ([]domain.Event, error) {
	if err := w.live(); err != nil {
		return nil, err
	}
	if w.active {
		return nil, nil
	}
	return []domain.Event{Activated{At: at(now)}}, nil
}

// Replay returns a [Replayed] event: deliveries go on with the events
// after the cursor from ("" for the tenant's first event).
func (w *Webhook) Replay(from string, now time.Time) ([]domain.Event, error) {
	if err := w.live(); err != nil {
		return nil, err
	}
	var p domain.Problems
	checkCursor(&p, from)
	if err := p.Err(); err != nil {
		return nil, err
	}
	return []domain.Event{Replayed{From: from, At: at(now)}}, nil
}

// Delete returns a [Deleted] event, which releases the endpoint's slot.
func (w *Webhook) Delete(now time.Time) ([]domain.Event, error) {
	if err := w.live(); err != nil {
		return nil, err
	}
	return []domain.Event{Deleted{Slot: w.slot, At: at(now)}}, nil
}

// Replay rebuilds an endpoint from its history, oldest event first.
func Replay(events []domain.Event) (*Webhook, error) {
	w := new(Webhook)
	for i, e := range events {
		if err := w.Apply(e); err != nil {
			return nil, fmt.Errorf("replay webhook event %d: %w", i+1, err)
		}
	}
	return w, nil
}

// Apply changes the endpoint by one of its events. It refuses an event
// that cannot follow its history (anything before [Created], anything
// after [Deleted], a second [Created]) with [domain.ErrCorruptEvent].
func (w *Webhook) Apply(e domain.Event) error {
	e = deref(e)
	if _, ok := e.(Created); !ok {
		if w.version == 0 {
			return fmt.Errorf("%w: %s before webhook.created", domain.ErrCorruptEvent, e.EventType())
		}
		if w.deleted {
			return fmt.Errorf("%w: %s after webhook.deleted", domain.ErrCorruptEvent, e.EventType())
		}
	}
	switch e := e.(type) {
	case Created:
		if w.version != 0 {
			return fmt.Errorf("%w: a second webhook.created", domain.ErrCorruptEvent)
		}
		w.id, w.slot, w.settings, w.active, w.createdAt = e.ID, e.Slot, cloneSettings(e.Settings), true, e.At
		w.secrets = []Secret{{ID: e.Secret.ID, Sealed: e.Secret.Sealed, CreatedAt: e.At}}
	case Updated:
		w.settings = cloneSettings(e.Settings)
	case SecretRotated:
		secrets := slices.Clone(w.secrets)
		for i, s := range secrets {
			switch {
			case s.Until.IsZero():
				secrets[i].Until = e.PreviousUntil
			case s.Until.After(e.At):
				secrets[i].Until = e.At
			}
		}
		// Secrets that stopped signing are of no more use.
		secrets = slices.DeleteFunc(secrets, func(s Secret) bool { return !s.Until.After(e.At) })
		w.secrets = append(secrets, Secret{ID: e.Secret.ID, Sealed: e.Secret.Sealed, CreatedAt: e.At})
	case Deactivated:
		w.active, w.reason, w.automatic = false, e.Reason, e.Automatic
	case Activated:
		w.active, w.reason, w.automatic = true, "", false
	case Replayed:
	case Deleted:
		w.deleted, w.active = true, false
	default:
		return fmt.Errorf("%w: %T is not a webhook event", domain.ErrUnknownEvent, e)
	}
	w.version++
	w.updatedAt = eventTime(e)
	return nil
}

func (w *Webhook) live() error {
	switch {
	case w.version == 0:
		return domain.ErrNotFound
	case w.deleted:
		return domain.ErrDeleted
	}
	return nil
}

// ID is the endpoint's id.
func (w *Webhook) ID() string { return w.id }

// Slot is the slot of its tenant's limit the endpoint holds; 0 is none.
func (w *Webhook) Slot() int { return w.slot }

// Settings returns a copy of the endpoint's settings.
func (w *Webhook) Settings() Settings { return cloneSettings(w.settings) }

// Active reports whether deliveries are on.
func (w *Webhook) Active() bool { return w.active }

// Deleted reports whether the endpoint is deleted.
func (w *Webhook) Deleted() bool { return w.deleted }

// Version is the number of events applied.
func (w *Webhook) Version() int64 { return w.version }

// Secrets returns the endpoint's secrets, oldest first; those that sign
// at a given time are those whose [Secret.Signs] says so.
func (w *Webhook) Secrets() []Secret { return slices.Clone(w.secrets) }

func eventTime(e domain.Event) time.Time {
	switch e := e.(type) {
	case Created:
		return e.At
	case Updated:
		return e.At
	case SecretRotated:
		return e.At
	case Deactivated:
		return e.At
	case Activated:
		return e.At
	case Replayed:
		return e.At
	case Deleted:
		return e.At
	}
	return time.Time{}
}

// deref turns a pointer to an event into the event.
func deref(e domain.Event) domain.Event {
	switch p := e.(type) {
	case *Created:
		return *p
	case *Updated:
		return *p
	case *SecretRotated:
		return *p
	case *Deactivated:
		return *p
	case *Activated:
		return *p
	case *Replayed:
		return *p
	case *Deleted:
		return *p
	}
	return e
}

func cloneSettings(s Settings) Settings {
	s.Types = slices.Clone(s.Types)
	return s
}

func equal(a, b Settings) bool {
	return a.URL == b.URL && a.Description == b.Description && slices.Equal(a.Types, b.Types)
}

func at(now time.Time) time.Time { return now.UTC().Truncate(time.Microsecond) }

// ReplayFrom reports whether e sends deliveries back (or forward) to the
// events after a cursor, and which: what a deliverer does with an
// endpoint's events besides folding them.
func ReplayFrom(e domain.Event) (from string, ok bool) {
	r, ok := deref(e).(Replayed)
	return r.From, ok
}
