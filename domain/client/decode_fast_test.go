package client

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/internal/strictjson"
)

// TestFastFieldTables checks that the fast path's tables name exactly the
// JSON members encoding/json knows for each struct, in field order: a
// member too many would let the fast path accept what encoding/json
// refuses as unknown, one too few would make it give up on every event.
func TestFastFieldTables(t *testing.T) {
	t.Parallel()
	check := func(typ reflect.Type, names []string) {
		t.Helper()
		var want []string
		for f := range typ.Fields() {
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if !f.IsExported() || name == "-" || f.Anonymous {
				t.Fatalf("%s.%s: the tables know only exported, tagged, non-embedded fields", typ.Name(), f.Name)
			}
			if name == "" {
				name = f.Name
			}
			want = append(want, name)
		}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("fast path table of %s:\n got %q\nwant %q", typ.Name(), names, want)
		}
	}
	check(reflect.TypeFor[Settings](), settingsFields.Names())
	check(reflect.TypeFor[Secret](), secretFields.Names())
	check(reflect.TypeFor[SecretExpiry](), secretExpiryFields.Names())
	check(reflect.TypeFor[Claim](), claimFields.Names())
	check(reflect.TypeFor[ClientRegistered](), registeredFields.Names())
	check(reflect.TypeFor[ClientUpdated](), updatedFields.Names())
	check(reflect.TypeFor[SecretAdded](), secretAddedFields.Names())
	check(reflect.TypeFor[SecretRevoked](), secretRevokedFields.Names())
	check(reflect.TypeFor[SecretRotated](), secretRotatedFields.Names())
	check(reflect.TypeFor[ClientActivated](), activatedFields.Names())
	check(reflect.TypeFor[ClientDeactivated](), deactivatedFields.Names())
	check(reflect.TypeFor[ClientDeleted](), deletedFields.Names())
}

// fill sets every field of v, recursively, to a distinct non-zero value,
// with strings that need escaping and non-ASCII text.
func fill(v reflect.Value, n *int) {
	*n++
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, *n*1000, time.UTC)))
		return
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		v.SetBytes([]byte(fmt.Sprintf(`{"keys":[{"kty":"EC","n":%d,"x":"é\u0026"}]}`, *n)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("value %d <&> \"q\" \\ é 😀 \n\t\u2028", *n))
	case reflect.Int:
		v.SetInt(int64(*n) * 1000)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, n)
			fill(e, n)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	default:
		panic("fill: unexpected kind " + v.Kind().String())
	}
}

// fastRoundTrip encodes e, checks that the fast path decodes it without
// giving up, to e itself and to what encoding/json decodes, and returns
// the encoding.
func fastRoundTrip[T domain.Event](t testing.TB, e T, fields *strictjson.Fields[T]) []byte {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var fast, ref T
	if !strictjson.Decode(data, &fast, fields) {
		t.Fatalf("fast path gives up on %s %s", e.EventType(), data)
	}
	if err := domain.DecodeStrict(data, &ref); err != nil {
		t.Fatalf("encoding/json refuses %s: %v", data, err)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("%s: fast path decodes\n%#v\nencoding/json\n%#v", e.EventType(), fast, ref)
	}
	if !reflect.DeepEqual(fast, e) {
		t.Fatalf("%s does not round-trip:\n got %#v\nwant %#v", e.EventType(), fast, e)
	}
	return data
}

func filled[T any]() T {
	var v T
	n := 0
	fill(reflect.ValueOf(&v).Elem(), &n)
	return v
}

// writtenEvents returns one payload of each event type as this package
// writes it, every field set, and a realistic registration and update.
func writtenEvents(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{
		EventTypeRegistered:    fastRoundTrip(t, filled[ClientRegistered](), registeredFields),
		EventTypeUpdated:       fastRoundTrip(t, filled[ClientUpdated](), updatedFields),
		EventTypeSecretAdded:   fastRoundTrip(t, filled[SecretAdded](), secretAddedFields),
		EventTypeSecretRevoked: fastRoundTrip(t, filled[SecretRevoked](), secretRevokedFields),
		EventTypeSecretRotated: fastRoundTrip(t, filled[SecretRotated](), secretRotatedFields),
		EventTypeActivated:     fastRoundTrip(t, filled[ClientActivated](), activatedFields),
		EventTypeDeactivated:   fastRoundTrip(t, filled[ClientDeactivated](), deactivatedFields),
		EventTypeDeleted:       fastRoundTrip(t, filled[ClientDeleted](), deletedFields),
	}
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := DefaultSettings(TypeConfidential)
	s.ClientName, s.Code = "Client 4242", "urn:t042/client-04242"
	s.RedirectURIs = []string{"https://app.example.com/cb?a=1&b=2"}
	s.Metadata = map[string]string{"team": "benchmarks"}
	out["realistic "+EventTypeRegistered] = fastRoundTrip(t, ClientRegistered{ClientID: "c1", Settings: s, Active: true,
		Secrets: []Secret{{ID: "s1", Hash: "sha256$x", CreatedAt: at}}, At: at}, registeredFields)
	out["realistic "+EventTypeUpdated] = fastRoundTrip(t, ClientUpdated{Settings: s, Changed: []string{"client_name"}, At: at}, updatedFields)
	return out
}

