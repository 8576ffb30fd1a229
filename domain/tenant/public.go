package tenant

import (
	"encoding/json"
	"time"

	"github.com/clavisiam/clavis/domain"
)

// Redacted stands in for a sealed private key in a tenant event shown at
// [domain.RedactHistory].
const Redacted = "[REDACTED]"

// Redact returns e as r's readers may see it ([domain.Redaction]): a
// [SigningKeyAdded] keeps its public JWK, which verifiers need, and loses
// its sealed private key, replaced by [Redacted] for
// [domain.RedactHistory] and left out for [domain.RedactPublic] (and any
// level this version does not know): only the platform can open it, but
// ciphertext of a signing key is no one else's business. An
// [AuditKeyAdded] keeps its name and verifier key, which auditors need,
// and loses its sealed signer key in the same way. The other
// tenant events, [LoginURLSet] included, hold no secret and are returned
// as they are; an event of another aggregate yields nil.
//
// It is the one place that knows which fields of tenant events are
// secret: every reader of redacted events goes through it.
func Redact(e domain.Event, r domain.Redaction) any {
	switch e := deref(e).(type) {
	case SigningKeyAdded:
		if r == domain.RedactHistory {
			e.Sealed = Redacted
			return e
		}
		return struct {
			KID        string          `json:"kid"`
			Alg        string          `json:"alg"`
			PublicJWK  json.RawMessage `json:"public_jwk"`
			ActiveFrom time.Time       `json:"active_from"`
			At         time.Time       `json:"at"`
		}{e.KID, e.Alg, e.PublicJWK, e.ActiveFrom, e.At}
	case AuditKeyAdded:
		if r == domain.RedactHistory {
			e.Sealed = Redacted
			return e
		}
		return struct {
			Name     string    `json:"name"`
			Verifier string    `json:"verifier"`
			AddedAt  time.Time `json:"added_at"`
		}{e.Name, e.Verifier, e.AddedAt}
	case TenantCreated, TenantRenamed, TenantSuspended, TenantResumed, LoginURLSet, SigningKeyRetired:
		return e
	}
	return nil
}
