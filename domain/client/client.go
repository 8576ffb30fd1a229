package client

import (
	"fmt"
	"slices"
	"time"

	"github.com/clavisiam/clavis/domain"
)

// Client is the aggregate of one OAuth 2.0 / OpenID Connect client
// registration. Its fields are unexported: a Client is only built by
// [Replay] or by applying the events its commands return, so it always
// reflects stored history. The zero value is a client with no history, on
// which every command returns [domain.ErrNotFound].
//
// A Client is not safe for concurrent use; load one per request.
type Client struct {
	id                 string
	settings           Settings
	active             bool
	deactivationReason string
	deleted            bool
	secrets            []Secret
	usedSecretIDs      map[string]bool // every secret id ever held; ids are never reused
	clonedFrom         string
	createdAt          time.Time
	updatedAt          time.Time
	version            int64
}

// Replay rebuilds a client from its history, oldest event first. An empty
// history gives a client with no history (version 0). It fails, naming the
// position, on the first event that [Client.Apply] refuses.
func Replay(events []domain.Event) (*Client, error) {
	c := new(Client)
	for i, e := range events {
		if err := c.Apply(e); err != nil {
			return nil, fmt.Errorf("replay client event %d: %w", i+1, err)
		}
	}
	return c, nil
}

// Apply changes the client by one event and increments its version. It is
// used by [Replay] and by callers after a successful append. It accepts the
// event structs and pointers to them, and copies what it keeps, so that
// later changes to the event do not reach the aggregate.
//
// Apply does not re-validate settings: what was stored is what the client
// was. It returns an error wrapping [domain.ErrUnknownEvent] for an event
// that is not a client event, and one wrapping [domain.ErrCorruptEvent] for
// an event that cannot follow the current history: anything before
// [ClientRegistered] or after [ClientDeleted], a second registration, a
// secret id added twice, or revoking or expiring a secret the client does
// not hold. On error the client is unchanged. Apply never panics.
func (c *Client) Apply(e domain.Event) error {
	e = deref(e)
	if e == nil {
		return fmt.Errorf("apply nil event to client: %w", domain.ErrUnknownEvent)
	}
	if !isClientEvent(e) {
		return fmt.Errorf("apply %T to client: %w", e, domain.ErrUnknownEvent)
	}
	if err := c.canApply(e); err != nil {
		return fmt.Errorf("apply %s to client at version %d: %s: %w", e.EventType(), c.version, err.Error(), domain.ErrCorruptEvent)
	}
	var when time.Time
	switch e := e.(type) {
	case ClientRegistered:
		c.id = e.ClientID
		c.settings = e.Settings.clone().compact()
		c.active = e.Active
		c.clonedFrom = e.ClonedFrom
		c.createdAt = e.At
		c.usedSecretIDs = make(map[string]bool)
		for _, s := range e.Secrets {
			c.addSecret(s)
		}
		when = e.At
	case ClientUpdated:
		c.settings = e.Settings.clone().compact()
		when = e.At
	case SecretAdded:
		c.addSecret(e.Secret)
		when = e.At
	case SecretRevoked:
		c.secrets = slices.DeleteFunc(c.secrets, func(s Secret) bool { return s.ID == e.SecretID })
		when = e.At
	case SecretRotated:
		for _, x := range e.Expiring {
			i := c.secretIndex(x.SecretID)
			t := x.ExpiresAt
			c.secrets[i].ExpiresAt = &t
		}
		c.addSecret(e.New)
		when = e.At
	case ClientActivated:
		c.active, c.deactivationReason = true, ""
		when = e.At
	case ClientDeactivated:
		c.active, c.deactivationReason = false, e.Reason
		when = e.At
	case ClientDeleted:
		c.deleted, c.active = true, false
		when = e.At
	}
	c.updatedAt = when
	c.version++
	return nil
}

