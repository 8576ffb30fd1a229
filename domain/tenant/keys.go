package tenant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"github.com/clavisiam/clavis/domain"
)

// Signing algorithms a tenant may sign tokens with (RFC 7518 §3.1,
// RFC 8037 §3.1). The names are the JOSE "alg" values, case-sensitive.
const (
	// AlgES256 is ECDSA with P-256 and SHA-256: the default for new keys,
	// short signatures and fast signing.
	AlgES256 = "ES256"
	// AlgRS256 is RSASSA-PKCS1-v1_5 with SHA-256, for relying parties that
	// only verify RSA.
	AlgRS256 = "RS256"
	// AlgEdDSA is EdDSA, with Ed25519 keys.
	AlgEdDSA = "EdDSA"
)

// MaxKIDLength is the longest key id.
const MaxKIDLength = 128

// signingKeyField is the field path under which problems with a new key
// are reported.
const signingKeyField = "signing_key"

// kidPattern is a key id: 1..128 characters of [A-Za-z0-9_-], so that it
// can appear verbatim in a JWT header, a JWKS and a URL path segment.
var kidPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// algs are the values [NewKey.Alg] may take.
var algs = []string{AlgES256, AlgRS256, AlgEdDSA}

// ValidAlg reports whether alg is one a tenant may sign with.
func ValidAlg(alg string) bool { return slices.Contains(algs, alg) }

// privateJWKMembers are JWK members that carry private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1). The public key a tenant
// publishes must have none of them.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// NewKey is a signing key the caller generated for a tenant. The private
// key never reaches the domain in the clear: the caller encrypts it and
// hands over the result, which the domain stores as an opaque string.
//
// Problems are reported under "signing_key.kid", "signing_key.alg",
// "signing_key.public_jwk" and "signing_key.sealed_private_key".
type NewKey struct {
	// KID is the key id, unique among the tenant's keys, ever: 1..128
	// characters of [A-Za-z0-9_-].
	KID string
	// Alg is one of [AlgES256], [AlgRS256] and [AlgEdDSA]. It is required:
	// it must match the key material, which the domain cannot inspect.
	Alg string
	// PublicJWK is the public key as a JWK JSON object. It must hold no
	// private or symmetric key material ("d", "p", "q", "dp", "dq", "qi",
	// "oth", "k"). It is stored compacted.
	PublicJWK json.RawMessage
	// Sealed is the private key, encrypted by the caller; opaque and
	// non-empty.
	Sealed string
}

// String describes the key without its sealed private key, so that
// printing it never writes key material to a log.
func (k NewKey) String() string {
	return fmt.Sprintf("NewKey{KID:%s Alg:%s Sealed:[REDACTED]}", k.KID, k.Alg)
}

// LogValue implements [slog.LogValuer], logging the key without its sealed
// private key.
func (k NewKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", k.KID), slog.String("alg", k.Alg), slog.String("sealed_private_key", "[REDACTED]"))
}

// Key is one signing key of a tenant, as [Tenant.Keys] reports it.
//
// A key is published in the tenant's JWKS from AddedAt until
// PublishedUntil, and signs from ActiveFrom until SignsUntil; zero
// SignsUntil and PublishedUntil mean open-ended (the key is not retired).
// A retired key stays published for the longest token lifetime after it
// stops signing, so that every token it signed can still be verified.
type Key struct {
	// KID is the key id, unique within the tenant.
	KID string
	// Alg is the JOSE algorithm the key signs with.
	Alg string
	// PublicJWK is the public key as a JWK object, compacted.
	PublicJWK json.RawMessage
	// Sealed is the private key as the caller encrypted it.
	Sealed string
	// AddedAt is when the key was added and first published.
	AddedAt time.Time
	// ActiveFrom is when the key starts signing.
	ActiveFrom time.Time
	// SignsUntil is when the key stops signing; zero until it is retired.
	SignsUntil time.Time
	// PublishedUntil is when the key leaves the JWKS; zero until it is
	// retired.
	PublishedUntil time.Time
}

// SignsAt reports whether the key may sign at t: it is active from
// ActiveFrom (inclusive) until SignsUntil (exclusive).
func (k Key) SignsAt(t time.Time) bool {
	return !k.ActiveFrom.After(t) && (k.SignsUntil.IsZero() || t.Before(k.SignsUntil))
}

// PublishedAt reports whether the key belongs in the JWKS at t: it is
// published until PublishedUntil (exclusive), including before it starts
// signing, so that verifiers know it in advance.
func (k Key) PublishedAt(t time.Time) bool {
	return k.PublishedUntil.IsZero() || t.Before(k.PublishedUntil)
}

