package signing

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// Reference tokens are opaque to everyone but the platform: the claims a
// JWT would carry, encrypted and authenticated with XChaCha20-Poly1305
// under a key derived from the master key, bound to the tenant. Any node
// with the master keyring reads them, with no storage and no database
// round trip. XChaCha's 192-bit random nonces make nonce reuse
// negligible however many tokens one key encrypts (AES-GCM's 96-bit ones
// would not be, at thousands of tokens a second).
//
// Form: "clv_" + tenant slug + "." + base64url(version 1 | master key id
// (8 bytes) | nonce (24 bytes) | ciphertext). The slug is in the clear
// (it is public, in the tenant's issuer URL) so that an endpoint knows
// which tenant to open a token for.

// ReferencePrefix starts every reference token, so that secret scanners
// and the token endpoints recognise one.
const ReferencePrefix = "clv_"

// ErrReference is returned for a string that is not a reference token
// this keyring can open for the tenant.
var ErrReference = errors.New("signing: not a reference token of this tenant")

const referenceVersion = 1

// referenceKey derives the reference-token key of a master key.
func referenceKey(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("clavis reference tokens v1"))
	return m.Sum(nil)
}

// SealReference encrypts claims into a reference token of tenant slug.
func (k *Keyring) SealReference(slug string, claims []byte) (string, error) {
	return k.sealOpaque(referenceAAD, slug, claims)
}

// SealRegistration encrypts claims into a registration access token (RFC
// 7592) of tenant slug: the same form as a reference token, under another
// label, so that neither kind ever opens as the other.
func (k *Keyring) SealRegistration(slug string, claims []byte) (string, error) {
	return k.sealOpaque(registrationAAD, slug, claims)
}

// OpenRegistration opens a registration access token of tenant slug, or
// fails with an error wrapping [ErrReference].
func (k *Keyring) OpenRegistration(slug, token string) ([]byte, error) {
	return k.openOpaque(registrationAAD, slug, token)
}

// SealUserClaims encrypts the claims of a user that the login application
// gave, for an access token of tenant slug to carry them to the userinfo
// endpoint: a reference token's body (base64url, without its prefix and
// slug), under another label, so that it never opens as a token and no
// token opens as it.
func (k *Keyring) SealUserClaims(slug string, claims []byte) (string, error) {
	t, err := k.sealOpaque(userClaimsAAD, slug, claims)
	return strings.TrimPrefix(t, ReferencePrefix+slug+"."), err
}

// OpenUserClaims opens what SealUserClaims sealed for tenant slug, or
// fails with an error wrapping [ErrReference].
func (k *Keyring) OpenUserClaims(slug, sealed string) ([]byte, error) {
	return k.openOpaque(userClaimsAAD, slug, ReferencePrefix+slug+"."+sealed)
}

func (k *Keyring) sealOpaque(aad func(string) []byte, slug string, claims []byte) (string, error) {
	m := k.keys[0]
	aead, err := chacha20poly1305.NewX(m.reference)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	head := make([]byte, 0, 1+len(m.rawID)+aead.NonceSize()+len(claims)+aead.Overhead())
	head = append(head, referenceVersion)
	head = append(head, m.rawID...)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	head = append(head, nonce...)
	sealed := aead.Seal(head, nonce, claims, aad(slug))
	return ReferencePrefix + slug + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// ReferenceTenant returns the tenant a reference token names, and false
// for a string that is no reference token. The name is a claim until
// OpenReference has checked it.
func ReferenceTenant(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, ReferencePrefix)
	if !ok {
		return "", false
	}
	slug, _, ok := strings.Cut(rest, ".")
	return slug, ok && slug != ""
}

// OpenReference decrypts a reference token of tenant slug and returns
// its claims, or an error wrapping [ErrReference].
func (k *Keyring) OpenReference(slug, token string) ([]byte, error) {
	return k.openOpaque(referenceAAD, slug, token)
}

func (k *Keyring) openOpaque(aad func(string) []byte, slug, token string) ([]byte, error) {
	body, ok := strings.CutPrefix(token, ReferencePrefix+slug+".")
	if !ok {
		return nil, ErrReference
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < 1+masterIDSize+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead || raw[0] != referenceVersion {
		return nil, ErrReference
	}
	id, rest := raw[1:1+masterIDSize], raw[1+masterIDSize:]
	for _, m := range k.keys {
		if !bytes.Equal(m.rawID, id) {
			continue
		}
		aead, err := chacha20poly1305.NewX(m.reference)
		if err != nil {
			return nil, fmt.Errorf("signing: %w", err)
		}
		claims, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], aad(slug))
		if err != nil {
			return nil, ErrReference
		}
		return claims, nil
	}
	return nil, ErrReference
}

func referenceAAD(slug string) []byte { return []byte("clavis reference token\x00" + slug) }

func registrationAAD(slug string) []byte { return []byte("clavis registration token\x00" + slug) }

func userClaimsAAD(slug string) []byte { return []byte("clavis user claims\x00" + slug) }

// HMACSecret is a 256-bit secret derived from the sealing master key, the
// same on every node with the same keyring: for authorization codes and
// refresh tokens, whose signatures every node must check.
func (k *Keyring) HMACSecret() []byte { return hmacSecret(k.keys[0]) }

// RotatedHMACSecrets are the secrets derived from the other master keys,
// so that what an older master key's secret signed still verifies while
// a master key is being replaced.
func (k *Keyring) RotatedHMACSecrets() [][]byte {
	out := make([][]byte, 0, len(k.keys)-1)
	for _, m := range k.keys[1:] {
		out = append(out, hmacSecret(m))
	}
	return out
}

func hmacSecret(m masterKey) []byte {
	h := hmac.New(sha256.New, m.reference)
	h.Write([]byte("clavis hmac tokens v1"))
	return h.Sum(nil)
}

// SealedSecretPrefix starts the stored form of a client secret kept
// sealed rather than hashed: a client authenticating with
// client_secret_jwt proves it holds the secret by an HMAC the server
// must recompute, so the server needs the secret itself.
const SealedSecretPrefix = "sealed$"

// SealSecret seals client clientID's secret of tenant slug: the result,
// which starts with [SealedSecretPrefix], opens only for that tenant and
// client, and only with this keyring's master keys.
func (k *Keyring) SealSecret(slug, clientID, secret string) (string, error) {
	sealed, err := k.sealOpaque(secretAAD(clientID), slug, []byte(secret))
	if err != nil {
		return "", err
	}
	return SealedSecretPrefix + sealed, nil
}

// OpenSecret opens what SealSecret sealed for tenant slug and client
// clientID, or fails wrapping [ErrReference].
func (k *Keyring) OpenSecret(slug, clientID, sealed string) (string, error) {
	body, ok := strings.CutPrefix(sealed, SealedSecretPrefix)
	if !ok {
		return "", ErrReference
	}
	secret, err := k.openOpaque(secretAAD(clientID), slug, body)
	return string(secret), err
}

func secretAAD(clientID string) func(string) []byte {
	return func(slug string) []byte { return []byte("clavis client secret\x00" + slug + "\x00" + clientID) }
}
