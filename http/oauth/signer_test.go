package oauth

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v3"

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
