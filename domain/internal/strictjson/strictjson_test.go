package strictjson_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/internal/strictjson"
)

// rec has a field of every kind the decoder handles.
type rec struct {
	S     string              `json:"s"`
	N     named               `json:"n"`
	I     int                 `json:"i"`
	B     bool                `json:"b"`
	L     []string            `json:"l"`
	M     map[string]string   `json:"m"`
	ML    map[string][]string `json:"ml"`
	Items []item              `json:"items"`
	Sub   item                `json:"sub"`
	T     time.Time           `json:"t"`
	TP    *time.Time          `json:"tp,omitempty"`
	R     json.RawMessage     `json:"r,omitempty"`
}

type named string

type item struct {
	A string     `json:"a"`
	T *time.Time `json:"t,omitempty"`
}

var itemFields = strictjson.NewFields([]strictjson.Field[item]{
	{Name: "a", Decode: func(d *strictjson.Decoder, v *item) { d.String(&v.A) }},
	{Name: "t", Decode: func(d *strictjson.Decoder, v *item) { d.TimePtr(&v.T) }},
}...)

func decodeItem(d *strictjson.Decoder, v *item) { strictjson.Object(d, v, itemFields) }

func strs(d *strictjson.Decoder, v *[]string) { strictjson.Slice(d, v, (*strictjson.Decoder).String) }

var recFields = strictjson.NewFields([]strictjson.Field[rec]{
	{Name: "s", Decode: func(d *strictjson.Decoder, v *rec) { d.String(&v.S) }},
	{Name: "n", Decode: func(d *strictjson.Decoder, v *rec) { d.String((*string)(&v.N)) }},
	{Name: "i", Decode: func(d *strictjson.Decoder, v *rec) { d.Int(&v.I) }},
	{Name: "b", Decode: func(d *strictjson.Decoder, v *rec) { d.Bool(&v.B) }},
	{Name: "l", Decode: func(d *strictjson.Decoder, v *rec) { strs(d, &v.L) }},
	{Name: "m", Decode: func(d *strictjson.Decoder, v *rec) { strictjson.Map(d, &v.M, (*strictjson.Decoder).String) }},
	{Name: "ml", Decode: func(d *strictjson.Decoder, v *rec) { strictjson.Map(d, &v.ML, strs) }},
	{Name: "items", Decode: func(d *strictjson.Decoder, v *rec) { strictjson.Slice(d, &v.Items, decodeItem) }},
	{Name: "sub", Decode: func(d *strictjson.Decoder, v *rec) { decodeItem(d, &v.Sub) }},
	{Name: "t", Decode: func(d *strictjson.Decoder, v *rec) { d.Time(&v.T) }},
	{Name: "tp", Decode: func(d *strictjson.Decoder, v *rec) { d.TimePtr(&v.TP) }},
	{Name: "r", Decode: func(d *strictjson.Decoder, v *rec) { d.Raw(&v.R) }},
}...)

// agree decodes data with the fast path and with domain.DecodeStrict, the
// reference, fails the test when the fast path accepts what the reference
// refuses or decodes a different value, and reports whether the fast path
// accepted data.
func agree(t *testing.T, data []byte) bool {
	t.Helper()
	var fast, ref rec
	ok := strictjson.Decode(data, &fast, recFields)
	err := domain.DecodeStrict(data, &ref)
	if ok && err != nil {
		t.Fatalf("fast path accepts what encoding/json refuses (%v): %q", err, data)
	}
	if ok && !reflect.DeepEqual(fast, ref) {
		t.Fatalf("fast path decodes %q to\n%#v\nencoding/json to\n%#v", data, fast, ref)
	}
	return ok
}

const full = `{"s":"plain","n":"named","i":-42,"b":true,"l":["a","b"],"m":{"k":"v"},` +
	`"ml":{"k":["x"]},"items":[{"a":"1"},{"a":"2","t":"2026-01-02T03:04:05.123456Z"}],` +
	`"sub":{"a":"s"},"t":"2026-01-02T03:04:05Z","tp":"2026-01-02T03:04:05+01:00",` +
	`"r":{"keys":[{"kty":"EC","n":1.5e3,"x":[true,false,null,"\u00e9"]}]}}`

// TestAccepts lists payloads the fast path must decode itself, exactly as
// encoding/json does.
func TestAccepts(t *testing.T) {
	t.Parallel()
	for _, data := range []string{
		full,
		`{}`,
		" \t\r\n{ \"s\" : \"x\" , \"i\" : 0 } \n",
		"\u00a0\v{}\u0085", // bytes.TrimSpace trims Unicode space, as DecodeStrict does
		`{"s":"esc \" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u20ac \ud83d\ude00 <&>"}`,
		`{"s":"ünïcödé 😀 \u2028"}`,
		`{"s":"\ufffd"}`,
		`{"s":null,"n":null,"i":null,"b":null,"l":null,"m":null,"ml":null,"items":null,"sub":null,"t":null,"tp":null}`,
		`{"r":null}`,
		`{"r":"str"}`,
		`{"r": [ 1 , {"a" : -0.5E+2} ] }`,
		`{"l":[],"m":{},"ml":{},"items":[]}`,
		`{"l":["a",null,"b"],"m":{"a":null,"a":"last"},"ml":{"k":null,"e":[]},"items":[null,{}]}`,
		`{"i":9223372036854775807}`,
		`{"i":-0}`,
		`{"b":false}`,
		`{"sub":null,"items":[{"t":null}]}`,
		// Unknown-looking members inside a raw value are its content.
		`{"r":{"unknown":{"deep":[[[]]]}}}`,
	} {
		if !agree(t, []byte(data)) {
			t.Errorf("fast path gives up on %s", data)
		}
	}
}

