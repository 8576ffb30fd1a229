package tenant

import (
	"time"

	"github.com/clavisiam/clavis/domain"
)

// Wire names of the tenant events. They are stable: stored history refers
// to them forever.
const (
	EventTypeCreated   = "tenant.created"
	EventTypeRenamed   = "tenant.renamed"
	EventTypeSuspended = "tenant.suspended"
	EventTypeResumed   = "tenant.resumed"
)

// ClaimKindSlug is the [domain.Claim] kind that keeps tenant slugs unique
// across the platform.
const ClaimKindSlug = "tenant_slug"

// TenantCreated records that a tenant came into existence. Its slug is
// reserved platform-wide in the same transaction (see [TenantCreated.Claims]).
type TenantCreated struct {
	Slug string    `json:"slug"`
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

// TenantRenamed records a new display name. PreviousName is carried so that
// an auditor reading the event alone sees what changed.
type TenantRenamed struct {
	Name         string    `json:"name"`
	PreviousName string    `json:"previous_name"`
	At           time.Time `json:"at"`
}

// TenantSuspended records that the tenant was suspended, for the given
// Reason (possibly empty). A suspended tenant's clients get no tokens.
type TenantSuspended struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// TenantResumed records that a suspended tenant became active again.
type TenantResumed struct {
	At time.Time `json:"at"`
}

// EventType returns "tenant.created".
func (TenantCreated) EventType() string { return EventTypeCreated }

// EventType returns "tenant.renamed".
func (TenantRenamed) EventType() string { return EventTypeRenamed }

// EventType returns "tenant.suspended".
func (TenantSuspended) EventType() string { return EventTypeSuspended }

// EventType returns "tenant.resumed".
func (TenantResumed) EventType() string { return EventTypeResumed }

// SchemaVersion returns 1.
func (TenantCreated) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (TenantRenamed) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (TenantSuspended) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (TenantResumed) SchemaVersion() int { return 1 }

// Claims reserves the slug across the platform, so that two tenants can
// never share an issuer URL.
func (e TenantCreated) Claims() []domain.Claim {
	return []domain.Claim{{Kind: ClaimKindSlug, Value: e.Slug, Global: true}}
}

// Compile-time checks that the events satisfy the domain contracts.
var (
	_ domain.Event   = TenantCreated{}
	_ domain.Event   = TenantRenamed{}
	_ domain.Event   = TenantSuspended{}
	_ domain.Event   = TenantResumed{}
	_ domain.Claimer = TenantCreated{}
)
