package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// Every record of the grant store (flows, codes, grants, login sessions)
// is written as one version byte, recordCBOR, then the record in CBOR
// (RFC 8949): a refresh decodes and encodes its grant once, and CBOR
// costs a fraction of encoding/json. Records written as JSON by earlier
// versions (their first byte is '{') are still read, so that what a
// node issued before an upgrade (refresh tokens above all) keeps working
// after it.
//
// Maps decode as map[string]any, numbers as float64 when they were
// floats (what encoding/json gives for any JSON number) and as integers
// otherwise, so that claims kept in a record come out of a token as
// JSON exactly as they went in.
const recordCBOR byte = 1

// recordJSON is the first byte of a record written as JSON.
const recordJSON byte = '{'

var (
	recordEnc cbor.UserBufferEncMode
	recordDec cbor.DecMode
)

func init() {
	var err error
	// Times as RFC 3339 text with nanoseconds and offset, as
	// encoding/json writes them: what is read back is the same time.
	if recordEnc, err = (cbor.EncOptions{Time: cbor.TimeRFC3339Nano}).UserBufferEncMode(); err != nil {
		panic(err)
	}
	recordDec, err = cbor.DecOptions{
		DefaultMapType: reflect.TypeFor[map[string]any](),
		// A string is kept as it came (a form value may hold any
		// bytes), as encoding/json keeps it (there, with U+FFFD).
		UTF8: cbor.UTF8DecodeInvalid,
		// As deep as claims may nest in JSON; the size of a record
		// is bounded by the store (Life.MaxSize).
		MaxNestedLevels: 10_000,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// encodeRecord is v as the grant store keeps it: recordCBOR, then v.
func encodeRecord(v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(512)
	buf.WriteByte(recordCBOR)
	if err := recordEnc.MarshalToBuffer(v, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeRecord reads a record into v, whichever way it was written.
func decodeRecord(raw []byte, v any) error {
	if len(raw) == 0 {
		return errors.New("empty record")
	}
	switch raw[0] {
	case recordCBOR:
		return recordDec.Unmarshal(raw[1:], v)
	case recordJSON:
		return json.Unmarshal(raw, v)
	}
	return fmt.Errorf("record of unknown format %#x", raw[0])
}