// TestGivesUp lists payloads the fast path must leave to encoding/json:
// every error, and whatever encoding/json decodes in its own way.
func TestGivesUp(t *testing.T) {
	t.Parallel()
	for _, data := range []string{
		``,
		`null`,
		`[]`,
		`"x"`,
		`{`,
		`{"s":"x"`,
		`{"s":"x",}`,
		`{"s" "x"}`,
		`{s:"x"}`,
		`{"s":"x"}x`,
		`{"s":"x"}{}`,
		`{"s":"x"} null`,
		`{"unknown":1}`,
		`{"S":"x"}`,                          // encoding/json matches it, ignoring case
		`{"ſ":"x"}`,                          // and this too (U+017F folds to s)
		`{"\u0073":"x"}`,                     // an escaped key
		`{"s":"a","s":"b"}`,                  // a duplicate: encoding/json merges
		`{"items":[{"a":"1"}],"items":[{}]}`, // which keeps old elements
		`{"s":1}`,
		`{"s":"a` + "\xff" + `"}`,           // invalid UTF-8 becomes U+FFFD
		`{"s":"\ud800"}`,                    // a lone surrogate too
		`{"s":"\ud800\u0041"}`,              // not a pair
		`{"s":"\udc00\ud800"}`,              // the wrong order
		`{"s":"\x"}`,                        // a bad escape
		`{"s":"\u12"}`,                      // a short one
		"{\"s\":\"a\tb\"}",                  // a raw control character
		`{"s":"\'"}`,                        // an escape only encoding/json's unquote knows
		`{"i":1.0}`,                         // not an integer
		`{"i":1e2}`,                         // neither
		`{"i":01}`,                          // not JSON
		`{"i":-}`,                           // nor this
		`{"i":9223372036854775808}`,         // too big
		`{"i":"1"}`,                         // a string
		`{"b":1}`,                           // not a bool
		`{"b":tru}`,                         // not JSON
		`{"b":truex}`,                       // nor this
		`{"l":"a"}`,                         // not an array
		`{"l":[1]}`,                         // not strings
		`{"l":["a",]}`,                      // a trailing comma
		`{"m":[]}`,                          // not an object
		`{"m":{"k":1}}`,                     // a number for a string
		`{"sub":[]}`,                        // an array for a struct
		`{"sub":{"x":1}}`,                   // unknown within
		`{"t":"soon"}`,                      // not a time
		`{"t":1}`,                           // not a string
		`{"t":"2026-01-02T03:04:05\u005a"}`, // time.Time does not unescape
		`{"tp":"2026-13-02T03:04:05Z"}`,
		`{"r":}`,
		`{"r":[1,]}`,
		`{"r":{"a"}}`,
		`{"r":01}`,
		`{"r":1.}`,
		`{"r":1e}`,
		`{"r":-}`,
		`{"r":nul}`,
		`{"r":"` + "\xff" + `"}`,
		`{"r":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, // deep
	} {
		if agree(t, []byte(data)) {
			t.Errorf("fast path decodes %q itself", data)
		}
	}
}

// TestRawKeepsBytes checks that a raw value is copied, not aliased.
func TestRawKeepsBytes(t *testing.T) {
	t.Parallel()
	data := []byte(`{"r":{"a" : [1, 2]}}`)
	var v rec
	if !strictjson.Decode(data, &v, recFields) {
		t.Fatal("gave up")
	}
	if string(v.R) != `{"a" : [1, 2]}` {
		t.Fatalf("raw = %s", v.R)
	}
	copy(data, strings.Repeat("x", len(data)))
	if string(v.R) != `{"a" : [1, 2]}` {
		t.Fatalf("raw aliases the input: %s", v.R)
	}
}

func TestNewFieldsRefusesMistakes(t *testing.T) {
	t.Parallel()
	noop := func(*strictjson.Decoder, *item) {}
	for name, list := range map[string][]strictjson.Field[item]{
		"duplicate": {{Name: "a", Decode: noop}, {Name: "a", Decode: noop}},
		"empty":     {{Name: "", Decode: noop}},
		"nil":       {{Name: "a"}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: NewFields did not panic", name)
				}
			}()
			strictjson.NewFields(list...)
		}()
	}
	if got := itemFields.Names(); !reflect.DeepEqual(got, []string{"a", "t"}) {
		t.Errorf("Names() = %q", got)
	}
}

// FuzzDecode checks that whatever the fast path accepts, encoding/json's
// strict Decoder accepts too and decodes to the same value.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte(`{"s":"\ud83d\ude00\u00e9\n","l":[],"m":{"a":null},"r":null}`))
	f.Add([]byte(`{"S":"x","s":"y"}`))
	f.Add([]byte(`{"items":[{"a":"1","t":null}],"sub":null,"i":-0,"b":false}`))
	f.Add([]byte(`{"t":"2026-01-02T03:04:05.999999999-07:00","tp":null}`))
	f.Add([]byte(`{"r":[{"a":[1e5,-0.1,true,"x\"y"]},[]]}`))
	f.Fuzz(func(t *testing.T, data []byte) { agree(t, data) })
}
