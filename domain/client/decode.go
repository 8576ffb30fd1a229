package client

import (
	"errors"
	"fmt"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/internal/strictjson"
)

// Decode turns a stored client event, given by its type, schema version and
// JSON payload, back into its event struct (a value, not a pointer).
//
// It returns an error wrapping [domain.ErrUnknownEvent], naming the type and
// version, when no decoder knows that pair, and one wrapping
// [domain.ErrCorruptEvent] when the payload is not a single JSON object of
// the event's shape: unknown fields, wrong types, trailing data or a missing
// required value (a client id, a secret id, a time) all count as corrupt,
// because a stream written by this package never has them. Decode never
// panics.
func Decode(eventType string, schemaVersion int, data []byte) (domain.Event, error) {
	return decode(eventType, schemaVersion, data, true)
}

// decode is Decode, with the fast path (see [decodeAs]) or without it:
// the tests hold the two against each other.
func decode(eventType string, schemaVersion int, data []byte, fast bool) (domain.Event, error) {
	if schemaVersion != 1 {
		return nil, unknown(eventType, schemaVersion)
	}
	var (
		e   domain.Event
		err error
	)
	switch eventType {
	case EventTypeRegistered:
		e, err = decodeAs(data, use(fast, registeredFields), func(v *ClientRegistered) error {
			if v.ClientID == "" {
				return errors.New("client_id is required")
			}
			for _, s := range v.Secrets {
				if s.ID == "" {
					return errors.New("secret id is required")
				}
			}
			return needAt(v.At)
		})
	case EventTypeUpdated:
		e, err = decodeAs(data, use(fast, updatedFields), func(v *ClientUpdated) error { return needAt(v.At) })
	case EventTypeSecretAdded:
		e, err = decodeAs(data, use(fast, secretAddedFields), func(v *SecretAdded) error {
			if v.Secret.ID == "" {
				return errors.New("secret id is required")
			}
			return needAt(v.At)
		})
	case EventTypeSecretRevoked:
		e, err = decodeAs(data, use(fast, secretRevokedFields), func(v *SecretRevoked) error {
			if v.SecretID == "" {
				return errors.New("secret_id is required")
			}
			return needAt(v.At)
		})
	case EventTypeSecretRotated:
		e, err = decodeAs(data, use(fast, secretRotatedFields), func(v *SecretRotated) error {
			if v.New.ID == "" {
				return errors.New("new secret id is required")
			}
			return needAt(v.At)
		})
	case EventTypeActivated:
		e, err = decodeAs(data, use(fast, activatedFields), func(v *ClientActivated) error { return needAt(v.At) })
	case EventTypeDeactivated:
		e, err = decodeAs(data, use(fast, deactivatedFields), func(v *ClientDeactivated) error { return needAt(v.At) })
	case EventTypeDeleted:
		e, err = decodeAs(data, use(fast, deletedFields), func(v *ClientDeleted) error { return needAt(v.At) })
	default:
		return nil, unknown(eventType, schemaVersion)
	}
	if err != nil {
		return nil, fmt.Errorf("decode event %q schema version %d: %w: %v", eventType, schemaVersion, domain.ErrCorruptEvent, err)
	}
	return e, nil
}

func unknown(eventType string, schemaVersion int) error {
	return fmt.Errorf("decode event %q schema version %d: %w", eventType, schemaVersion, domain.ErrUnknownEvent)
}

// decodeAs decodes data as exactly one JSON object of type T, refusing
// unknown fields and trailing data, then runs check on it.
//
// With fields it first tries the fast path ([strictjson.Decode]), which
// decodes the payloads this package writes in one pass and gives up on
// anything else; then, and without fields, [domain.DecodeStrict] decides.
// Both give the same value for what the fast path accepts, so the fast
// path changes nothing but the speed: every payload DecodeStrict refuses
// still ends up there and is refused with DecodeStrict's error.
func decodeAs[T domain.Event](data []byte, fields *strictjson.Fields[T], check func(*T) error) (domain.Event, error) {
	var v T
	if fields == nil || !strictjson.Decode(data, &v, fields) {
		var zero T
		v = zero // the fast path may have written part of it
		if err := domain.DecodeStrict(data, &v); err != nil {
			return nil, err
		}
	}
	if err := check(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// use returns fields when fast, and nil (no fast path) otherwise.
func use[T any](fast bool, fields *strictjson.Fields[T]) *strictjson.Fields[T] {
	if !fast {
		return nil
	}
	return fields
}

func needAt(t interface{ IsZero() bool }) error {
	if t.IsZero() {
		return errors.New("at is required")
	}
	return nil
}
