// Package strictjson is every walk over JSON text the domain makes, so
// that the rules of what JSON input is taken exactly are written once:
//
//   - [Decode] and its field tables, a fast path for decoding stored
//     events (below);
//   - [UnknownMember], which finds a member whose name matches a field
//     only when case is ignored, which encoding/json takes and a strict
//     decoder refuses;
//   - [CheckText], which finds text encoding/json would silently turn
//     into U+FFFD: bytes that are not UTF-8 and lone UTF-16 surrogates.
//
// Outside the domain these are reached through package domain's API
// (domain.UnknownMember, domain.CheckJSONText).
//
// The fast path is a single-pass JSON reader, driven by hand-written
// field tables, that decodes the payloads an aggregate writes several
// times faster than encoding/json's reflection-driven Decoder.
//
// It never decides that a payload is bad. Whatever it is not certain to
// decode exactly as encoding/json's Decoder with DisallowUnknownFields
// would (the reference, domain.DecodeStrict), it gives up on: Decode then
// reports false and the caller decodes with the reference, which accepts
// or refuses. It gives up on every error (syntax, wrong type, an unknown
// field, trailing data), on anything unusual that encoding/json treats in
// its own way (a key that matches a field only when case is ignored or
// that holds an escape, a key given twice, invalid UTF-8, a lone UTF-16
// surrogate, deep nesting), and on any member its tables do not name. So
// what it accepts is exactly what the reference accepts, decoded to the
// same value; what it gives up on costs a second decode.
//
// A successful decode agrees with encoding/json on every value: null
// leaves a string, number, bool, struct or time.Time alone and sets a
// slice, map or pointer to nil; an empty array gives an empty, non-nil
// slice and an empty object an empty, non-nil map; a json.RawMessage
// holds the value's bytes as they are (null included); times go through
// time.Time.UnmarshalJSON.
package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Field decodes the member Name of a JSON object into a field of a T.
type Field[T any] struct {
	Name   string
	Decode func(d *Decoder, v *T)
}

// maxFields is how many members one object's table may have: the members
// seen are kept in a fixed bit set.
const maxFields = 128

// Fields is the table of the members of a JSON object that decodes into
// a T. Build it once with [NewFields].
type Fields[T any] struct {
	list  []Field[T]
	index map[string]int
}

// NewFields returns the table of list, which should be in the order the
// encoder writes the members (the struct's field order), so that looking
// each one up costs a comparison. It panics on a duplicate or empty name
// or more than 128 fields: those are mistakes in the table.
func NewFields[T any](list ...Field[T]) *Fields[T] {
	if len(list) > maxFields {
		panic(fmt.Sprintf("strictjson: %d fields, at most %d", len(list), maxFields))
	}
	f := &Fields[T]{list: list, index: make(map[string]int, len(list))}
	for i, fl := range list {
		if _, dup := f.index[fl.Name]; dup || fl.Name == "" || fl.Decode == nil {
			panic(fmt.Sprintf("strictjson: bad or duplicate field %q", fl.Name))
		}
		f.index[fl.Name] = i
	}
	return f
}

// Names returns the member names of the table, in its order.
func (f *Fields[T]) Names() []string {
	names := make([]string, len(f.list))
	for i, fl := range f.list {
		names[i] = fl.Name
	}
	return names
}

// Decoder reads one JSON document. Its methods decode one value each into
// their argument; after the Decoder gives up, they do nothing.
type Decoder struct {
	data   []byte
	pos    int
	failed bool
}

// Decode decodes data, which must be one JSON object with nothing but
// white space (as bytes.TrimSpace sees it) around it, into v, a zero
// value, with fields, and reports whether it did. On false v may be partly
// written: the caller zeroes it before decoding again.
func Decode[T any](data []byte, v *T, fields *Fields[T]) bool {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	d := Decoder{data: data}
	Object(&d, v, fields)
	d.skipSpace()
	return !d.failed && d.pos == len(d.data)
}

// fail gives up.
func (d *Decoder) fail() { d.failed = true }

