package strictjson

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// CheckText refuses what encoding/json would quietly turn into U+FFFD,
// the replacement character, instead of refusing it: bytes that are not
// UTF-8, and a \u escape of a UTF-16 surrogate that is not half of a pair
// (RFC 8259 §8.2). A backslash outside a string is a syntax error the
// decoder reports; here it is read as an escape.
func CheckText(raw []byte) error {
	if !utf8.Valid(raw) {
		return errors.New("the body is not UTF-8")
	}
	for i := 0; i+1 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // \x: skip x, which may be a backslash
			continue
		}
		r := hex4(raw[i+2:])
		if !utf16.IsSurrogate(r) {
			continue
		}
		if i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' && utf16.DecodeRune(r, hex4(raw[i+8:])) != utf8.RuneError {
			i += 11 // a high surrogate, then a low one
			continue
		}
		return errors.New("a \\u escape in a string is half of a UTF-16 surrogate pair")
	}
	return nil
}
