package webhook

import (
	"slices"
	"time"
)

// State is an endpoint as data: every field [Webhook.Apply] reads, so
// that [FromState] of an endpoint's State continues its history exactly
// as the endpoint itself would. It holds the sealed secrets: server-side
// data, never shown.
type State struct {
	ID string
	// Slot is the slot of the tenant's limit the endpoint holds (it keeps
	// it once deleted, as history); 0 is none.
	Slot     int
	Settings Settings
	Active   bool
	// Reason and Automatic say why and by whom the endpoint was last
	// deactivated, while it is inactive.
	Reason    string
	Automatic bool
	Secrets   []Secret
	Deleted   bool
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// State returns the endpoint's state, a deep copy.
func (w *Webhook) State() State {
	return State{ID: w.id, Slot: w.slot, Settings: cloneSettings(w.settings), Active: w.active, Reason: w.reason, Automatic: w.automatic,
		Secrets: slices.Clone(w.secrets), Deleted: w.deleted, CreatedAt: w.createdAt, UpdatedAt: w.updatedAt, Version: w.version}
}

// FromState returns the endpoint s describes, as [Webhook.State]
// returned it; a copy. The zero State gives an endpoint with no history.
func FromState(s State) *Webhook {
	if s.Version == 0 {
		return new(Webhook)
	}
	return &Webhook{id: s.ID, slot: s.Slot, settings: cloneSettings(s.Settings), active: s.Active, reason: s.Reason, automatic: s.Automatic,
		secrets: slices.Clone(s.Secrets), deleted: s.Deleted, createdAt: s.CreatedAt, updatedAt: s.UpdatedAt, version: s.Version}
}
