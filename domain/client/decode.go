package client

import (
	"errors"
	"fmt"

	"github.com/clavisiam/clavis/domain"
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
	if schemaVersion != 1 {
		return nil, unknown(eventType, schemaVersion)
	}
	var (
		e   domain.Event
		err error
	)
	switch eventType {
	case EventTypeRegistered:
		e, err = decodeAs(data, func(v ClientRegistered) error {
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
		e, err = decodeAs(data, func(v ClientUpdated) error { return needAt(v.At) })
	case EventTypeSecretAdded:
		e, err = decodeAs(data, func(v SecretAdded) error {
			if v.Secret.ID == "" {
				return errors.New("secret id is required")
			}
			return needAt(v.At)
		})
	case EventTypeSecretRevoked:
		e, err = decodeAs(data, func(v SecretRevoked) error {
			if v.SecretID == "" {
				return errors.New("secret_id is required")
			}
			return needAt(v.At)
		})
	case EventTypeSecretRotated:
		e, err = decodeAs(data, func(v SecretRotated) error {
			if v.New.ID == "" {
				return errors.New("new secret id is required")
			}
			return needAt(v.At)
		})
	case EventTypeActivated:
		e, err = decodeAs(data, func(v ClientActivated) error { return needAt(v.At) })
	case EventTypeDeactivated:
		e, err = decodeAs(data, func(v ClientDeactivated) error { return needAt(v.At) })
	case EventTypeDeleted:
		e, err = decodeAs(data, func(v ClientDeleted) error { return needAt(v.At) })
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
func decodeAs[T domain.Event](data []byte, check func(T) error) (domain.Event, error) {
	var v T
	if err := domain.DecodeStrict(data, &v); err != nil {
		return nil, err
	}
	if err := check(v); err != nil {
		return nil, err
	}
	return v, nil
}

func needAt(t interface{ IsZero() bool }) error {
	if t.IsZero() {
		return errors.New("at is required")
	}
	return nil
}
