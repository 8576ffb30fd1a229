// Package signing makes and keeps tenants' token signing keys. It
// generates a key pair, publishes its public half as a JWK and seals its
// private half under the platform's master key (AES-256-GCM), so that the
// event store and the read models only ever hold ciphertext; it opens a
// sealed key again when a node needs to sign. The keys that sign tenants'
// audit logs are made and sealed the same way ([Keyring.GenerateAuditKey],
// [Keyring.OpenAuditKey]).
//
// A [Keyring] holds the master keys: the first seals, every one opens, so
// a master key can be replaced by putting the new one first and keeping
// the old one until every tenant has rotated its signing key. A sealed key
// names the master key that sealed it and is bound to its tenant and key
// id: ciphertext copied to another tenant or key does not open.
package signing

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/clavisiam/clavis/domain/tenant"
)

// MasterKeySize is the size of a master key in bytes (AES-256).
const MasterKeySize = 32

// ErrSealed is returned when a sealed key does not open: it was sealed
// under a master key this keyring lacks, for another tenant or key id, or
// it was altered.
var ErrSealed = errors.New("signing: sealed key does not open")

// Keyring holds the master keys. It is safe for concurrent use.
type Keyring struct {
	keys []masterKey // keys[0] seals
}

type masterKey struct {
	id        string // hex of rawID
	rawID     []byte
	aead      cipher.AEAD // seals signing keys
	reference []byte      // the key of reference tokens, derived
}

