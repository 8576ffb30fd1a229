// Package message is how a committed event travels through NATS: on the
// internal stream as its envelope in a header and its data, unchanged, as
// the body; on the public stream as a CloudEvent 1.0 (JSON) with every
// secret removed. Both carry the store position the event was read at,
// which is how the relay resumes and how consumers keep their place. The
// relay encodes; projections and downstream consumers decode.
package message

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/aggregates"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/subject"
)

// Header names on relayed messages.
const (
	// HeaderEvent holds the envelope of an internal message as JSON,
	// without its data, which is the message body byte for byte.
	HeaderEvent = "Clavis-Event"
	// HeaderPosition holds the store position an event was read at, on
	// both streams; the relay resumes from the last one.
	HeaderPosition = "Clavis-Position"
	// HeaderTraceParent carries the W3C trace context of the command.
	HeaderTraceParent = "traceparent"
)

// envelope is the internal message's header: the event without its data.
type envelope struct {
	ID         string              `json:"id"`
	Stream     eventstore.StreamID `json:"stream"`
	Version    int64               `json:"version"`
	Type       string              `json:"type"`
	Schema     int                 `json:"schema"`
	Meta       eventstore.Metadata `json:"meta"`
	Position   eventstore.Position `json:"position"`
	RecordedAt time.Time           `json:"recorded_at"`
}

// Internal encodes e for the internal stream: the envelope in a
// header, the data as the body, unchanged, so that a consumer holds every
// byte the store keeps.
func Internal(names subject.Names, e eventstore.Event) (*nats.Msg, error) {
	head, err := json.Marshal(envelope{e.ID, e.Stream, e.Version, e.Type, e.Schema, e.Meta, e.Position, e.RecordedAt})
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	m := nats.NewMsg(names.InternalSubject(e.Stream.Tenant, e.Type))
	m.Header.Set(HeaderEvent, string(head))
	m.Header.Set(HeaderPosition, e.Position.String())
	if e.Meta.TraceParent != "" {
		m.Header.Set(HeaderTraceParent, e.Meta.TraceParent)
	}
	m.Data = e.Data
	return m, nil
}

// DecodeInternal turns an internal message back into the event.
func DecodeInternal(m *nats.Msg) (eventstore.Event, error) {
	var h envelope
	raw := m.Header.Get(HeaderEvent)
	if raw == "" {
		return eventstore.Event{}, errors.New("message: no " + HeaderEvent + " header")
	}
	if err := json.Unmarshal([]byte(raw), &h); err != nil {
		return eventstore.Event{}, fmt.Errorf("message: decode %s header: %w", HeaderEvent, err)
	}
	e := eventstore.Event{ID: h.ID, Stream: h.Stream, Version: h.Version, Type: h.Type, Schema: h.Schema, Meta: h.Meta, Position: h.Position, RecordedAt: h.RecordedAt}
	e.Data = append(json.RawMessage(nil), m.Data...)
	return e, nil
}

// CloudEvent type prefix and spec version of public events.
const (
	TypePrefix  = "dev.clavis."
	SpecVersion = event.CloudEventsVersionV1
)

// PublicEvent is the CloudEvent downstream subscribers receive for e: its
// data is the event's public form ([client.Redact], [tenant.Redact] at [domain.RedactPublic]), with
// no secret material, not even hashes or sealed keys. Event types this
// version cannot decode are an error rather than a guess.
func PublicEvent(e eventstore.Event) (event.Event, error) {
	payload, err := aggregates.Redact(e.Stream.Type, e.Type, e.Schema, e.Data, domain.RedactPublic)
	subject := e.Stream.Type + "s/" + e.Stream.ID
	if err != nil {
		return event.Event{}, fmt.Errorf("message: public form of event %s: %w", e.ID, err)
	}
	ce := event.New(SpecVersion)
	ce.SetID(e.ID)
	ce.SetSource("/t/" + e.Stream.Tenant)
	ce.SetType(TypePrefix + e.Type)
	ce.SetSubject(subject)
	ce.SetTime(e.Meta.OccurredAt)
	ce.SetExtension("clavistenant", e.Stream.Tenant)
	ce.SetExtension("clavisschema", e.Schema)
	ce.SetExtension("clavisversion", strconv.FormatInt(e.Version, 10))
	ce.SetExtension("clavisposition", e.Position.String())
	if e.Meta.Actor != "" {
		ce.SetExtension("clavisactor", e.Meta.Actor)
	}
	if e.Meta.CorrelationID != "" {
		ce.SetExtension("claviscorrelationid", e.Meta.CorrelationID)
	}
	if e.Meta.TraceParent != "" {
		ce.SetExtension("traceparent", e.Meta.TraceParent)
	}
	if err := ce.SetData(event.ApplicationJSON, payload); err != nil {
		return event.Event{}, fmt.Errorf("message: encode public event %s: %w", e.ID, err)
	}
	if err := ce.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("message: public event %s: %w", e.ID, err)
	}
	return ce, nil
}

// Public encodes e as a structured-mode CloudEvent (JSON) for the
// public stream.
func Public(names subject.Names, e eventstore.Event) (*nats.Msg, error) {
	ce, err := PublicEvent(e)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(ce)
	if err != nil {
		return nil, fmt.Errorf("message: encode public event %s: %w", e.ID, err)
	}
	m := nats.NewMsg(names.PublicSubject(e.Stream.Tenant, e.Type))
	m.Header.Set("Content-Type", "application/cloudevents+json")
	m.Header.Set(HeaderPosition, e.Position.String())
	if e.Meta.TraceParent != "" {
		m.Header.Set(HeaderTraceParent, e.Meta.TraceParent)
	}
	m.Data = body
	return m, nil
}

// PositionOf reads the store position a relayed message carries.
func PositionOf(h nats.Header) (eventstore.Position, error) {
	v := strings.TrimSpace(h.Get(HeaderPosition))
	if v == "" {
		return eventstore.Position{}, errors.New("message: no " + HeaderPosition + " header")
	}
	return eventstore.ParsePosition(v)
}