func (d *Decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte, or 0 at the end.
func (d *Decoder) next() byte {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

// literal consumes the literal word (null, true or false). What follows
// it is checked by the caller: only white space, a comma, a closing
// delimiter or the end may.
func (d *Decoder) literal(word string) {
	end := d.pos + len(word)
	if end > len(d.data) || string(d.data[d.pos:end]) != word {
		d.fail()
		return
	}
	d.pos = end
}

// null consumes null if it comes next, and reports whether it did.
func (d *Decoder) null() bool {
	if d.failed || d.next() != 'n' {
		return false
	}
	d.literal("null")
	return !d.failed
}

// Object decodes a JSON object into v with fields; null leaves v alone.
func Object[T any](d *Decoder, v *T, fields *Fields[T]) {
	if d.null() || d.failed {
		return
	}
	if d.next() != '{' {
		d.fail()
		return
	}
	d.pos++
	if d.next() == '}' {
		d.pos++
		return
	}
	var seen [maxFields / 64]uint64
	hint := 0
	for !d.failed {
		key, ok := d.plainKey()
		if !ok {
			d.fail()
			return
		}
		i := hint
		if i >= len(fields.list) || fields.list[i].Name != string(key) {
			if i, ok = fields.index[string(key)]; !ok {
				d.fail() // unknown, or matching only with case folded
				return
			}
		}
		if seen[i/64]&(1<<(i%64)) != 0 {
			d.fail() // encoding/json merges duplicates in its own way
			return
		}
		seen[i/64] |= 1 << (i % 64)
		hint = i + 1
		if d.next() != ':' {
			d.fail()
			return
		}
		d.pos++
		fields.list[i].Decode(d, v)
		if !d.more('}') {
			return
		}
	}
}

// more consumes the comma before another member or element, and reports
// whether there is one, or the closing delimiter and reports false.
func (d *Decoder) more(closing byte) bool {
	if d.failed {
		return false
	}
	switch d.next() {
	case ',':
		d.pos++
		return true
	case closing:
		d.pos++
		return false
	}
	d.fail()
	return false
}

// plainKey reads an object key that holds neither escapes nor anything
// but printable ASCII: the only keys matched exactly by encoding/json
// without unquoting or case folding. Others report false.
func (d *Decoder) plainKey() ([]byte, bool) {
	if d.next() != '"' {
		return nil, false
	}
	start := d.pos + 1
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			return d.data[start:i], true
		case c == '\\' || c < ' ' || c >= utf8.RuneSelf:
			return nil, false
		}
	}
	return nil, false
}

// Slice decodes a JSON array into v, each element with elem; null sets v
// to nil and [] to an empty slice.
func Slice[T any](d *Decoder, v *[]T, elem func(*Decoder, *T)) {
	if d.null() {
		*v = nil
		return
	}
	if d.failed || d.next() != '[' {
		d.fail()
		return
	}
	d.pos++
	if d.next() == ']' {
		d.pos++
		*v = []T{}
		return
	}
	s := make([]T, 0, 4)
	for !d.failed {
		var zero T
		s = append(s, zero)
		elem(d, &s[len(s)-1])
		if !d.more(']') {
			break
		}
	}
	*v = s
}

// Map decodes a JSON object into v, a map with string keys, each value
// with elem; null sets v to nil and {} to an empty map. A key given twice
// keeps its last value, as with encoding/json.
func Map[V any](d *Decoder, v *map[string]V, elem func(*Decoder, *V)) {
	if d.null() {
		*v = nil
		return
	}
	if d.failed || d.next() != '{' {
		d.fail()
		return
	}
	d.pos++
	m := make(map[string]V)
	*v = m
	if d.next() == '}' {
		d.pos++
		return
	}
	for !d.failed {
		var key string
		if d.next() != '"' {
			d.fail()
			return
		}
		d.String(&key)
		if d.failed || d.next() != ':' {
			d.fail()
			return
		}
		d.pos++
		var x V
		elem(d, &x)
		m[key] = x
		if !d.more('}') {
			return
		}
	}
}

// String decodes a JSON string into v; null leaves v alone.
func (d *Decoder) String(v *string) {
	if d.null() || d.failed {
		return
	}
	if d.next() != '"' {
		d.fail()
		return
	}
	start := d.pos + 1
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			*v = string(d.data[start:i])
			return
		case c == '\\' || c < ' ':
			d.escapedString(v, start, i)
			return
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && n == 1 {
				d.fail() // encoding/json would put U+FFFD in its place
				return
			}
			i += n - 1
		}
	}
	d.fail()
}

// escapedString decodes the rest of a string from i, the first escape,
// after the plain bytes from start.
func (d *Decoder) escapedString(v *string, start, i int) {
	b := make([]byte, i-start, i-start+16)
	copy(b, d.data[start:i])
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			*v = string(b)
			return
		case c < ' ':
			d.fail()
			return
		case c == '\\':
			if i+1 >= len(d.data) {
				d.fail()
				return
			}
			switch e := d.data[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(d.data[i+2:])
				if r < 0 {
					d.fail()
					return
				}
				if utf16.IsSurrogate(r) {
					// Only a valid pair; encoding/json replaces a lone
					// surrogate with U+FFFD.
					r2 := rune(-1)
					if i+7 < len(d.data) && d.data[i+6] == '\\' && d.data[i+7] == 'u' {
						r2 = hex4(d.data[i+8:])
					}
					r = utf16.DecodeRune(r, r2)
					if r == utf8.RuneError {
						d.fail()
						return
					}
					i += 6
				}
				b = utf8.AppendRune(b, r)
				i += 4
			default:
				d.fail()
				return
			}
			i += 2
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && n == 1 {
				d.fail()
				return
			}
			b = append(b, d.data[i:i+n]...)
			i += n
		default:
			b = append(b, c)
			i++
		}
	}
	d.fail()
}

