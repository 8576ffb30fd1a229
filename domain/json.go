package domain

import (
	"reflect"

	"github.com/clavisiam/clavis/domain/internal/strictjson"
)

// UnknownMember returns the path of the first object member of data
// ("default_scopes", "clients[2].settings.Code") whose name is not
// exactly the JSON name of a field of the struct it decodes into, and
// true; "", false when every name is exact. encoding/json matches member
// names to fields ignoring case, so "DEFAULT_SCOPES" sets the field
// default_scopes even with DisallowUnknownFields: a strict decoder calls
// this after decoding v, to refuse such a member as unknown. Values that
// decode themselves (a json.Unmarshaler), maps' keys and data that do not
// fit v's type are not looked into: the decoder judges those.
func UnknownMember(data []byte, v any) (string, bool) {
	return strictjson.UnknownMember(data, reflect.TypeOf(v))
}

// CheckJSONText refuses what encoding/json would quietly turn into
// U+FFFD, the replacement character, instead of refusing it: bytes that
// are not UTF-8, and a \u escape of a UTF-16 surrogate that is not half
// of a pair (RFC 8259 §8.2). Input checked with it is never stored as
// something else than what was sent. Its errors describe the problem
// without quoting the input.
func CheckJSONText(raw []byte) error { return strictjson.CheckText(raw) }
