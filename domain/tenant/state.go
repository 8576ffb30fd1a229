package tenant

import (
	"slices"
	"time"
)

// State is a tenant as data: every field [Tenant.Apply] reads, so that
// [FromState] of a tenant's State continues its history exactly as the
// tenant itself would. Read models keep a tenant's State between the
// events they apply, and fold by calling [Tenant.Apply]; the rule "event
// → state" is then written once, here.
//
// A State holds the sealed private keys: it is server-side data, never
// shown.
type State struct {
	Slug             string
	Name             string
	Suspended        bool
	SuspensionReason string
	LoginURL         string
	// Keys are the signing keys in the order added, retired ones included.
	Keys []Key
	// AuditKeys are the audit keys in the order added; the last is active.
	AuditKeys []AuditKey
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version is the number of events applied (0: no history).
	Version int64
}

// State returns the tenant's state, a deep copy: changing it does not
// change the tenant.
func (t *Tenant) State() State {
	return State{
		Slug:             t.slug,
		Name:             t.name,
		Suspended:        t.suspended,
		SuspensionReason: t.suspensionReason,
		LoginURL:         t.loginURL,
		Keys:             t.Keys(),
		AuditKeys:        t.AuditKeys(),
		CreatedAt:        t.createdAt,
		UpdatedAt:        t.updatedAt,
		Version:          t.version,
	}
}

// FromState returns the tenant that s describes, as [Tenant.State]
// returned it; a copy, so that later changes to s do not reach the
// tenant. The zero State gives a tenant with no history.
func FromState(s State) *Tenant {
	if s.Version == 0 {
		return new(Tenant)
	}
	t := &Tenant{
		slug:             s.Slug,
		name:             s.Name,
		suspended:        s.Suspended,
		suspensionReason: s.SuspensionReason,
		loginURL:         s.LoginURL,
		createdAt:        s.CreatedAt,
		updatedAt:        s.UpdatedAt,
		version:          s.Version,
	}
	if len(s.Keys) > 0 {
		t.keys = make([]Key, len(s.Keys))
		for i, k := range s.Keys {
			t.keys[i] = k.clone()
		}
	}
	t.auditKeys = slices.Clone(s.AuditKeys)
	return t
}