// TestFastPathTakesWhatThePackageWrites checks that the fast path decodes
// every event this package writes, whichever fields are set, so that a
// rebuild never pays for encoding/json.
func TestFastPathTakesWhatThePackageWrites(t *testing.T) {
	t.Parallel()
	for name, data := range writtenEvents(t) {
		typ := strings.TrimPrefix(name, "realistic ")
		got, err := decode(typ, 1, data, true)
		want, wantErr := decode(typ, 1, data, false)
		if err != nil || wantErr != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Decode = %v, %v; without the fast path %v, %v", name, got, err, want, wantErr)
		}
	}
}

// TestFastPathAgreesOnOddPayloads checks payloads that encoding/json
// decodes in its own way: the fast path leaves them to it, so Decode
// still accepts, refuses and decodes them exactly as before.
func TestFastPathAgreesOnOddPayloads(t *testing.T) {
	t.Parallel()
	const at = `"at":"2025-01-01T00:00:00Z"`
	for _, tt := range []struct{ typ, data string }{
		{EventTypeActivated, `{"AT":"2025-01-01T00:00:00Z"}`},
		{EventTypeDeleted, `{"code":"a","code":"b",` + at + `}`},
		{EventTypeRegistered, `{"client_id":"c1","secrets":[{"id":"s1","hash":"h"}],"secrets":[{"hash":"x"}],` + at + `}`},
		{EventTypeUpdated, `{"settings":{"metadata":{"a":"1"}},"settings":{"metadata":{"b":"2"}},` + at + `}`},
		{EventTypeDeactivated, `{"reason":"bad \ud800 surrogate",` + at + `}`},
		{EventTypeDeactivated, "{\"reason\":\"bad \xff byte\"," + at + `}`},
		{EventTypeUpdated, `{"settings":{"access_token_lifetime":3.6e3},` + at + `}`},
		{EventTypeUpdated, `{"settings":{"jwks":null},` + at + `}`},
		{EventTypeDeleted, `{"c\u006fde":"x",` + at + `}`},
		{EventTypeActivated, `{` + at + `} `},
		{EventTypeActivated, `{` + at + `} x`},
	} {
		fastEvent, fastErr := decode(tt.typ, 1, []byte(tt.data), true)
		refEvent, refErr := decode(tt.typ, 1, []byte(tt.data), false)
		if fmt.Sprint(fastErr) != fmt.Sprint(refErr) || !reflect.DeepEqual(fastEvent, refEvent) {
			t.Errorf("%s %s:\nDecode                  %#v, %v\nwithout the fast path   %#v, %v", tt.typ, tt.data, fastEvent, fastErr, refEvent, refErr)
		}
	}
}

var eventTypes = []string{
	EventTypeRegistered, EventTypeUpdated, EventTypeSecretAdded, EventTypeSecretRevoked,
	EventTypeSecretRotated, EventTypeActivated, EventTypeDeactivated, EventTypeDeleted,
}

// FuzzFastDecode checks that Decode, with its fast path, accepts and
// refuses exactly what encoding/json's strict decoding alone does, with
// the same error, and decodes the same value.
func FuzzFastDecode(f *testing.F) {
	for name, data := range writtenEvents(f) {
		typ := strings.TrimPrefix(name, "realistic ")
		for i, et := range eventTypes {
			if et == typ {
				f.Add(uint8(i), data)
			}
		}
	}
	f.Add(uint8(0), []byte(`{"client_id":"c1","settings":{"jwks":null},"at":"2025-01-01T00:00:00Z"}`))
	f.Add(uint8(1), []byte(`{"settings":{"Client_Name":"x","metadata":{"a":null}},"changed":[],"at":"2025-01-01T00:00:00Z"}`))
	f.Add(uint8(4), []byte(`{"new":{"id":"s3","hash":"h","expires_at":null},"expiring":[{"secret_id":"s1","expires_at":"2025-01-01T00:00:00Z"}],"at":"2025-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		et := eventTypes[int(typ)%len(eventTypes)]
		fastEvent, fastErr := decode(et, 1, data, true)
		refEvent, refErr := decode(et, 1, data, false)
		if fmt.Sprint(fastErr) != fmt.Sprint(refErr) {
			t.Fatalf("%s %q: Decode error %v, without the fast path %v", et, data, fastErr, refErr)
		}
		if !reflect.DeepEqual(fastEvent, refEvent) {
			t.Fatalf("%s %q: Decode\n%#v\nwithout the fast path\n%#v", et, data, fastEvent, refEvent)
		}
	})
}
