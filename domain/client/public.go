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

// publicSettings drops the one setting that is secret: the pairwise
// subject salt would let a subscriber correlate users across clients.
func publicSettings(s Settings) Settings {
	s = s.clone()
	s.PairwiseSubjectSalt = ""
	return s
}

// Public returns the payload of e that may leave the platform: the same
// event with every secret hash and the pairwise subject salt removed. It
// is what downstream subscribers receive. Events without secret material
// are returned as they are; an event of another aggregate yields nil.
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
		}{e.ClientID, publicSettings(e.Settings), e.Active, publicSecrets(e.Secrets), e.ClonedFrom, e.At}
	case ClientUpdated:
		e.Settings = publicSettings(e.Settings)
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
