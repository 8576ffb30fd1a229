package tenants

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"log/slog"
	"strings"
	"time"
)

// SecretPrefix starts every client secret Clavis generates, so that secret
// scanners (GitHub, GitLab, trufflehog) can be taught to recognise a
// leaked one.
const SecretPrefix = "cls_"

// SecretHashPrefix starts every stored secret hash and names its
// algorithm, so that another one can be introduced later.
const SecretHashPrefix = "sha256$"

// SecretIDPrefix starts every secret id.
const SecretIDPrefix = "sec_"

// secretBytes is the entropy of a client secret: 256 bits.
const secretBytes = 32

// secretIDChars is the number of base32 characters after [SecretIDPrefix]:
// 60 random bits, plenty within one client, whose ids are never reused.
const secretIDChars = 12

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Secret is a client secret just generated: its id and its plaintext,
// which the caller shows exactly once. Only its hash is stored. String and
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

// NewSecret returns a fresh secret: an id "sec_" + 12 base32 characters
// and a value "cls_" + base64url (no padding) of 32 bytes from
// crypto/rand.
func NewSecret() Secret {
	return Secret{ID: newSecretID(), Value: newSecretValue()}
}

func newSecretValue() string {
	var b [secretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// newPairwiseSalt is a fresh pairwise subject salt: 256 random bits,
// base64url. The server makes one whenever a client needs a salt of its
// own that nobody gave (a clone, an imported client whose salt was
// redacted).
func newPairwiseSalt() string {
	var b [secretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newSecretID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return SecretIDPrefix + lowerBase32.EncodeToString(b[:])[:secretIDChars]
}

// HashSecret returns the stored form of a client secret:
// "sha256$" + base64url (no padding) of the SHA-256 of the plaintext.
// A fast hash is enough because the secrets are 256-bit random values,
// not passwords: nothing is gained by slowing down a brute force that
// cannot succeed, and the token endpoint stays fast.
func HashSecret(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return SecretHashPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// VerifySecret reports whether plaintext is the secret whose stored form
// is hash. It compares in constant time and is false for a hash in any
// other format.
func VerifySecret(hash, plaintext string) bool {
	if !strings.HasPrefix(hash, SecretHashPrefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(HashSecret(plaintext)), []byte(hash)) == 1
}
