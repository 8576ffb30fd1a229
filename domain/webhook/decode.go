package webhook

import (
	"errors"
	"fmt"

	"github.com/clavisiam/clavis/domain"
)

// Decode turns a stored webhook event, given by its type, schema version
// and JSON payload, back into its event struct (a value). It returns an
// error wrapping [domain.ErrUnknownEvent] for a type and version no
// decoder knows, and one wrapping [domain.ErrCorruptEvent] for a payload
// that is not one JSON object of the event's shape or lacks a required
// value. It never panics.
func Decode(eventType string, schemaVersion int, data []byte) (domain.Event, error) {
	var (
		e   domain.Event
		err error
	)
	if schemaVersion != 1 {
		return nil, fmt.Errorf("decode event %q schema version %d: %w", eventType, schemaVersion, domain.ErrUnknownEvent)
	}
	switch eventType {
	case EventTypeCreated:
		var v Created
		switch err = domain.DecodeStrict(data, &v); {
		case err != nil:
		case v.ID == "" || v.Settings.URL == "" || v.Secret.ID == "" || v.Secret.Sealed == "" || v.At.IsZero():
			err = errors.New("id, settings.url, secret and at are required")
		case v.Slot < 0:
			err = errors.New("slot must not be negative")
		}
		e = v
	case EventTypeUpdated:
		var v Updated
		if err = domain.DecodeStrict(data, &v); err == nil && (v.Settings.URL == "" || v.At.IsZero()) {
			err = errors.New("settings.url and at are required")
		}
		e = v
	case EventTypeSecretRotated:
		var v SecretRotated
		if err = domain.DecodeStrict(data, &v); err == nil && (v.Secret.ID == "" || v.Secret.Sealed == "" || v.PreviousUntil.IsZero() || v.At.IsZero()) {
			err = errors.New("secret, previous_until and at are required")
		}
		e = v
	case EventTypeDeactivated:
		var v Deactivated
		if err = domain.DecodeStrict(data, &v); err == nil && v.At.IsZero() {
			err = errors.New("at is required")
		}
		e = v
	case EventTypeActivated:
		var v Activated
		if err = domain.DecodeStrict(data, &v); err == nil && v.At.IsZero() {
			err = errors.New("at is required")
		}
		e = v
	case EventTypeReplayed:
		var v Replayed
		if err = domain.DecodeStrict(data, &v); err == nil && v.At.IsZero() {
			err = errors.New("at is required")
		}
		e = v
	case EventTypeDeleted:
		var v Deleted
		switch err = domain.DecodeStrict(data, &v); {
		case err != nil:
		case v.At.IsZero():
			err = errors.New("at is required")
		case v.Slot < 0:
			err = errors.New("slot must not be negative")
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