// NewKeyring returns a keyring of the given master keys, each
// [MasterKeySize] random bytes; the first seals.
func NewKeyring(masters ...[]byte) (*Keyring, error) {
	if len(masters) == 0 {
		return nil, errors.New("signing: no master key")
	}
	k := &Keyring{}
	seen := map[string]bool{}
	for i, m := range masters {
		if len(m) != MasterKeySize {
			return nil, fmt.Errorf("signing: master key %d has %d bytes, want %d", i+1, len(m), MasterKeySize)
		}
		block, err := aes.NewCipher(m)
		if err != nil {
			return nil, fmt.Errorf("signing: master key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("signing: master key %d: %w", i+1, err)
		}
		raw := masterID(m)
		id := hex.EncodeToString(raw)
		if seen[id] {
			return nil, fmt.Errorf("signing: master key %d is listed twice", i+1)
		}
		seen[id] = true
		k.keys = append(k.keys, masterKey{id: id, rawID: raw, aead: aead, reference: referenceKey(m)})
	}
	return k, nil
}

// ParseKeyring reads master keys written as base64 (standard or URL
// alphabet, padded or not), separated by commas; the first seals.
func ParseKeyring(s string) (*Keyring, error) {
	var masters [][]byte
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		b, err := decodeBase64(part)
		if err != nil {
			return nil, fmt.Errorf("signing: master key %d is not base64", i+1)
		}
		masters = append(masters, b)
	}
	return NewKeyring(masters...)
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// masterIDSize is the size of a master key's id.
const masterIDSize = 8

// masterID names a master key without revealing it: 8 bytes of a hash.
func masterID(m []byte) []byte {
	h := sha256.Sum256(append([]byte("clavis master key id\x00"), m...))
	return h[:masterIDSize]
}

// ID names the master key that seals (a hash prefix, not the key).
func (k *Keyring) ID() string { return k.keys[0].id }

// Generate makes a new key pair for tenant slug with algorithm alg (one of
// tenant.AlgES256, AlgRS256, AlgEdDSA): its key id is the public key's
// RFC 7638 thumbprint, its public half a JWK with use "sig", its private
// half sealed.
func (k *Keyring) Generate(slug, alg string) (tenant.NewKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case tenant.AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case tenant.AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case tenant.AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return tenant.NewKey{}, fmt.Errorf("signing: unknown algorithm %q", alg)
	}
	if err != nil {
		return tenant.NewKey{}, fmt.Errorf("signing: generate %s key: %w", alg, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return tenant.NewKey{}, fmt.Errorf("signing: thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	jwk, err := pub.MarshalJSON()
	if err != nil {
		return tenant.NewKey{}, fmt.Errorf("signing: public JWK: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return tenant.NewKey{}, fmt.Errorf("signing: encode private key: %w", err)
	}
	return tenant.NewKey{KID: pub.KeyID, Alg: alg, PublicJWK: jwk, Sealed: k.seal(aad(slug, pub.KeyID), der)}, nil
}

// sealVersion starts every sealed key: "v1.{master id}.{nonce and
// ciphertext, base64url}".
const sealVersion = "v1"

func (k *Keyring) seal(aad, plain []byte) string {
	m := k.keys[0]
	nonce := make([]byte, m.aead.NonceSize(), m.aead.NonceSize()+len(plain)+m.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	ct := m.aead.Seal(nonce, nonce, plain, aad)
	return sealVersion + "." + m.id + "." + base64.RawURLEncoding.EncodeToString(ct)
}

// unseal opens what seal sealed with aad; what names the key in errors.
func (k *Keyring) unseal(what, sealed string, aad []byte) ([]byte, error) {
	version, rest, ok1 := strings.Cut(sealed, ".")
	id, body, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || version != sealVersion {
		return nil, fmt.Errorf("%s: not a sealed key: %w", what, ErrSealed)
	}
	var m *masterKey
	for i := range k.keys {
		if k.keys[i].id == id {
			m = &k.keys[i]
		}
	}
	if m == nil {
		return nil, fmt.Errorf("%s: sealed under master key %s, which this node does not have: %w", what, id, ErrSealed)
	}
	ct, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(ct) < m.aead.NonceSize() {
		return nil, fmt.Errorf("%s: %w", what, ErrSealed)
	}
	plain, err := m.aead.Open(nil, ct[:m.aead.NonceSize()], ct[m.aead.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, ErrSealed)
	}
	return plain, nil
}

// aad binds a sealed key to its tenant and key id.
func aad(slug, kid string) []byte {
	return []byte("clavis signing key\x00" + slug + "\x00" + kid)
}

// Key is an opened signing key: what a token signer needs.
type Key struct {
	KID string
	Alg string
	// Private is an *ecdsa.PrivateKey, *rsa.PrivateKey or
	// ed25519.PrivateKey, as Alg says.
	Private crypto.Signer
}

// JWK returns the private key as a JWK (with kid and alg), the form JOSE
// signers take.
func (k Key) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Private, KeyID: k.KID, Algorithm: k.Alg, Use: "sig"}
}

// Open opens tenant slug's sealed key. It fails with an error wrapping
// [ErrSealed] when the ciphertext does not open (see ErrSealed), and when
// what it holds is not a private key of key's algorithm matching its
// published public key.
func (k *Keyring) Open(slug string, key tenant.Key) (Key, error) {
	der, err := k.unseal(fmt.Sprintf("key %s of tenant %s", key.KID, slug), key.Sealed, aad(slug, key.KID))
	if err != nil {
		return Key{}, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return Key{}, fmt.Errorf("key %s of tenant %s: %w", key.KID, slug, ErrSealed)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok || !matches(key.Alg, priv) {
		return Key{}, fmt.Errorf("key %s of tenant %s: holds no %s private key: %w", key.KID, slug, key.Alg, ErrSealed)
	}
	var pub jose.JSONWebKey
	if err := pub.UnmarshalJSON(key.PublicJWK); err != nil {
		return Key{}, fmt.Errorf("key %s of tenant %s: public JWK: %w", key.KID, slug, err)
	}
	if !samePublic(pub.Key, priv.Public()) {
		return Key{}, fmt.Errorf("key %s of tenant %s: private key does not match the published one: %w", key.KID, slug, ErrSealed)
	}
	return Key{KID: key.KID, Alg: key.Alg, Private: priv}, nil
}

// matches reports whether priv is a key for alg.
func matches(alg string, priv crypto.Signer) bool {
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		return alg == tenant.AlgES256 && p.Curve == elliptic.P256()
	case *rsa.PrivateKey:
		return alg == tenant.AlgRS256
	case ed25519.PrivateKey:
		return alg == tenant.AlgEdDSA
	}
	return false
}

// samePublic compares two public keys of the kinds Generate makes.
func samePublic(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
