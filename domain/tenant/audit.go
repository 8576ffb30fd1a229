package tenant

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clavisiam/clavis/domain"
)

// EventTypeAuditKeyAdded is the wire name of [AuditKeyAdded].
const EventTypeAuditKeyAdded = "tenant.audit_key_added"

// MaxAuditKeyNameLength is the longest audit key name, in bytes.
const MaxAuditKeyNameLength = 200

// auditKeyField is the field path under which problems with a new audit
// key are reported.
const auditKeyField = "audit_key"

// auditKeyAlgEd25519 is the algorithm byte of an Ed25519 key in a signed
// note verifier key, the one algorithm the format defines.
const auditKeyAlgEd25519 = 1

// AuditKeyAdded records that the tenant got a key to sign its audit log's
// checkpoints with, in the signed-note format of
// golang.org/x/mod/sumdb/note. Name is the key's name, which is the log's
// origin; Verifier the public verifier key ("name+hash+base64"); Sealed
// the private signer key as the caller sealed it. The newest key signs;
// the older ones stay, so that the checkpoints they signed keep
// verifying.
type AuditKeyAdded struct {
	Name     string    `json:"name"`
	Verifier string    `json:"verifier"`
	Sealed   string    `json:"sealed"`
	AddedAt  time.Time `json:"added_at"`
}

// EventType returns "tenant.audit_key_added".
func (AuditKeyAdded) EventType() string { return EventTypeAuditKeyAdded }

// SchemaVersion returns 1.
func (AuditKeyAdded) SchemaVersion() int { return 1 }

// String describes the event without the sealed private key.
func (e AuditKeyAdded) String() string {
	return fmt.Sprintf("AuditKeyAdded{Name:%s Verifier:%s Sealed:[REDACTED] AddedAt:%s}",
		e.Name, e.Verifier, e.AddedAt.Format(time.RFC3339))
}

// LogValue implements [slog.LogValuer], logging the event without the
// sealed private key.
func (e AuditKeyAdded) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", e.Name),
		slog.String("verifier", e.Verifier),
		slog.String("sealed", "[REDACTED]"),
		slog.Time("added_at", e.AddedAt),
	)
}

// NewAuditKey is an audit key the caller generated for a tenant. As with
// [NewKey], the private key reaches the domain only sealed.
//
// Problems are reported under "audit_key.name", "audit_key.verifier" and
// "audit_key.sealed".
type NewAuditKey struct {
	// Name is the key's name, the log's origin: non-empty, valid UTF-8,
	// without spaces or '+', at most [MaxAuditKeyNameLength] bytes.
	Name string
	// Verifier is the signed-note verifier key "name+hash+base64" of an
	// Ed25519 key, whose name is Name and whose key hash the tenant has
	// never used.
	Verifier string
	// Sealed is the signer key ("PRIVATE+KEY+..."), encrypted by the
	// caller; opaque and non-empty.
	Sealed string
}

// String describes the key without its sealed private key.
func (k NewAuditKey) String() string {
	return fmt.Sprintf("NewAuditKey{Name:%s Verifier:%s Sealed:[REDACTED]}", k.Name, k.Verifier)
}

// LogValue implements [slog.LogValuer], logging the key without its
// sealed private key.
func (k NewAuditKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", k.Name), slog.String("verifier", k.Verifier), slog.String("sealed", "[REDACTED]"))
}

// AuditKey is one audit key of a tenant, as [Tenant.AuditKeys] reports
// it.
type AuditKey struct {
	// Name is the key's name, the origin of the checkpoints it signs.
	Name string
	// Verifier is the public verifier key, "name+hash+base64".
	Verifier string
	// Hash is the key hash the verifier key names, unique within the
	// tenant.
	Hash uint32
	// Sealed is the private signer key as the caller sealed it.
	Sealed string
	// AddedAt is when the key was added; the newest key is the active one.
	AddedAt time.Time
}

// String describes the key without its sealed private key.
func (k AuditKey) String() string {
	return fmt.Sprintf("AuditKey{Name:%s Verifier:%s Sealed:[REDACTED] AddedAt:%s}", k.Name, k.Verifier, k.AddedAt.Format(time.RFC3339))
}

// LogValue implements [slog.LogValuer], logging the key without its
// sealed private key.
func (k AuditKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", k.Name), slog.String("verifier", k.Verifier),
		slog.String("sealed", "[REDACTED]"), slog.Time("added_at", k.AddedAt))
}

