package webhook

import (
	"strconv"
	"time"

	"github.com/clavisiam/clavis/domain"
)

// Wire names of the webhook events. They are stable: stored history
// refers to them forever.
const (
	EventTypeCreated       = "webhook.created"
	EventTypeUpdated       = "webhook.updated"
	EventTypeSecretRotated = "webhook.secret_rotated"
	EventTypeDeactivated   = "webhook.deactivated"
	EventTypeActivated     = "webhook.activated"
	EventTypeReplayed      = "webhook.replayed"
	EventTypeDeleted       = "webhook.deleted"
)

// ClaimKindSlot keeps a tenant's endpoints within its limit: an endpoint
// created in a slot (a number from 1 to the limit) claims it, within the
// tenant, and its deletion releases it, so that no two live endpoints hold
// one slot whatever the concurrency.
const ClaimKindSlot = "webhook_slot"

// Settings are what a tenant administrator chooses of an endpoint.
type Settings struct {
	// URL receives the deliveries, by POST.
	URL string `json:"url"`
	// Types are the canonical event type patterns ([eventtype.Filter]);
	// ["*"] is every event.
	Types []string `json:"types"`
	// Description is free text for people.
	Description string `json:"description"`
}

// NewSecret is a signing secret as the caller made it: an id to name it
// by and the secret sealed (only the platform opens it; the domain never
// sees it in the clear).
type NewSecret struct {
	ID     string `json:"id"`
	Sealed string `json:"sealed"`
}

// Created records that an endpoint came into existence, active, with its
// first signing secret. Deliveries start with the events after it. Slot
// is the tenant's slot it claims ([ClaimKindSlot]); 0 claims none.
type Created struct {
	ID       string    `json:"id"`
	Slot     int       `json:"slot,omitempty"`
	Settings Settings  `json:"settings"`
	Secret   NewSecret `json:"secret"`
	At       time.Time `json:"at"`
}

// Updated records the endpoint's new settings, whole, and the previous
// ones, so that an auditor reading the event alone sees what changed.
type Updated struct {
	Settings Settings  `json:"settings"`
	Previous Settings  `json:"previous"`
	At       time.Time `json:"at"`
}

// SecretRotated records a new signing secret, which signs from At on.
// The secret it replaces keeps signing too (deliveries then carry both
// signatures) until PreviousUntil, which is At when there is no overlap;
// any older secret stops at At.
type SecretRotated struct {
	Secret        NewSecret `json:"secret"`
	PreviousUntil time.Time `json:"previous_until"`
	At            time.Time `json:"at"`
}

// Deactivated records that deliveries stopped: by an administrator, or
// by the platform (Automatic) after failing for too long. Events that
// happen meanwhile are delivered when the endpoint is activated again,
// from where delivery stopped.
type Deactivated struct {
	Reason    string    `json:"reason"`
	Automatic bool      `json:"automatic"`
	At        time.Time `json:"at"`
}

// Activated records that deliveries resume, from where they stopped.
type Activated struct {
	At time.Time `json:"at"`
}

// Replayed records that deliveries go back (or forward) to the events
// after the cursor From, an events API cursor; "" is the tenant's first
// event.
type Replayed struct {
	From string    `json:"from"`
	At   time.Time `json:"at"`
}

// Deleted records that the endpoint is gone: nothing more is delivered.
// Slot is the slot it releases (its [Created.Slot]); 0 releases none.
type Deleted struct {
	Slot int       `json:"slot,omitempty"`
	At   time.Time `json:"at"`
}

// EventType returns "webhook.created".
func (Created) EventType() string { return EventTypeCreated }

// EventType returns "webhook.updated".
func (Updated) EventType() string { return EventTypeUpdated }

// EventType returns "webhook.secret_rotated".
func (SecretRotated) EventType() string { return EventTypeSecretRotated }

// EventType returns "webhook.deactivated".
func (Deactivated) EventType() string { return EventTypeDeactivated }

// EventType returns "webhook.activated".
func (Activated) EventType() string { return EventTypeActivated }

// EventType returns "webhook.replayed".
func (Replayed) EventType() string { return EventTypeReplayed }

// EventType returns "webhook.deleted".
func (Deleted) EventType() string { return EventTypeDeleted }

// SchemaVersion returns 1.
func (Created) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (Updated) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (SecretRotated) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (Deactivated) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (Activated) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (Replayed) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (Deleted) SchemaVersion() int { return 1 }

// Claims claims the endpoint's slot within the tenant, if it has one.
func (e Created) Claims() []domain.Claim {
	if e.Slot <= 0 {
		return nil
	}
	return []domain.Claim{{Kind: ClaimKindSlot, Value: strconv.Itoa(e.Slot)}}
}

// Claims releases the deleted endpoint's slot, if it had one.
func (e Deleted) Claims() []domain.Claim {
	if e.Slot <= 0 {
		return nil
	}
	return []domain.Claim{{Kind: ClaimKindSlot, Value: strconv.Itoa(e.Slot), Release: true}}
}

// Compile-time checks that the events satisfy the domain contracts.
var (
	_ domain.Event   = Created{}
	_ domain.Event   = Updated{}
	_ domain.Event   = SecretRotated{}
	_ domain.Event   = Deactivated{}
	_ domain.Event   = Activated{}
	_ domain.Event   = Replayed{}
	_ domain.Event   = Deleted{}
	_ domain.Claimer = Created{}
	_ domain.Claimer = Deleted{}
)
