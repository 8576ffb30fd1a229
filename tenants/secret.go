package tenants

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"time"
)

// Secret is a client secret just generated (see package
// domain/client/secret for its format): its id and its plaintext, which
// the caller shows exactly once. Only its hash is stored. String and
// LogValue redact the plaintext, so that printing or logging a Secret by
// mistake leaks nothing.
type Secret struct {
	// ID identifies the secret within its client ("sec_…").
	ID string
	// Value is the plaintext, "cls_" + base64url of 32 random bytes.
	Value string
	// ExpiresAt is when the secret stops working; nil means never.
	ExpiresAt *time.Time
}

// String describes the secret without its value.
func (s Secret) String() string { return "Secret{ID:" + s.ID + " Value:[REDACTED]}" }

// LogValue implements [slog.LogValuer], logging the secret's id only.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("value", "[REDACTED]"))
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// newPairwiseSalt is a fresh pairwise subject salt: 256 random bits,
// base64url. The server makes one whenever a client needs a salt of its
// own that nobody gave (a clone, an imported client whose salt was
// redacted).
func newPairwiseSalt() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}
