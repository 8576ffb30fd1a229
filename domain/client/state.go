package client

import (
	"slices"
	"time"
)

// State is a client as data: every field [Client.Apply] reads, so that
// [FromState] of a client's State continues its history exactly as the
// client itself would. Read models keep a client's State between the
// events they apply, and fold by calling [Client.Apply]; the rule "event
// → state" is then written once, here.
//
// A State holds secret hashes: it is server-side data, never shown.
type State struct {
	ID                 string
	Settings           Settings
	Active             bool
	DeactivationReason string
	// Deleted is true once the client was deleted; Apply refuses every
	// event after that.
	Deleted bool
	// Secrets are the secrets the client holds, in the order added.
	Secrets []Secret
	// UsedSecretIDs are the ids of every secret the client ever held,
	// revoked ones included, sorted: a secret id is never reused, so
	// Apply refuses a secret whose id is in it.
	UsedSecretIDs []string
	ClonedFrom    string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Version is the number of events applied (0: no history).
	Version int64
}

// State returns the client's state, a deep copy: changing it does not
// change the client.
func (c *Client) State() State {
	st := c.state()
	st.Settings = st.Settings.clone()
	st.Secrets = c.Secrets()
	return st
}

// TakeState returns the client's state without copying it, and leaves c
// a client with no history, so that nothing is shared between the two.
// It is [Client.State] for a caller done with the client, such as a read
// model that folded a batch of events into it.
func (c *Client) TakeState() State {
	st := c.state()
	*c = Client{}
	return st
}

// state is the client's state, sharing its settings and secrets.
func (c *Client) state() State {
	secrets := c.secrets
	if len(secrets) == 0 {
		secrets = nil
	}
	var used []string
	if len(c.usedSecretIDs) > 0 {
		used = make([]string, 0, len(c.usedSecretIDs))
		for id := range c.usedSecretIDs {
			used = append(used, id)
		}
		slices.Sort(used)
	}
	return State{
		ID:                 c.id,
		Settings:           c.settings,
		Active:             c.active,
		DeactivationReason: c.deactivationReason,
		Deleted:            c.deleted,
		Secrets:            secrets,
		UsedSecretIDs:      used,
		ClonedFrom:         c.clonedFrom,
		CreatedAt:          c.createdAt,
		UpdatedAt:          c.updatedAt,
		Version:            c.version,
	}
}

// FromState returns the client that s describes, as [Client.State]
// returned it; a copy, so that later changes to s do not reach the
// client. The ids of the secrets s holds count as used even when
// UsedSecretIDs leaves them out. The zero State gives a client with no
// history.
func FromState(s State) *Client {
	if s.Version == 0 {
		return new(Client)
	}
	c := &Client{
		id:                 s.ID,
		settings:           s.Settings.clone().compact(),
		active:             s.Active,
		deactivationReason: s.DeactivationReason,
		deleted:            s.Deleted,
		usedSecretIDs:      make(map[string]bool, len(s.UsedSecretIDs)+len(s.Secrets)),
		clonedFrom:         s.ClonedFrom,
		createdAt:          s.CreatedAt,
		updatedAt:          s.UpdatedAt,
		version:            s.Version,
	}
	for _, id := range s.UsedSecretIDs {
		c.usedSecretIDs[id] = true
	}
	for _, sec := range s.Secrets {
		c.addSecret(sec)
	}
	return c
}
