// Package jsonbody decodes the JSON bodies of admin requests into the
// inputs of the command services: strictly (unknown members, members
// whose name matches a field only when case is ignored, trailing data and
// values of the wrong type are refused, never ignored), with errors that
// name the offending member ([Error]). It reads client settings with the
// preset of their type ([Settings]) and the two import formats
// ([Import]: Clavis's own export package and Duende IdentityServer's
// client list).
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
)

// Error is input that is not the JSON a command expects: malformed,
// a value of the wrong type, an unknown member (which is refused, never
// ignored, so that a misspelt setting is not silently lost), or data
// after the value. It never quotes the input.
type Error struct {
	// Field is the JSON path of the offending member, when known
	// ("redirect_uris", "clients[2].settings.foo").
	Field string
	// Unknown is true when Field is a member that is not allowed.
	Unknown bool
	// Err is the decoder's error.
	Err error
}

// Error describes the problem and where it is.
func (e *Error) Error() string {
	switch {
	case e.Unknown:
		return fmt.Sprintf("unknown field %q", e.Field)
	case e.Field != "":
		return fmt.Sprintf("field %q: %v", e.Field, e.Err)
	}
	return e.Err.Error()
}

// Unwrap returns the decoder's error.
func (e *Error) Unwrap() error { return e.Err }

// Decode decodes data, which must hold exactly one JSON value, into v,
// refusing unknown object members at any depth (a member whose name is a
// field's only when case is ignored among them) and trailing data. Its
// errors are *[Error].
func Decode(data []byte, v any) error { return decodeAt("", data, v) }

// decodeAt is Decode for a value found at path prefix.
func decodeAt(prefix string, data []byte, v any) error {
	if err := decodeFoldingAt(prefix, data, v); err != nil {
		return err
	}
	// encoding/json takes "DEFAULT_SCOPES" for default_scopes: a name
	// that is not exactly a field's is unknown here.
	if path, bad := domain.UnknownMember(data, v); bad {
		return &Error{Field: joinPath(prefix, path), Unknown: true, Err: errors.New("unknown field")}
	}
	return nil
}

// decodeFoldingAt is decodeJSONAt matching member names to fields as
// encoding/json does, ignoring case: for foreign formats whose writers
// differ in case (IdentityServer's PascalCase and camelCase).
func decodeFoldingAt(prefix string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(prefix, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Field: prefix, Err: errors.New("unexpected data after the JSON value")}
	}
	return nil
}

// jsonError turns an encoding/json error into a *Error whose Field is
// under prefix.
func jsonError(prefix string, err error) error {
	var je *Error
	if errors.As(err, &je) {
		return &Error{Field: joinPath(prefix, je.Field), Unknown: je.Unknown, Err: je.Err}
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tim *time.ParseError
	switch {
	case errors.As(err, &tim):
		return &Error{Field: prefix, Err: errors.New("a time must be an RFC 3339 string, such as 2030-01-31T12:00:00Z")}
	case errors.As(err, &syn):
		return &Error{Field: prefix, Err: fmt.Errorf("malformed JSON at byte %d: %w", syn.Offset, err)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Field: prefix, Err: fmt.Errorf("the JSON value is missing or cut short: %w", err)}
	case errors.As(err, &typ):
		return &Error{Field: joinPath(prefix, typ.Field), Err: fmt.Errorf("a JSON %s cannot be a %s", typ.Value, describeType(typ.Type))}
	}
	// encoding/json has no type for this one: `json: unknown field "x"`.
	if _, name, ok := strings.Cut(err.Error(), `unknown field "`); ok {
		if name, _, ok := strings.Cut(name, `"`); ok {
			return &Error{Field: joinPath(prefix, name), Unknown: true, Err: err}
		}
	}
	return &Error{Field: prefix, Err: err}
}

// describeType names a Go type the way a JSON user thinks of it.
func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Bool:
		return "boolean"
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}

func joinPath(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	}
	return prefix + "." + field
}

// Settings decodes a client's settings from a JSON object with the
// RFC 7591 member names of [client.Settings]. Members that are absent keep
// the preset of the client's type ([client.DefaultSettings]), so that a
// caller names only what differs, made to agree with the members given
// ([client.Settings.Derive]). Unknown members and trailing data are
// refused (*[Error]). The result is not validated: the commands
// normalise and validate it.
func Settings(data []byte) (client.Settings, error) {
	return decodeSettingsAt("", data)
}

func decodeSettingsAt(prefix string, data []byte) (client.Settings, error) {
	var head struct {
		Type client.Type `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		var typ *json.UnmarshalTypeError
		if !errors.As(err, &typ) || typ.Field != "type" {
			return client.Settings{}, jsonError(prefix, err)
		}
	}
	s := client.DefaultSettings(client.Type(strings.ToLower(strings.TrimSpace(string(head.Type)))))
	if err := decodeAt(prefix, data, &s); err != nil {
		return client.Settings{}, err
	}
	// The preset yields to what the caller wrote (client.Settings.Derive).
	var members map[string]json.RawMessage
	_ = json.Unmarshal(data, &members)
	return s.Derive(func(name string) bool {
		v, ok := members[name]
		return ok && string(bytes.TrimSpace(v)) != "null"
	}), nil
}
