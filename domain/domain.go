// Package domain holds what every Clavis aggregate shares: the event contract,
// the validation error that names each bad field, and the stable error slugs
// the HTTP layer maps to RFC 9457 and RFC 6749 answers.
//
// The aggregates themselves live in subpackages ([client], [tenant]) together
// with the scope catalogue ([scope]). Nothing under domain imports anything
// but the standard library: no SQL, NATS, HTTP or logging. Time, identifiers
// and secret hashes are always passed in, so every decision is reproducible.
package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Event is a domain event: a past-tense fact with a stable wire name and a
// schema version. Events are plain structs that encode with encoding/json;
// each aggregate package provides a Decode function that turns a stored
// (type, schema version, JSON) triple back into its event struct.
type Event interface {
	// EventType is the stable wire name, "{aggregate}.{fact}", for example
	// "client.registered".
	EventType() string
	// SchemaVersion is the version of the event's JSON shape. It starts at 1
	// and grows whenever the shape changes incompatibly; decoders keep
	// reading every version they ever wrote.
	SchemaVersion() int
}

// Error is a domain rule violation other than bad input: a stable, machine
// readable Code (a slug such as "client_deleted") and a human message. It
// never carries secret material. Compare with errors.Is against the
// sentinels below; two Errors match when their codes match.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is an *Error with the same Code, so that a
// wrapped or re-worded error still matches its sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinel domain errors. Their codes are part of the public contract.
var (
	// ErrNotFound: the aggregate has no history (never created).
	ErrNotFound = &Error{Code: "not_found", Message: "not found"}
	// ErrAlreadyExists: a create command on an aggregate that has history.
	ErrAlreadyExists = &Error{Code: "already_exists", Message: "already exists"}
	// ErrDeleted: a command on a tombstoned aggregate.
	ErrDeleted = &Error{Code: "deleted", Message: "has been deleted"}
	// ErrSecretNotFound: a secret id that the client does not hold.
	ErrSecretNotFound = &Error{Code: "secret_not_found", Message: "secret not found"}
	// ErrLastSecret: revoking the last usable secret of a client whose
	// authentication method needs one.
	ErrLastSecret = &Error{Code: "last_secret", Message: "cannot revoke the last active secret of a client that authenticates with a secret; rotate it instead"}
	// ErrTenantSuspended: a command that a suspended tenant may not run.
	ErrTenantSuspended = &Error{Code: "tenant_suspended", Message: "tenant is suspended"}
	// ErrUnknownEvent: a stored event whose type or schema version no
	// decoder knows. Loading such a stream fails instead of guessing.
	ErrUnknownEvent = &Error{Code: "unknown_event", Message: "unknown event type or schema version"}
	// ErrCorruptEvent: a stored event whose payload does not decode.
	ErrCorruptEvent = &Error{Code: "corrupt_event", Message: "corrupt event payload"}
)

// ErrValidation matches every *ValidationError with errors.Is.
var ErrValidation = errors.New("validation failed")

// FieldError is one invalid input, addressed by its JSON field path
// ("redirect_uris[2]", "metadata.team"), with a stable Code ("required",
// "invalid_uri", "too_long", …) and a message for people.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// ValidationError lists every invalid field of one command at once, so a
// caller can fix them all in one go.
type ValidationError struct {
	Fields []*FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "validation failed: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrValidation) true for every ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// Problems collects field errors while a command validates its input.
// The zero value is ready to use.
type Problems struct {
	fields []*FieldError
}

// Add records that field is invalid.
func (p *Problems) Add(field, code, format string, args ...any) {
	p.fields = append(p.fields, &FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

// Merge records every field error of err under prefix when err is a
// *ValidationError or *FieldError, and reports whether it did.
func (p *Problems) Merge(prefix string, err error) bool {
	var ve *ValidationError
	var fe *FieldError
	switch {
	case errors.As(err, &ve):
		for _, f := range ve.Fields {
			p.Add(join(prefix, f.Field), f.Code, "%s", f.Message)
		}
		return true
	case errors.As(err, &fe):
		p.Add(join(prefix, fe.Field), fe.Code, "%s", fe.Message)
		return true
	}
	return false
}

func join(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "" || strings.HasPrefix(field, "["):
		return prefix + field
	default:
		return prefix + "." + field
	}
}

// Len is the number of problems recorded so far.
func (p *Problems) Len() int { return len(p.fields) }

// Err returns a *ValidationError with every recorded problem, or nil.
func (p *Problems) Err() error {
	if len(p.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: append([]*FieldError(nil), p.fields...)}
}

// Claim is a uniqueness reservation that an event needs in the same
// transaction as its append: a client_id across the platform, a client code
// within its tenant, a tenant slug across the platform. The event store
// turns a taken claim into a typed error and appends nothing.
type Claim struct {
	// Kind names the namespace: "client_id", "client_code", "tenant_slug".
	Kind string
	// Value is the reserved value.
	Value string
	// Global claims are unique across all tenants; the others within the
	// tenant of the stream being appended to.
	Global bool
	// Release gives the value back (a deleted client's code, a renamed code).
	Release bool
}

// Claimer is implemented by events that reserve or release unique values.
type Claimer interface {
	Claims() []Claim
}

// DecodeStrict decodes data, which must be exactly one JSON object, into v,
// refusing unknown fields and trailing data. Aggregate decoders use it: a
// stored event this code wrote never has either, so both mean corruption.
func DecodeStrict(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return errors.New("payload is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
