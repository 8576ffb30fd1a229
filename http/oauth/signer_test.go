package oauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v3"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/tenants/signing"
)

// TestSign checks the JWS signatures sign makes, for every algorithm a
// tenant key has, against go-jose's verification with the public JWK.
func TestSign(t *testing.T) {
	master := make([]byte, signing.MasterKeySize)
	_, _ = rand.Read(master)
	keys, err := signing.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{tenant.AlgES256, tenant.AlgRS256, tenant.AlgEdDSA} {
		nk, err := keys.Generate("acme", alg)
		if err != nil {
			t.Fatal(err)
		}
		opened, err := keys.Open("acme", tenant.Key{KID: nk.KID, Alg: nk.Alg, PublicJWK: nk.PublicJWK, Sealed: nk.Sealed})
		if err != nil {
			t.Fatal(err)
		}
		enc := base64.RawURLEncoding
		input := enc.EncodeToString([]byte(`{"alg":"`+alg+`","kid":"`+nk.KID+`"}`)) + "." + enc.EncodeToString([]byte(`{"sub":"x"}`))
		sig, err := sign(opened, []byte(input))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		jws, err := jose.ParseSigned(input + "." + enc.EncodeToString(sig))
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		var pub jose.JSONWebKey
		if err := pub.UnmarshalJSON(nk.PublicJWK); err != nil {
			t.Fatal(err)
		}
		if payload, err := jws.Verify(pub); err != nil || !strings.Contains(string(payload), `"sub":"x"`) {
			t.Errorf("%s: verify: %v", alg, err)
		}
		// A key whose algorithm is not its kind's signs nothing.
		wrong := opened
		wrong.Alg = map[string]string{tenant.AlgES256: "ES384", tenant.AlgRS256: "PS256", tenant.AlgEdDSA: "Ed25519"}[alg]
		if _, err := sign(wrong, []byte(input)); err == nil {
			t.Errorf("%s key signed as %s", alg, wrong.Alg)
		}
	}
}

// TestES256IsDeterministic checks that ES256 signatures are RFC 6979's
// (deterministic, with SHA-256): its test vector A.2.5 for the message
// "sample", and the same signature twice for the same input.
func TestES256IsDeterministic(t *testing.T) {
	d, _ := hex.DecodeString("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721")
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		t.Fatal(err)
	}
	key := signing.Key{KID: "rfc6979", Alg: tenant.AlgES256, Private: priv}
	sig, err := sign(key, []byte("sample"))
	if err != nil {
		t.Fatal(err)
	}
	want := "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716" +
		"F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
	if got := strings.ToUpper(hex.EncodeToString(sig)); got != want {
		t.Errorf("signature of \"sample\":\n got %s\nwant %s", got, want)
	}
	again, err := sign(key, []byte("sample"))
	if err != nil || !bytes.Equal(again, sig) {
		t.Errorf("second signature differs: %x %v", again, err)
	}
}

// TestRawECDSA checks the conversion of ASN.1 signatures to JWS's r‖s:
// short integers are padded, a leading zero octet is dropped, and
// anything else is refused.
func TestRawECDSA(t *testing.T) {
	der := func(r, s []byte) []byte {
		var b cryptobyte.Builder
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(r) })
			b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(s) })
		})
		return b.BytesOrPanic()
	}
	full := bytes.Repeat([]byte{0xff}, 32)
	got, err := rawECDSA(der(append([]byte{0}, full...), []byte{1, 2}), 32)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, full...), make([]byte, 30)...)
	want = append(want, 1, 2)
	if !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
	for name, bad := range map[string][]byte{
		"empty":          nil,
		"too long":       der(append([]byte{1}, full...), []byte{1}),
		"trailing bytes": append(der([]byte{1}, []byte{1}), 0),
		"truncated":      der([]byte{1}, []byte{1})[:5],
	} {
		if _, err := rawECDSA(bad, 32); err == nil {
			t.Errorf("%s: accepted %x", name, bad)
		}
	}
}

// TestEncodedHeader checks the JWS headers compactJWS writes: the key's
// alg and kid, typ JWT unless the header names one, every other header
// parameter; and that a cached header is not confused with another.
func TestEncodedHeader(t *testing.T) {
	p := &Provider{}
	es := signing.Key{KID: "k1", Alg: tenant.AlgES256}
	ed := signing.Key{KID: "k2", Alg: tenant.AlgEdDSA}
	for _, tc := range []struct {
		key    signing.Key
		header map[string]any
		want   string
	}{
		{es, map[string]any{"typ": "at+jwt"}, `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`},
		{es, nil, `{"alg":"ES256","kid":"k1","typ":"JWT"}`},
		{es, map[string]any{"typ": "at+jwt"}, `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`},
		{ed, map[string]any{"typ": "at+jwt"}, `{"alg":"EdDSA","kid":"k2","typ":"at+jwt"}`},
		{es, map[string]any{"typ": "at+jwt", "cty": "x"}, `{"alg":"ES256","cty":"x","kid":"k1","typ":"at+jwt"}`},
		{es, map[string]any{"kid": "forged", "alg": "none"}, `{"alg":"ES256","kid":"k1","typ":"JWT"}`},
		{es, map[string]any{"typ": "at+jwt"}, `{"alg":"ES256","kid":"k1","typ":"at+jwt"}`},
	} {
		enc, err := p.encodedHeader(tc.key, tc.header)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(string(enc))
		if err != nil || string(raw) != tc.want {
			t.Errorf("header %v with %s: got %s (%v), want %s", tc.header, tc.key.KID, raw, err, tc.want)
		}
	}
}
