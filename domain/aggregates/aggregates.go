// Package aggregates maps a stream's aggregate type to the domain package
// that owns its events. It is the one place that knows which aggregate
// types the store holds: readers of stored events of any aggregate (the
// public event stream, the audit log) decode and redact them through it.
package aggregates

import (
	"errors"
	"fmt"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/domain/webhook"
)

// The aggregate types, as stream types in the event store.
const (
	Tenant  = "tenant"
	Client  = "client"
	Webhook = "webhook"
)

// Types lists every aggregate type, in a fixed order.
var Types = []string{Tenant, Client, Webhook}

// ErrUnknown matches the error for a stream type no domain package owns.
var ErrUnknown = errors.New("aggregates: unknown aggregate type")

// Decode decodes a stored event of an aggregate of type streamType.
func Decode(streamType, eventType string, schema int, data []byte) (domain.Event, error) {
	switch streamType {
	case Client:
		return client.Decode(eventType, schema, data)
	case Tenant:
		return tenant.Decode(eventType, schema, data)
	case Webhook:
		return webhook.Decode(eventType, schema, data)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknown, streamType)
}

// Redact decodes a stored event of an aggregate of type streamType and
// returns it as r's readers may see it, ready to be encoded as JSON: the
// owning package's Redact decides. An event that has no such form is an
// error, not a guess.
func Redact(streamType, eventType string, schema int, data []byte, r domain.Redaction) (any, error) {
	d, err := Decode(streamType, eventType, schema, data)
	if err != nil {
		return nil, err
	}
	var payload any
	switch streamType {
	case Client:
		payload = client.Redact(d, r)
	case Tenant:
		payload = tenant.Redact(d, r)
	case Webhook:
		payload = webhook.Redact(d, r)
	}
	if payload == nil {
		return nil, fmt.Errorf("aggregates: no redacted form of %s", eventType)
	}
	return payload, nil
}
