package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// macForm is how refresh tokens and authorization codes are written, each
// kind with a prefix and a key of its own:
//
//	{prefix}{payload}.{mac}
//
// payload and mac are unpadded base64url, mac an HMAC-SHA-256 of the
// payload under a key derived from the keyring's HMAC secret and the
// kind's label; the rotated secrets' keys still verify. A token has one
// spelling only: a decoder would skip line breaks and a lenient one
// spare bits, so that the same token written otherwise would carry
// another MAC text, name another record, and read as one used before.
type macForm struct {
	prefix string
	// max is the most bytes a token holds after its prefix.
	max int
	// keys are the MAC keys, the current one first.
	keys [][]byte
}

// newMACForm derives the keys of the form of prefix and label from the
// keyring's HMAC secrets, the current one first.
func newMACForm(prefix, label string, max int, secrets ...[]byte) macForm {
	return macForm{prefix: prefix, max: max, keys: deriveKeys(label, secrets...)}
}

// deriveKeys are the 32-byte keys of label, one of each of the
// keyring's HMAC secrets, in their order (the current one first).
func deriveKeys(label string, secrets ...[]byte) [][]byte {
	keys := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		k := sha256.Sum256(append([]byte(label+"\x00"), s...))
		keys = append(keys, k[:])
	}
	return keys
}

// seal writes payload as a token of the form, returning the token and
// its MAC's text.
func (f macForm) seal(payload []byte) (token, mac string) {
	enc := base64.RawURLEncoding
	mac = enc.EncodeToString(sum(f.keys[0], payload))
	return f.prefix + enc.EncodeToString(payload) + "." + mac, mac
}

// open verifies a token of the form and returns its payload and its
// MAC's text; false for anything else.
func (f macForm) open(token string) (payload []byte, mac string, ok bool) {
	rest, ok := strings.CutPrefix(token, f.prefix)
	if !ok || len(rest) > f.max || strings.ContainsAny(rest, "\r\n") {
		return nil, "", false
	}
	enc := base64.RawURLEncoding.Strict()
	rawPayload, rawMAC, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, "", false
	}
	payload, err := enc.DecodeString(rawPayload)
	if err != nil {
		return nil, "", false
	}
	got, err := enc.DecodeString(rawMAC)
	if err != nil {
		return nil, "", false
	}
	verified := false
	for _, k := range f.keys {
		verified = verified || hmac.Equal(got, sum(k, payload))
	}
	return payload, rawMAC, verified
}

func sum(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return m.Sum(nil)
}
