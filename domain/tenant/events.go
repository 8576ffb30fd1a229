package tenant

import (
	"encoding/json"
	"fmt"
	"log/slog"
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

	EventTypeLoginURLSet = "tenant.login_url_set"

	EventTypeSigningKeyAdded   = "tenant.signing_key_added"
	EventTypeSigningKeyRetired = "tenant.signing_key_retired"
)

// ClaimKindSlug is the [domain.Claim] kind that keeps tenant slugs unique
// across the platform.
const ClaimKindSlug = "tenant_slug"

// ClaimKindSuspended is the [domain.Claim] kind that a suspended tenant
// holds, tenant-scoped, with the value [ClaimSuspended], from its
// suspension to its resumption. Client commands check that it is free in
// the transaction of their append, so none commits once the suspension
// has.
const ClaimKindSuspended = "tenant_suspended"

// ClaimSuspended is the value of the [ClaimKindSuspended] claim.
const ClaimSuspended = "suspended"

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

// LoginURLSet records the tenant's login application URL: where the
// authorization endpoint sends browsers, with a login_challenge or
// consent_challenge query parameter, to sign users in and ask for their
// consent. An empty LoginURL clears the setting.
type LoginURLSet struct {
	LoginURL string    `json:"login_url"`
	At       time.Time `json:"at"`
}

// SigningKeyAdded records that the tenant got a signing key. The key is
// published in the tenant's JWKS from At and may sign from ActiveFrom on,
// which is later than At when a rotation gives verifiers time to fetch
// it first. The private key is stored only as the caller sealed it.
type SigningKeyAdded struct {
	KID        string          `json:"kid"`
	Alg        string          `json:"alg"`
	PublicJWK  json.RawMessage `json:"public_jwk"`
	Sealed     string          `json:"sealed_private_key"`
	ActiveFrom time.Time       `json:"active_from"`
	At         time.Time       `json:"at"`
}

// SigningKeyRetired records that a signing key was given an end: it signs
// nothing from SignsUntil on and leaves the JWKS at PublishedUntil, which
// is SignsUntil plus the longest token lifetime, so that the tokens it
// signed last can be verified until they expire.
type SigningKeyRetired struct {
	KID            string    `json:"kid"`
	SignsUntil     time.Time `json:"signs_until"`
	PublishedUntil time.Time `json:"published_until"`
	At             time.Time `json:"at"`
}

// EventType returns "tenant.created".
func (TenantCreated) EventType() string { return EventTypeCreated }

// EventType returns "tenant.renamed".
func (TenantRenamed) EventType() string { return EventTypeRenamed }

// EventType returns "tenant.suspended".
func (TenantSuspended) EventType() string { return EventTypeSuspended }

// EventType returns "tenant.resumed".
func (TenantResumed) EventType() string { return EventTypeResumed }

// EventType returns "tenant.login_url_set".
func (LoginURLSet) EventType() string { return EventTypeLoginURLSet }

// EventType returns "tenant.signing_key_added".
func (SigningKeyAdded) EventType() string { return EventTypeSigningKeyAdded }

// EventType returns "tenant.signing_key_retired".
func (SigningKeyRetired) EventType() string { return EventTypeSigningKeyRetired }

// SchemaVersion returns 1.
func (TenantCreated) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (TenantRenamed) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (TenantSuspended) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (TenantResumed) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (LoginURLSet) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (SigningKeyAdded) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (SigningKeyRetired) SchemaVersion() int { return 1 }

// Claims reserves the slug across the platform, so that two tenants can
// never share an issuer URL.
func (e TenantCreated) Claims() []domain.Claim {
	return []domain.Claim{{Kind: ClaimKindSlug, Value: e.Slug, Global: true}}
}

// Claims marks the tenant suspended in the store (see [ClaimKindSuspended]).
func (TenantSuspended) Claims() []domain.Claim {
	return []domain.Claim{{Kind: ClaimKindSuspended, Value: ClaimSuspended}}
}

// Claims lifts the suspended mark. A tenant suspended before the mark
// existed holds none, and releasing it changes nothing.
func (TenantResumed) Claims() []domain.Claim {
	return []domain.Claim{{Kind: ClaimKindSuspended, Value: ClaimSuspended, Release: true}}
}

// String describes the event without the sealed private key, so that
// printing it never writes key material to a log.
func (e SigningKeyAdded) String() string {
	return fmt.Sprintf("SigningKeyAdded{KID:%s Alg:%s Sealed:[REDACTED] ActiveFrom:%s At:%s}",
		e.KID, e.Alg, e.ActiveFrom.Format(time.RFC3339), e.At.Format(time.RFC3339))
}

// LogValue implements [slog.LogValuer], logging the event without the
// sealed private key.
func (e SigningKeyAdded) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kid", e.KID),
		slog.String("alg", e.Alg),
		slog.String("sealed_private_key", "[REDACTED]"),
		slog.Time("active_from", e.ActiveFrom),
		slog.Time("at", e.At),
	)
}

// Compile-time checks that the events satisfy the domain contracts.
var (
	_ domain.Event   = TenantCreated{}
	_ domain.Event   = TenantRenamed{}
	_ domain.Event   = TenantSuspended{}
	_ domain.Event   = TenantResumed{}
	_ domain.Event   = LoginURLSet{}
	_ domain.Event   = SigningKeyAdded{}
	_ domain.Event   = SigningKeyRetired{}
	_ domain.Claimer = TenantCreated{}
	_ slog.LogValuer = SigningKeyAdded{}
)