// hex4 is the value of the four hex digits that start b, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// Int decodes a JSON integer that fits an int into v; null leaves v
// alone. A fraction or an exponent, which encoding/json refuses for an
// int, gives up.
func (d *Decoder) Int(v *int) {
	if d.null() || d.failed {
		return
	}
	d.skipSpace()
	start := d.pos
	i := start
	if i < len(d.data) && d.data[i] == '-' {
		i++
	}
	switch {
	case i < len(d.data) && d.data[i] == '0':
		i++
	case i < len(d.data) && '1' <= d.data[i] && d.data[i] <= '9':
		for i < len(d.data) && '0' <= d.data[i] && d.data[i] <= '9' {
			i++
		}
	default:
		d.fail()
		return
	}
	if i < len(d.data) {
		switch d.data[i] {
		case ' ', '\t', '\n', '\r', ',', '}', ']':
		default:
			d.fail() // a fraction, an exponent, a leading zero, junk
			return
		}
	}
	n, err := strconv.ParseInt(string(d.data[start:i]), 10, strconv.IntSize)
	if err != nil {
		d.fail()
		return
	}
	d.pos = i
	*v = int(n)
}

// Bool decodes true or false into v; null leaves v alone.
func (d *Decoder) Bool(v *bool) {
	if d.null() || d.failed {
		return
	}
	switch d.next() {
	case 't':
		d.literal("true")
		*v = !d.failed
	case 'f':
		d.literal("false")
		*v = false
	default:
		d.fail()
	}
}

// Time decodes a JSON string into v with time.Time.UnmarshalJSON, as
// encoding/json does; null leaves v alone.
func (d *Decoder) Time(v *time.Time) {
	if d.null() || d.failed {
		return
	}
	raw := d.rawString()
	if d.failed {
		return
	}
	if err := v.UnmarshalJSON(raw); err != nil {
		d.fail()
	}
}

// TimePtr decodes a JSON string into a new time.Time that v points to;
// null sets v to nil.
func (d *Decoder) TimePtr(v **time.Time) {
	if d.null() {
		*v = nil
		return
	}
	t := new(time.Time)
	d.Time(t)
	if !d.failed {
		*v = t
	}
}

// rawString consumes a JSON string and returns it with its quotes,
// unchanged. It gives up on what is not a valid JSON string.
func (d *Decoder) rawString() []byte {
	if d.next() != '"' {
		d.fail()
		return nil
	}
	start := d.pos
	d.skipString()
	if d.failed {
		return nil
	}
	return d.data[start:d.pos]
}

// skipString consumes a JSON string, checking its syntax, without
// decoding it. Invalid UTF-8 gives up too.
func (d *Decoder) skipString() {
	if d.next() != '"' {
		d.fail()
		return
	}
	for i := d.pos + 1; i < len(d.data); {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			return
		case c < ' ':
			d.fail()
			return
		case c == '\\':
			if i+1 >= len(d.data) {
				d.fail()
				return
			}
			switch d.data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if hex4(d.data[i+2:]) < 0 {
					d.fail()
					return
				}
				i += 6
			default:
				d.fail()
				return
			}
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(d.data[i:])
			if r == utf8.RuneError && n == 1 {
				d.fail()
				return
			}
			i += n
		default:
			i++
		}
	}
	d.fail()
}

// maxDepth bounds the nesting of a raw value; deeper ones give up
// (encoding/json refuses more than 10,000 levels).
const maxDepth = 100

// Raw copies a JSON value, any value including null, into v as it is
// written, as json.RawMessage.UnmarshalJSON does.
func (d *Decoder) Raw(v *json.RawMessage) {
	if d.failed {
		return
	}
	d.skipSpace()
	start := d.pos
	d.skipValue(0)
	if d.failed {
		return
	}
	*v = append((*v)[:0], d.data[start:d.pos]...)
}

// skipValue consumes any JSON value, checking its syntax.
func (d *Decoder) skipValue(depth int) {
	if depth > maxDepth {
		d.fail()
		return
	}
	switch d.next() {
	case '{':
		d.pos++
		if d.next() == '}' {
			d.pos++
			return
		}
		for !d.failed {
			d.skipString()
			if d.failed || d.next() != ':' {
				d.fail()
				return
			}
			d.pos++
			d.skipValue(depth + 1)
			if !d.more('}') {
				return
			}
		}
	case '[':
		d.pos++
		if d.next() == ']' {
			d.pos++
			return
		}
		for !d.failed {
			d.skipValue(depth + 1)
			if !d.more(']') {
				return
			}
		}
	case '"':
		d.skipString()
	case 't':
		d.literal("true")
	case 'f':
		d.literal("false")
	case 'n':
		d.literal("null")
	default:
		d.number()
	}
}

// number consumes a JSON number.
func (d *Decoder) number() {
	i := d.pos
	digits := func() bool {
		from := i
		for i < len(d.data) && '0' <= d.data[i] && d.data[i] <= '9' {
			i++
		}
		return i > from
	}
	if i < len(d.data) && d.data[i] == '-' {
		i++
	}
	switch {
	case i < len(d.data) && d.data[i] == '0':
		i++
	case !digits():
		d.fail()
		return
	}
	if i < len(d.data) && d.data[i] == '.' {
		i++
		if !digits() {
			d.fail()
			return
		}
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if !digits() {
			d.fail()
			return
		}
	}
	d.pos = i
}
