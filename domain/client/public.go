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

// Redact returns e as r's readers may see it ([domain.Redaction]): the
// pairwise subject salt replaced by [Redacted] ([Settings.Redact]) at
// every level; a secret's hash replaced by [Redacted] for
// [domain.RedactHistory], and left out, as a [PublicSecret], for
// [domain.RedactPublic] (and any level this version does not know).
// Events are values, so the stored one is left alone; slices are copied
// before they change. Events without secret material are returned as
// they are; an event of another aggregate yields nil.
//
// It is the one place that knows which fields of client events are
// secret: every reader of redacted events goes through it.
func Redact(e domain.Event, r domain.Redaction) any {
	public := r != domain.RedactHistory
	switch e := deref(e).(type) {
	case ClientRegistered:
		e.Settings = e.Settings.Redact()
		if public {
			return struct {
				ClientID   string         `json:"client_id"`
				Settings   Settings       `json:"settings"`
				Active     bool           `json:"active"`
				Secrets    []PublicSecret `json:"secrets"`
				ClonedFrom string         `json:"cloned_from,omitempty"`
				At         time.Time      `json:"at"`
			}{e.ClientID, e.Settings, e.Active, publicSecrets(e.Secrets), e.ClonedFrom, e.At}
		}
		secrets := make([]Secret, len(e.Secrets))
		for i, s := range e.Secrets {
			secrets[i] = redactedSecret(s)
		}
		e.Secrets = secrets
		return e
	case ClientUpdated:
		e.Settings = e.Settings.Redact()
		return e
	case SecretAdded:
		if public {
			return struct {
				Secret PublicSecret `json:"secret"`
				At     time.Time    `json:"at"`
			}{publicSecret(e.Secret), e.At}
		}
		e.Secret = redactedSecret(e.Secret)
		return e
	case SecretRotated:
		if public {
			return struct {
				New      PublicSecret   `json:"new"`
				Expiring []SecretExpiry `json:"expiring"`
				At       time.Time      `json:"at"`
			}{publicSecret(e.New), e.Expiring, e.At}
		}
		e.New = redactedSecret(e.New)
		return e
	case SecretRevoked, ClientActivated, ClientDeactivated, ClientDeleted:
		return e
	}
	return nil
}

func redactedSecret(s Secret) Secret {
	s.Hash = Redacted
	return s
}
