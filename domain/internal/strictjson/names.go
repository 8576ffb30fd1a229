package strictjson

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// UnknownMember returns the path of the first object member of data
// ("default_scopes", "clients[2].settings.Code") whose name is not
// exactly the JSON name of a field of the struct of type t (or t's
// element type) it decodes into, and true; "", false when every name is
// exact. encoding/json matches member names to fields ignoring case, so
// "DEFAULT_SCOPES" sets the field default_scopes even with
// DisallowUnknownFields: a strict decoder calls this after decoding, to
// refuse such a member as unknown. Values that decode themselves (a
// json.Unmarshaler), maps' keys and data that do not fit t are not
// looked into: the decoder judges those.
func UnknownMember(data []byte, t reflect.Type) (string, bool) {
	return unknownMember(data, t)
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func unknownMember(data []byte, t reflect.Type) (string, bool) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return "", false
	}
	switch t.Kind() {
	case reflect.Struct:
		var members map[string]json.RawMessage
		if json.Unmarshal(data, &members) != nil {
			return "", false
		}
		fields := jsonFields(t)
		names := make([]string, 0, len(members))
		for name := range members {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			ft, ok := fields[name]
			if !ok {
				return name, true
			}
			if p, bad := unknownMember(members[name], ft); bad {
				return joinMember(name, p), true
			}
		}
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if json.Unmarshal(data, &items) != nil {
			return "", false
		}
		for i, item := range items {
			if p, bad := unknownMember(item, t.Elem()); bad {
				return joinMember("["+strconv.Itoa(i)+"]", p), true
			}
		}
	case reflect.Map:
		var members map[string]json.RawMessage
		if json.Unmarshal(data, &members) != nil {
			return "", false
		}
		names := make([]string, 0, len(members))
		for name := range members {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if p, bad := unknownMember(members[name], t.Elem()); bad {
				return joinMember(name, p), true
			}
		}
	}
	return "", false
}

func joinMember(name, rest string) string {
	if rest == "" || strings.HasPrefix(rest, "[") {
		return name + rest
	}
	return name + "." + rest
}

// jsonFields maps the JSON names of struct type t's fields, as
// encoding/json decodes them (exported fields, tag names, embedded
// structs' fields promoted; "-" skipped), to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for n, ft := range jsonFields(et) {
					if _, taken := out[n]; !taken {
						out[n] = ft
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
