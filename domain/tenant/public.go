package tenant

import (
	"encoding/json"
	"time"

	"github.com/clavisiam/clavis/domain"
)

// Public returns the payload of e that may leave the platform: the same
// event without secret material. It is what downstream subscribers
// receive. A [SigningKeyAdded] loses its sealed private key: only the
// platform can open it, but ciphertext of a signing key is no one else's
// business; its public JWK stays, since verifiers need it. The other
// tenant events, [LoginURLSet] included, hold no secret and are returned
// as they are; an event of another aggregate yields nil.
func Public(e domain.Event) any {
	switch e := deref(e).(type) {
	case SigningKeyAdded:
		return struct {
			KID        string          `json:"kid"`
			Alg        string          `json:"alg"`
			PublicJWK  json.RawMessage `json:"public_jwk"`
			ActiveFrom time.Time       `json:"active_from"`
			At         time.Time       `json:"at"`
		}{e.KID, e.Alg, e.PublicJWK, e.ActiveFrom, e.At}
	case TenantCreated, TenantRenamed, TenantSuspended, TenantResumed, LoginURLSet, SigningKeyRetired:
		return e
	}
	return nil
}
