package oauth

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ory/fosite"
)

// A session kept in a CBOR record comes back with the claims it went in
// with, such that the tokens made of it are the JSON they were when
// sessions were kept as JSON: numbers (integers, floats, the large
// integers JSON reads as floats), nested maps and lists, nulls, strings
// that are not UTF-8, and times to the nanosecond.
func TestSessionRecordKeepsClaims(t *testing.T) {
	var claims map[string]any // as the login application's answer is read
	if err := json.Unmarshal([]byte(`{"n":1,"neg":-3,"f":1.5,"big":12345678901234567890,"tiny":1e-7,
		"nested":{"a":[1,"x",{"b":null,"c":[]}],"d":{}},"t":"2026-01-02T03:04:05Z","ok":true,"s":"caf\u00e9"}`), &claims); err != nil {
		t.Fatal(err)
	}
	claims["bytes"] = "a\xffb"
	sess := newSession()
	sess.UserClaims = claims
	sess.Claims.Subject, sess.Claims.AuthTime = "alice", time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	sess.Claims.Extra["sid"], sess.Claims.JTI = "s-1", "id-1"
	sess.Access.Subject, sess.Access.JTI = "alice", "j-1"
	sess.Access.Extra["permissions"] = []string{"api:read", "api:write"}
	sess.Access.Extra["count"] = 3
	sess.SetExpiresAt(fosite.AccessToken, time.Date(2026, 1, 2, 4, 4, 5, 0, time.FixedZone("", 3600)))

	viaJSON, viaCBOR := newSession(), newSession()
	raw, err := json.Marshal(sess)
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeSession(raw, viaJSON); err != nil {
		t.Fatal(err)
	}
	if raw, err = recordEnc.Marshal(sess); err != nil {
		t.Fatal(err)
	}
	if err := decodeSession(raw, viaCBOR); err != nil {
		t.Fatal(err)
	}
	// JSON as a token holds it, read back: a string that is not UTF-8
	// is written with U+FFFD either way, as the character or escaped.
	asJSON := func(v any) any {
		t.Helper()
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back any
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		return back
	}
	for name, part := range map[string]func(*session) any{
		"session":         func(s *session) any { return s },
		"access token":    func(s *session) any { return s.Access.ToMapClaims() },
		"ID token":        func(s *session) any { return s.Claims.ToMapClaims() },
		"userinfo claims": func(s *session) any { return s.UserClaims },
	} {
		if diff := cmp.Diff(asJSON(part(viaJSON)), asJSON(part(viaCBOR))); diff != "" {
			t.Errorf("%s as JSON, kept as JSON (-) and as CBOR (+):\n%s", name, diff)
		}
	}
	if got := viaCBOR.GetExpiresAt(fosite.AccessToken); !got.Equal(sess.GetExpiresAt(fosite.AccessToken)) {
		t.Errorf("access token expiry %v, want %v", got, sess.GetExpiresAt(fosite.AccessToken))
	}
}

// A record of an unknown format is an error, not an empty record.
func TestRecordOfUnknownFormat(t *testing.T) {
	var g grant
	for _, raw := range [][]byte{nil, {2, 0x80}, []byte("[1]")} {
		if err := decodeRecord(raw, &g); err == nil {
			t.Errorf("record %q decoded", raw)
		}
	}
}
