package client

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/clavisiam/clavis/domain/scope"
)

// Limits on client secrets.
const (
	// MaxSecrets is how many secrets one client may hold at once, expired
	// ones included: an expired secret stays visible, for audit, until it
	// is revoked, and revoking it is always allowed.
	MaxSecrets = 10
	// MaxSecretIDLength bounds a secret's identifier.
	MaxSecretIDLength = 128
	// MaxSecretHashLength bounds the stored hash.
	MaxSecretHashLength = 1024
	// MaxSecretDescriptionLength bounds a secret's description, in characters.
	MaxSecretDescriptionLength = 200
	// MaxRotationOverlap is the longest time old secrets may stay usable
	// after a rotation.
	MaxRotationOverlap = 30 * 24 * time.Hour
)

// Secret is a client secret as the domain knows it: an identifier and an
// opaque hash (for example "sha256$…") computed by the caller. The domain
// never sees the plaintext, so neither events nor errors can leak it.
//
// A secret is usable at time t when it has not expired at t; see
// [Secret.UsableAt].
type Secret struct {
	// ID identifies the secret within its client, so that it can be revoked;
	// 1..128 printable ASCII characters without spaces, never reused within
	// a client.
	ID string `json:"id"`
	// Hash is the caller's hash of the secret, stored verbatim.
	Hash string `json:"hash"`
	// CreatedAt is stamped by the command that adds the secret.
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when the secret stops working; nil means never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Description says what the secret is for; at most 200 characters.
	Description string `json:"description,omitempty"`
}

// UsableAt reports whether the secret can authenticate the client at t:
// it has no expiry or expires after t.
func (s Secret) UsableAt(t time.Time) bool { return s.ExpiresAt == nil || s.ExpiresAt.After(t) }

// String describes the secret without its hash, so that printing a secret,
// or an event holding one, never writes the hash to a log.
func (s Secret) String() string {
	exp := "never"
	if s.ExpiresAt != nil {
		exp = s.ExpiresAt.Format(time.RFC3339)
	}
	return fmt.Sprintf("Secret{ID:%s Hash:[REDACTED] ExpiresAt:%s}", s.ID, exp)
}

// LogValue implements [slog.LogValuer], logging the secret without its
// hash.
func (s Secret) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("id", s.ID), slog.String("hash", "[REDACTED]")}
	if s.ExpiresAt != nil {
		attrs = append(attrs, slog.Time("expires_at", *s.ExpiresAt))
	}
	return slog.GroupValue(attrs...)
}

// clone copies the secret so that its ExpiresAt does not alias the
// original's.
func (s Secret) clone() Secret {
	if s.ExpiresAt != nil {
		t := *s.ExpiresAt
		s.ExpiresAt = &t
	}
	return s
}

// SecretExpiry records that a rotation moved a secret's expiry earlier.
type SecretExpiry struct {
	SecretID  string    `json:"secret_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// prepareSecret returns sec as it enters an event, CreatedAt stamped with
// now and times in UTC microseconds, recording under field what is wrong
// with it. used holds the IDs the client has ever held.
func prepareSecret(c *checker, field string, sec Secret, used map[string]bool, now time.Time) Secret {
	sec = sec.clone()
	sec.CreatedAt = now
	if sec.ExpiresAt != nil {
		t := at(*sec.ExpiresAt)
		sec.ExpiresAt = &t
	}
	sec.Description = strings.TrimSpace(sec.Description)
	switch {
	case sec.ID == "":
		c.add(field+".id", "required", "secret id is required")
	case len(sec.ID) > MaxSecretIDLength || !scope.ValidToken(sec.ID):
		c.add(field+".id", "invalid_value", "secret id must be 1..%d printable ASCII characters without spaces", MaxSecretIDLength)
	case used[sec.ID]:
		c.add(field+".id", "duplicate", "the client already has or had a secret with this id")
	}
	switch {
	case sec.Hash == "":
		c.add(field+".hash", "required", "secret hash is required")
	case len(sec.Hash) > MaxSecretHashLength:
		c.add(field+".hash", "too_long", "secret hash must be at most %d bytes", MaxSecretHashLength)
	case !plainASCII(sec.Hash):
		c.add(field+".hash", "invalid_value", "secret hash must be printable ASCII without spaces")
	}
	if sec.ExpiresAt != nil && !sec.ExpiresAt.After(now) {
		c.add(field+".expires_at", "out_of_range", "secret must expire in the future")
	}
	checkText(c, field+".description", sec.Description, MaxSecretDescriptionLength, false, false)
	return sec
}

// checkSecretState records what the secrets a client would hold at now mean
// for its settings: a public client holds none; a client with a
// secret-based auth method holds at least one usable one.
func checkSecretState(c *checker, s Settings, secrets []Secret, now time.Time) {
	if s.Type == TypePublic {
		if len(secrets) > 0 {
			c.add("client_secret", "not_allowed", "a public client cannot keep a secret")
		}
		return
	}
	if !s.TokenEndpointAuthMethod.UsesSecret() {
		return
	}
	for _, sec := range secrets {
		if sec.UsableAt(now) {
			return
		}
	}
	c.add("client_secret", "required", "%s needs a usable client secret", s.TokenEndpointAuthMethod)
}
