package client

import (
	"time"

	"github.com/clavisiam/clavis/domain"
)

// PublicSecret is a secret as downstream subscribers see it: which secret,
// since and until when, never its hash.
type PublicSecret struct {
	ID          string     `json:"id"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Description string     `json:"description,omitempty"`
}

func publicSecret(s Secret) PublicSecret {
	return PublicSecret{ID: s.ID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, Description: s.Description}
}

func publicSecrets(list []Secret) []PublicSecret {
	out := make([]PublicSecret, len(list))
	for i, s := range list {
		out[i] = publicSecret(s)
	}
	return out
}

// Redacted stands in for secret material wherever a client is shown: a
// secret's hash in its history, and the pairwise subject salt everywhere
// (admin reads, exports, history, public events). As a salt it is not a
// value but a request: an update that sends it back keeps the client's
// salt (see [Client.Update]); a new client given it must be given a real
// salt instead (see [Register]).
const Redacted = "[REDACTED]"

// Redact returns a copy of s that may be shown: the pairwise subject salt,
// which would let anyone who reads it link a user's subjects across
// clients, replaced by [Redacted] when one is set (an unset salt stays
// empty, so a reader still sees whether subjects are pairwise).
func (s Settings) Redact() Settings {
	s = s.clone()
	if s.PairwiseSubjectSalt != "" {
		s.PairwiseSubjectSalt = Redacted
	}
	return s
}

// Redact returns e as auditors may read it: every secret hash and the
// pairwise subject salt replaced by [Redacted]. Events are values, so the
// stored one is left alone; slices are copied before they change. Events
// without secret material, and those of other aggregates, are returned as
// they are.
func Redact(e domain.Event) domain.Event {
	switch e := deref(e).(type) {
	case ClientRegistered:
		e.Settings = e.Settings.Redact()
		secrets := make([]Secret, len(e.Secrets))
		for i, s := range e.Secrets {
			s.Hash = Redacted
			secrets[i] = s
		}
		e.Secrets = secrets
		return e
	case ClientUpdated:
		e.Settings = e.Settings.Redact()
		return e
	case SecretAdded:
		e.Secret.Hash = Redacted
		return e
	case SecretRotated:
		e.New.Hash = Redacted
		return e
	}
	return e
}

// Public returns the payload of e that may leave the platform: the same
// event with every secret hash removed and the pairwise subject salt
// redacted ([Settings.Redact]). It is what downstream subscribers
// receive. Events without secret material are returned as they are; an
// event of another aggregate yields nil.
func Public(e domain.Event) any {
	switch e := deref(e).(type) {
	case ClientRegistered:
		return struct {
			ClientID   string         `json:"client_id"`
			Settings   Settings       `json:"settings"`
			Active     bool           `json:"active"`
			Secrets    []PublicSecret `json:"secrets"`
			ClonedFrom string         `json:"cloned_from,omitempty"`
			At         time.Time      `json:"at"`
		}{e.ClientID, e.Settings.Redact(), e.Active, publicSecrets(e.Secrets), e.ClonedFrom, e.At}
	case ClientUpdated:
		e.Settings = e.Settings.Redact()
		return e
	case SecretAdded:
		return struct {
			Secret PublicSecret `json:"secret"`
			At     time.Time    `json:"at"`
		}{publicSecret(e.Secret), e.At}
	case SecretRotated:
		return struct {
			New      PublicSecret   `json:"new"`
			Expiring []SecretExpiry `json:"expiring"`
			At       time.Time      `json:"at"`
		}{publicSecret(e.New), e.Expiring, e.At}
	case SecretRevoked, ClientActivated, ClientDeactivated, ClientDeleted:
		return e
	}
	return nil
}