// ValidAuditKeyName reports whether name may name an audit key: what the
// signed-note format allows (non-empty, valid UTF-8, no Unicode space, no
// '+'), at most [MaxAuditKeyNameLength] bytes.
func ValidAuditKeyName(name string) bool {
	return name != "" && len(name) <= MaxAuditKeyNameLength && utf8.ValidString(name) &&
		strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// ParseAuditVerifier reads a signed-note verifier key "name+hash+base64"
// of an Ed25519 key and returns its name and key hash. It accepts what
// golang.org/x/mod/sumdb/note's NewVerifier accepts, with a name of at
// most [MaxAuditKeyNameLength] bytes: the hash is eight hexadecimal
// digits and must be the first four bytes, big-endian, of SHA-256 over
// the name, a newline and the key data (the algorithm byte 1 and the 32
// bytes of the public key).
func ParseAuditVerifier(vkey string) (name string, hash uint32, err error) {
	name, rest, _ := strings.Cut(vkey, "+")
	hex, key64, _ := strings.Cut(rest, "+")
	if !ValidAuditKeyName(name) {
		return "", 0, fmt.Errorf("verifier key has no valid name")
	}
	h, err := strconv.ParseUint(hex, 16, 32)
	if len(hex) != 8 || err != nil {
		return "", 0, fmt.Errorf("verifier key's hash is not 8 hexadecimal digits")
	}
	key, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(key) == 0 {
		return "", 0, fmt.Errorf("verifier key's key data is not base64")
	}
	if key[0] != auditKeyAlgEd25519 || len(key) != 1+32 {
		return "", 0, fmt.Errorf("verifier key is not an Ed25519 key")
	}
	sum := sha256.Sum256(slices.Concat([]byte(name), []byte("\n"), key))
	if binary.BigEndian.Uint32(sum[:4]) != uint32(h) {
		return "", 0, fmt.Errorf("verifier key's hash does not match its name and key")
	}
	return name, uint32(h), nil
}

// AddAuditKey returns an [AuditKeyAdded] for key, which becomes the
// tenant's active audit key at once; the keys before it stay as
// verifiers. key follows the rules of [NewAuditKey]: problems are one
// *[domain.ValidationError] on "audit_key.name" (required, too_long,
// invalid_value), "audit_key.verifier" (required; invalid_value, also
// for a verifier named other than key.Name; duplicate for a key hash the
// tenant has used) and "audit_key.sealed" (required). A suspended tenant may
// add one: auditors still verify its log.
func (t *Tenant) AddAuditKey(key NewAuditKey, now time.Time) ([]domain.Event, error) {
	if err := t.exists(); err != nil {
		return nil, err
	}
	var p domain.Problems
	checkNewAuditKey(&p, key, t.usedAuditKeyHash)
	if err := p.Err(); err != nil {
		return nil, err
	}
	return []domain.Event{AuditKeyAdded{Name: key.Name, Verifier: key.Verifier, Sealed: key.Sealed, AddedAt: at(now)}}, nil
}

// checkNewAuditKey records what is wrong with key under "audit_key.*".
func checkNewAuditKey(p *domain.Problems, key NewAuditKey, used func(uint32) bool) {
	f := auditKeyField + "."
	switch {
	case key.Name == "":
		p.Add(f+"name", "required", "name is required")
	case len(key.Name) > MaxAuditKeyNameLength:
		p.Add(f+"name", "too_long", "name must be at most %d bytes", MaxAuditKeyNameLength)
	case !ValidAuditKeyName(key.Name):
		p.Add(f+"name", "invalid_value", "name must be valid UTF-8 without spaces or '+'")
	}
	if key.Verifier == "" {
		p.Add(f+"verifier", "required", "verifier is required")
	} else if name, hash, err := ParseAuditVerifier(key.Verifier); err != nil {
		p.Add(f+"verifier", "invalid_value", "verifier must be a signed-note Ed25519 verifier key: %v", err)
	} else if name != key.Name {
		p.Add(f+"verifier", "invalid_value", "the verifier key is named %q, not %q", name, key.Name)
	} else if used(hash) {
		p.Add(f+"verifier", "duplicate", "the tenant already has or had an audit key with hash %08x", hash)
	}
	if key.Sealed == "" {
		p.Add(f+"sealed", "required", "sealed is required")
	}
}

// AuditKeys returns a copy of every audit key the tenant holds, in the
// order added: the last one is active, the others verify what they signed.
func (t *Tenant) AuditKeys() []AuditKey { return slices.Clone(t.auditKeys) }

// ActiveAuditKey returns the key that signs the tenant's checkpoints now,
// the newest, and false when the tenant has none (see [ActiveAuditKey]).
func (t *Tenant) ActiveAuditKey() (AuditKey, bool) { return ActiveAuditKey(t.auditKeys) }

// ActiveAuditKey returns the active key of keys, a tenant's audit keys in
// the order added: the last one; false when there is none.
func ActiveAuditKey(keys []AuditKey) (AuditKey, bool) {
	if len(keys) == 0 {
		return AuditKey{}, false
	}
	return keys[len(keys)-1], true
}

// AuditVerifiers returns the verifier keys of keys, a tenant's audit keys
// in the order added, the active one first and then the retired ones,
// newest first.
func AuditVerifiers(keys []AuditKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[len(keys)-1-i] = k.Verifier
	}
	return out
}

func (t *Tenant) usedAuditKeyHash(hash uint32) bool {
	return slices.ContainsFunc(t.auditKeys, func(k AuditKey) bool { return k.Hash == hash })
}

// addAuditKey applies an [AuditKeyAdded], refusing what [Tenant.AddAuditKey]
// would not have decided: a name or verifier that is not valid, a
// verifier of another name, a key hash used before, no sealed key. The
// list is copied on write.
func (t *Tenant) addAuditKey(e AuditKeyAdded) error {
	var p domain.Problems
	checkNewAuditKey(&p, NewAuditKey{Name: e.Name, Verifier: e.Verifier, Sealed: e.Sealed}, t.usedAuditKeyHash)
	if err := p.Err(); err != nil {
		return t.sequenceError(e, err.Error())
	}
	_, hash, _ := ParseAuditVerifier(e.Verifier) // parsed above
	t.auditKeys = append(slices.Clip(t.auditKeys), AuditKey{
		Name: e.Name, Verifier: e.Verifier, Hash: hash, Sealed: e.Sealed, AddedAt: e.AddedAt,
	})
	return nil
}

var (
	_ domain.Event   = AuditKeyAdded{}
	_ slog.LogValuer = AuditKeyAdded{}
)
