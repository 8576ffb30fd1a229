// Package secret is the format of a client secret: how the server makes
// one (256 bits from crypto/rand, "cls_" + base64url, so that secret
// scanners recognise a leaked one), its id, and the hash that is stored
// in its place and checked on the token path.
//
// It sits next to the client aggregate rather than in it: the aggregate
// only ever sees an id and an opaque hash ([client.Secret]), passed in.
// Both the commands that make secrets and the token endpoint that checks
// them use this package, so the read side needs nothing of the write
// side to verify a secret.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"strings"
)

// Prefix starts every client secret the server generates, so that secret
// scanners (GitHub, GitLab, trufflehog) can be taught to recognise a
// leaked one.
const Prefix = "cls_"

// HashPrefix starts every stored secret hash and names its algorithm, so
// that another one can be introduced later.
const HashPrefix = "sha256$"

// IDPrefix starts every secret id.
const IDPrefix = "sec_"

// valueBytes is the entropy of a client secret: 256 bits.
const valueBytes = 32

// idChars is the number of base32 characters after [IDPrefix]: 60 random
// bits, plenty within one client, whose ids are never reused.
const idChars = 12

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewValue returns a fresh secret: "cls_" + base64url (no padding) of 32
// bytes from crypto/rand.
func NewValue() string {
	var b [valueBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return Prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// NewID returns a fresh secret id: "sec_" + 12 base32 characters from
// crypto/rand.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return IDPrefix + lowerBase32.EncodeToString(b[:])[:idChars]
}

// Hash returns the stored form of a client secret: "sha256$" + base64url
// (no padding) of the SHA-256 of the plaintext. A fast hash is enough
// because the secrets are 256-bit random values, not passwords: nothing
// is gained by slowing down a brute force that cannot succeed, and the
// token endpoint stays fast.
func Hash(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return HashPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Verify reports whether plaintext is the secret whose stored form is
// hash. It compares in constant time and is false for a hash in any
// other format.
func Verify(hash, plaintext string) bool {
	if !strings.HasPrefix(hash, HashPrefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(Hash(plaintext)), []byte(hash)) == 1
}