// canApply explains why e cannot follow the current history, or returns
// nil.
func (c *Client) canApply(e domain.Event) error {
	if r, ok := e.(ClientRegistered); ok {
		if c.version != 0 {
			return fmt.Errorf("client already registered")
		}
		seen := make(map[string]bool)
		for _, s := range r.Secrets {
			if seen[s.ID] {
				return fmt.Errorf("secret id %q appears twice", s.ID)
			}
			seen[s.ID] = true
		}
		return nil
	}
	switch {
	case c.version == 0:
		return fmt.Errorf("client not registered yet")
	case c.deleted:
		return fmt.Errorf("client already deleted")
	}
	switch e := e.(type) {
	case SecretAdded:
		if c.usedSecretIDs[e.Secret.ID] {
			return fmt.Errorf("secret id %q already used", e.Secret.ID)
		}
	case SecretRevoked:
		if c.secretIndex(e.SecretID) < 0 {
			return fmt.Errorf("secret %q not held", e.SecretID)
		}
	case SecretRotated:
		if c.usedSecretIDs[e.New.ID] {
			return fmt.Errorf("secret id %q already used", e.New.ID)
		}
		for _, x := range e.Expiring {
			if c.secretIndex(x.SecretID) < 0 {
				return fmt.Errorf("secret %q not held", x.SecretID)
			}
		}
	}
	return nil
}

func (c *Client) addSecret(s Secret) {
	c.secrets = append(c.secrets, s.clone())
	c.usedSecretIDs[s.ID] = true
}

func (c *Client) secretIndex(id string) int {
	return slices.IndexFunc(c.secrets, func(s Secret) bool { return s.ID == id })
}

func isClientEvent(e domain.Event) bool {
	switch e.(type) {
	case ClientRegistered, ClientUpdated, SecretAdded, SecretRevoked, SecretRotated,
		ClientActivated, ClientDeactivated, ClientDeleted:
		return true
	}
	return false
}

// deref turns a pointer to a client event into the event value, so that
// Apply accepts both; a nil pointer becomes nil.
func deref(e domain.Event) domain.Event {
	switch p := e.(type) {
	case *ClientRegistered:
		return derefOne(p)
	case *ClientUpdated:
		return derefOne(p)
	case *SecretAdded:
		return derefOne(p)
	case *SecretRevoked:
		return derefOne(p)
	case *SecretRotated:
		return derefOne(p)
	case *ClientActivated:
		return derefOne(p)
	case *ClientDeactivated:
		return derefOne(p)
	case *ClientDeleted:
		return derefOne(p)
	}
	return e
}

func derefOne[T domain.Event](p *T) domain.Event {
	if p == nil {
		return nil
	}
	return *p
}

// live returns [domain.ErrNotFound] for a client without history and
// [domain.ErrDeleted] for a deleted one: the guard of every command.
func (c *Client) live() error {
	switch {
	case c == nil || c.version == 0:
		return domain.ErrNotFound
	case c.deleted:
		return domain.ErrDeleted
	}
	return nil
}

// ID returns the client_id.
func (c *Client) ID() string { return c.id }

// Settings returns a deep copy of the client's settings: changing it does
// not change the client.
func (c *Client) Settings() Settings { return c.settings.clone() }

// Secrets returns a copy of the secrets the client holds, in the order they
// were added, expired ones included.
func (c *Client) Secrets() []Secret {
	if len(c.secrets) == 0 {
		return nil
	}
	out := make([]Secret, len(c.secrets))
	for i, s := range c.secrets {
		out[i] = s.clone()
	}
	return out
}

// Active reports whether the client may get tokens. A deleted client is
// never active.
func (c *Client) Active() bool { return c.active }

// Deleted reports whether the client was deleted.
func (c *Client) Deleted() bool { return c.deleted }

// Version returns the number of events applied, which is the expected
// version for the next append to the client's stream.
func (c *Client) Version() int64 { return c.version }

// at is how a command's clock reading enters an event: UTC, truncated to
// microseconds, the precision Postgres stores, so that an event read back
// equals the one written.
func at(now time.Time) time.Time { return now.UTC().Truncate(time.Microsecond) }