// Retired reports whether the key has been given an end: it will sign
// nothing after SignsUntil.
func (k Key) Retired() bool { return !k.SignsUntil.IsZero() }

// String describes the key without its sealed private key.
func (k Key) String() string {
	return fmt.Sprintf("Key{KID:%s Alg:%s Sealed:[REDACTED] ActiveFrom:%s SignsUntil:%s PublishedUntil:%s}",
		k.KID, k.Alg, k.ActiveFrom.Format(time.RFC3339), openEnded(k.SignsUntil), openEnded(k.PublishedUntil))
}

// LogValue implements [slog.LogValuer], logging the key without its sealed
// private key.
func (k Key) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("kid", k.KID), slog.String("alg", k.Alg), slog.String("sealed_private_key", "[REDACTED]"),
		slog.Time("active_from", k.ActiveFrom),
	}
	if k.Retired() {
		attrs = append(attrs, slog.Time("signs_until", k.SignsUntil), slog.Time("published_until", k.PublishedUntil))
	}
	return slog.GroupValue(attrs...)
}

func openEnded(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339)
}

func (k Key) clone() Key {
	k.PublicJWK = bytes.Clone(k.PublicJWK)
	return k
}

// RotateKey returns the events that replace the tenant's signing key by
// key: a [SigningKeyAdded] for key, published at once and signing from
// now+lead, followed by one [SigningKeyRetired] per key that signs or will
// sign without an end, each signing until now+lead and published until
// now+lead+tokenLifetime.
//
// lead is how long verifiers have to fetch the new key before tokens
// signed with it appear: at least the JWKS cache lifetime of relying
// parties, or 0 to switch at once (field "lead", "out_of_range").
// tokenLifetime is the longest lifetime of a token the tenant signs, so
// that every token an old key signed can be verified until it expires; it
// must be positive (field "token_lifetime", "out_of_range"). key follows
// the rules of [NewKey]; its kid must not have been used by the tenant
// before ("signing_key.kid", "duplicate").
//
// A suspended tenant may rotate: rotation is an operator action, not
// tenant traffic. A tenant created before it had signing keys gets its
// first key this way.
func (t *Tenant) RotateKey(key NewKey, lead, tokenLifetime time.Duration, now time.Time) ([]domain.Event, error) {
	if err := t.exists(); err != nil {
		return nil, err
	}
	now = at(now)
	var p domain.Problems
	key = checkNewKey(&p, key, t.usedKID)
	if lead < 0 {
		p.Add("lead", "out_of_range", "lead must not be negative")
	}
	if tokenLifetime <= 0 {
		p.Add("token_lifetime", "out_of_range", "token_lifetime must be positive")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	switchAt := now.Add(lead)
	signsUntil, publishedUntil := at(switchAt), at(switchAt.Add(tokenLifetime))
	events := []domain.Event{SigningKeyAdded{
		KID: key.KID, Alg: key.Alg, PublicJWK: key.PublicJWK, Sealed: key.Sealed,
		ActiveFrom: signsUntil, At: now,
	}}
	for _, k := range t.keys {
		if !k.Retired() {
			events = append(events, SigningKeyRetired{
				KID: k.KID, SignsUntil: signsUntil, PublishedUntil: publishedUntil, At: now,
			})
		}
	}
	return events, nil
}

// Keys returns a copy of every signing key the tenant holds, retired ones
// included, in the order they were added. Changing it does not change the
// tenant.
func (t *Tenant) Keys() []Key {
	if len(t.keys) == 0 {
		return nil
	}
	out := make([]Key, len(t.keys))
	for i, k := range t.keys {
		out[i] = k.clone()
	}
	return out
}

// SigningKey returns the key that signs at now, and false when none does
// (see [Signing]).
func (t *Tenant) SigningKey(now time.Time) (Key, bool) {
	k, ok := Signing(t.keys, now)
	return k.clone(), ok
}

// PublishedKeys returns copies of the keys to publish in the tenant's
// JWKS at now (see [Published]).
func (t *Tenant) PublishedKeys(now time.Time) []Key {
	out := Published(t.keys, now)
	for i := range out {
		out[i] = out[i].clone()
	}
	return out
}

// Signing returns the key of keys, a tenant's keys in the order added,
// that signs at now, and false when none does. When several may sign at
// now (an old key during the lead time of a later rotation that replaced
// the scheduled one, say), the one with the latest ActiveFrom wins, and
// among those the one added last.
func Signing(keys []Key, now time.Time) (Key, bool) {
	best := -1
	for i, k := range keys {
		if k.SignsAt(now) && (best < 0 || !k.ActiveFrom.Before(keys[best].ActiveFrom)) {
			best = i
		}
	}
	if best < 0 {
		return Key{}, false
	}
	return keys[best], true
}

// Published returns the keys of keys to publish in the tenant's JWKS at
// now, in the order added: every key not yet past its PublishedUntil,
// including keys that will only sign later.
func Published(keys []Key, now time.Time) []Key {
	var out []Key
	for _, k := range keys {
		if k.PublishedAt(now) {
			out = append(out, k)
		}
	}
	return out
}

// usedKID reports whether the tenant has ever held a key with this id.
// Keys are never removed, so the key list is the whole history.
func (t *Tenant) usedKID(kid string) bool { return t.keyIndex(kid) >= 0 }

func (t *Tenant) keyIndex(kid string) int {
	return slices.IndexFunc(t.keys, func(k Key) bool { return k.KID == kid })
}

// addKey applies a [SigningKeyAdded]. The key list is copied on write, so
// that a copied Tenant value stays an independent snapshot.
func (t *Tenant) addKey(e SigningKeyAdded) error {
	if t.usedKID(e.KID) {
		return t.sequenceError(e, fmt.Sprintf("signing key %q already added", e.KID))
	}
	k := Key{
		KID: e.KID, Alg: e.Alg, PublicJWK: bytes.Clone(e.PublicJWK), Sealed: e.Sealed,
		AddedAt: e.At, ActiveFrom: e.ActiveFrom,
	}
	t.keys = append(slices.Clip(t.keys), k)
	return nil
}

// retireKey applies a [SigningKeyRetired], copying the key list on write.
func (t *Tenant) retireKey(e SigningKeyRetired) error {
	i := t.keyIndex(e.KID)
	switch {
	case i < 0:
		return t.sequenceError(e, fmt.Sprintf("signing key %q not held", e.KID))
	case t.keys[i].Retired():
		return t.sequenceError(e, fmt.Sprintf("signing key %q already retired", e.KID))
	case e.SignsUntil.IsZero() || e.PublishedUntil.IsZero():
		return t.sequenceError(e, "signs_until and published_until are required")
	case e.SignsUntil.After(e.PublishedUntil):
		return t.sequenceError(e, "signs_until is after published_until")
	}
	keys := slices.Clone(t.keys)
	keys[i].SignsUntil, keys[i].PublishedUntil = e.SignsUntil, e.PublishedUntil
	t.keys = keys
	return nil
}

// checkNewKey records what is wrong with key, under "signing_key.*", and
// returns it with its public JWK in normal form. used reports whether a
// kid is taken; nil means none is.
func checkNewKey(p *domain.Problems, key NewKey, used func(string) bool) NewKey {
	f := signingKeyField + "."
	switch {
	case key.KID == "":
		p.Add(f+"kid", "required", "kid is required")
	case len(key.KID) > MaxKIDLength:
		p.Add(f+"kid", "too_long", "kid must be at most %d characters", MaxKIDLength)
	case !kidPattern.MatchString(key.KID):
		p.Add(f+"kid", "invalid_value", "kid must consist of letters A-Z and a-z, digits, '_' and '-'")
	case used != nil && used(key.KID):
		p.Add(f+"kid", "duplicate", "the tenant already has or had a key with kid %q", key.KID)
	}
	switch {
	case key.Alg == "":
		p.Add(f+"alg", "required", "alg is required")
	case !slices.Contains(algs, key.Alg):
		p.Add(f+"alg", "invalid_value", "alg must be %s, %s or %s", AlgES256, AlgRS256, AlgEdDSA)
	}
	key.PublicJWK = checkPublicJWK(p, f+"public_jwk", key.PublicJWK)
	if key.Sealed == "" {
		p.Add(f+"sealed_private_key", "required", "sealed_private_key is required")
	}
	return key
}

// checkPublicJWK records what is wrong with a public JWK and returns it
// in normal form, compacted as encoding/json writes a json.RawMessage, so
// that an event read back equals the one written. On a problem it returns
// raw unchanged.
func checkPublicJWK(p *domain.Problems, field string, raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		p.Add(field, "required", "public_jwk is required")
		return raw
	}
	members, ok := jwkMembers(raw)
	if !ok {
		p.Add(field, "invalid_value", "public_jwk must be a JSON Web Key object")
		return raw
	}
	for _, m := range privateJWKMembers {
		if _, ok := members[m]; ok {
			p.Add(field, "not_allowed", "public_jwk must not hold private or symmetric key material (%q); pass the public key only", m)
			return raw
		}
	}
	// Marshalling a json.RawMessage compacts it and escapes <, > and &,
	// which is what appending the event will do; raw is valid JSON here.
	if normal, err := json.Marshal(raw); err == nil {
		return normal
	}
	return raw
}

// jwkMembers decodes raw as a JSON object and reports whether it is one.
func jwkMembers(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return nil, false
	}
	return members, true
}
