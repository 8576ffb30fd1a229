package httpapi_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/clavisiam/clavis/http/oauth"
)

// A client assertion is bounded before the node does anything costly
// with it (parsing it, finding its client's key, verifying it): at most
// oauth.MaxAssertionSize bytes, a signature no longer than the largest
// accepted key makes. Assertions over the bounds that are otherwise
// good — correctly signed by the client's registered key — are refused
// with invalid_client saying why, so the bound is checked first.
func TestClientAssertionBounded(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key := jose.JSONWebKey{Key: priv, KeyID: "k1", Algorithm: "RS256", Use: "sig"}
	id := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Signed", "code": "urn:acme/signed",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
		"jwks": map[string]any{"keys": []any{key.Public()}}})["client_id"].(string)
	aud := testIssuer + "acme/oauth2/token"
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {a}}
	}
	sign := func(jti string, extra map[string]any) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		claims := map[string]any{"iss": id, "sub": id, "aud": aud, "jti": jti, "exp": time.Now().Add(time.Minute).Unix()}
		for k, v := range extra {
			claims[k] = v
		}
		b, _ := json.Marshal(claims)
		jws, err := signer.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return s
	}
	h.tokenCall(t, "acme", form(sign("jti-1", nil))).want(t, 200)

	refused := func(what, assertion, hint string) {
		t.Helper()
		r := h.tokenCall(t, "acme", form(assertion))
		wantOAuthError(t, r, 401, "invalid_client")
		if d, _ := r.object(t)["error_description"].(string); !strings.Contains(d, hint) {
			t.Errorf("%s: %s, want a description saying %q", what, r.body, hint)
		}
	}
	big := sign("jti-2", map[string]any{"pad": strings.Repeat("x", oauth.MaxAssertionSize)})
	if len(big) <= oauth.MaxAssertionSize {
		t.Fatalf("the oversized assertion has %d bytes", len(big))
	}
	refused("an oversized assertion", big, "at most 8192 bytes")
	// The signature of an 8,200-bit key: longer than any accepted key's.
	good := sign("jti-3", nil)
	long := good[:strings.LastIndexByte(good, '.')+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 1025))
	refused("an over-long signature", long, "signature is longer than any accepted key makes")
	refused("a JSON serialization", `{"payload":"e30","signatures":[]}`, "compact serialization")
	// Within the bounds it still works.
	h.tokenCall(t, "acme", form(good)).want(t, 200)
}
