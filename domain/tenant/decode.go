package tenant

import (
	"errors"
	"fmt"

	"github.com/clavisiam/clavis/domain"
)

// Decode turns a stored tenant event, given by its type, schema version
// and JSON payload, back into its event struct (a value, not a pointer).
//
// It returns an error wrapping [domain.ErrUnknownEvent], naming the type and
// version, when no decoder knows that pair, and one wrapping
// [domain.ErrCorruptEvent] when the payload is not a single JSON object of
// the event's shape: unknown fields, wrong types, trailing data, a missing
// required value (a slug, a kid, a verifier, a time) or a public JWK that is not an
// object all count as corrupt, because a stream that was written by this
// package never has them. An empty login_url is not missing: it is a
// cleared setting. Decode never panics.
func Decode(eventType string, schemaVersion int, data []byte) (domain.Event, error) {
	var (
		e   domain.Event
		err error
	)
	switch {
	case eventType == EventTypeCreated && schemaVersion == 1:
		var v TenantCreated
		if err = domain.DecodeStrict(data, &v); err == nil && (v.Slug == "" || v.At.IsZero()) {
			err = errors.New("slug and at are required")
		}
		e = v
	case eventType == EventTypeRenamed && schemaVersion == 1:
		var v TenantRenamed
		if err = domain.DecodeStrict(data, &v); err == nil && v.At.IsZero() {
			err = errors.New("at is required")
		}
		e = v
	case eventType == EventTypeSuspended && schemaVersion == 1:
		var v TenantSuspended
		if err = domain.DecodeStrict(data, &v); err == nil && v.At.IsZero() {
			err = errors.New("at is required")
		}
		e = v
	case eventType == EventTypeResumed && schemaVersion == 1:
		var v TenantResumed
		if err = domain.DecodeStrict(data, &v); err == nil && v.At.IsZero() {
			err = errors.New("at is required")
		}
		e = v
	case eventType == EventTypeLoginURLSet && schemaVersion == 1:
		var v LoginURLSet
		if err = domain.DecodeStrict(data, &v); err == nil && v.At.IsZero() {
			err = errors.New("at is required")
		}
		e = v
	case eventType == EventTypeSigningKeyAdded && schemaVersion == 1:
		var v SigningKeyAdded
		if err = domain.DecodeStrict(data, &v); err == nil {
			_, isObject := jwkMembers(v.PublicJWK)
			switch {
			case v.KID == "" || v.Alg == "" || v.Sealed == "" || v.ActiveFrom.IsZero() || v.At.IsZero():
				err = errors.New("kid, alg, sealed_private_key, active_from and at are required")
			case !isObject:
				err = errors.New("public_jwk must be a JSON object")
			}
		}
		e = v
	case eventType == EventTypeSigningKeyRetired && schemaVersion == 1:
		var v SigningKeyRetired
		if err = domain.DecodeStrict(data, &v); err == nil &&
			(v.KID == "" || v.SignsUntil.IsZero() || v.PublishedUntil.IsZero() || v.At.IsZero()) {
			err = errors.New("kid, signs_until, published_until and at are required")
		}
		e = v
	case eventType == EventTypeAuditKeyAdded && schemaVersion == 1:
		var v AuditKeyAdded
		if err = domain.DecodeStrict(data, &v); err == nil &&
			(v.Name == "" || v.Verifier == "" || v.Sealed == "" || v.AddedAt.IsZero()) {
			err = errors.New("name, verifier, sealed and added_at are required")
		}
		e = v
	default:
		return nil, fmt.Errorf("decode event %q schema version %d: %w", eventType, schemaVersion, domain.ErrUnknownEvent)
	}
	if err != nil {
		return nil, fmt.Errorf("decode event %q schema version %d: %w: %v", eventType, schemaVersion, domain.ErrCorruptEvent, err)
	}
	return e, nil
}
