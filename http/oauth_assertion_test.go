package httpapi_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
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
	c, _ := h.newClient(t, "acme", privateKeyJWTClient("urn:acme/signed", map[string]any{"keys": []any{key.Public()}}))
	id := c.ClientID
	sign := func(jti string, extra map[string]any) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, nil)
		if err != nil {
			t.Fatal(err)
		}
		claims := map[string]any{"iss": id, "sub": id, "aud": acmeTokenURL, "jti": jti, "exp": time.Now().Add(time.Minute).Unix()}
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
	t.Run("an assertion within the bounds gets a token", func(t *testing.T) {
		h.tokenCall(t, "acme", assertionForm(sign("jti-1", nil))).want(t, 200)
	})

	big := sign("jti-2", map[string]any{"pad": strings.Repeat("x", oauth.MaxAssertionSize)})
	if len(big) <= oauth.MaxAssertionSize {
		t.Fatalf("the oversized assertion has %d bytes", len(big))
	}
	good := sign("jti-3", nil)
	// The signature of an 8,200-bit key: longer than any accepted key's.
	long := good[:strings.LastIndexByte(good, '.')+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 1025))
	for _, c := range []struct {
		what, assertion, hint string
	}{
		{"an oversized assertion", big, "at most 8192 bytes"},
		{"an over-long signature", long, "signature is longer than any accepted key makes"},
		{"a JSON serialization", `{"payload":"e30","signatures":[]}`, "compact serialization"},
	} {
		t.Run(c.what+" is invalid_client saying why", func(t *testing.T) {
			e := wantOAuthError(t, h.tokenCall(t, "acme", assertionForm(c.assertion)), 401, "invalid_client")
			if !strings.Contains(e.Description, c.hint) {
				t.Errorf("description %q, want it to say %q", e.Description, c.hint)
			}
		})
	}
	t.Run("a good assertion after them still gets a token", func(t *testing.T) {
		h.tokenCall(t, "acme", assertionForm(good)).want(t, 200)
	})
}
