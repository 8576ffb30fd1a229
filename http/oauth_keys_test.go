package httpapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	httpapi "github.com/clavisiam/clavis/http"
)

// paddedHugeRSAKey is a public RSA JWK whose modulus has bits bits,
// encoded with a "=" appended: go-jose drops it and reads the whole
// modulus; a strict unpadded decoder reads nothing.
func paddedHugeRSAKey(t *testing.T, bits int) map[string]any {
	t.Helper()
	n := make([]byte, bits/8)
	if _, err := rand.Read(n); err != nil {
		t.Fatal(err)
	}
	n[0] |= 0x80
	n[len(n)-1] |= 1
	return map[string]any{"kty": "RSA", "kid": "big", "use": "sig", "alg": "RS256", "e": "AQAB",
		"n": base64.RawURLEncoding.EncodeToString(n) + "="}
}

// An RSA key over 8,192 bits is refused at registration however its
// modulus is encoded: a padded one used to pass the bound as no modulus
// at all, and then cost seconds of CPU for every assertion naming it,
// before the client was authenticated. Refused through the admin API
// and RFC 7591 alike, with the field at fault, and nothing stored.
func TestRegistrationRefusesPaddedOversizedRSAKey(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	jwks := map[string]any{"keys": []any{paddedHugeRSAKey(t, 100_000)}}
	before := h.head(t)
	r := h.call(t, "POST", "/t/acme/admin/clients", map[string]any{"type": "m2m", "client_name": "Huge", "code": "urn:acme/huge",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})
	checkProblem(t, r, 422, httpapi.ProblemValidation, "jwks.keys[0].n")
	h.unchanged(t, before, "a refused client")

	initial, err := h.clientCredentials(t, "acme", admin["client_id"].(string), admin["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	before = h.head(t)
	r = h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Huge",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks},
		token(initial.AccessToken))
	if m := r.object(t); r.status != 400 || m["error"] != "invalid_client_metadata" || !strings.Contains(m["error_description"].(string), "jwks.keys[0].n") {
		t.Errorf("registering a padded oversized RSA key: %d %s", r.status, r.body)
	}
	h.unchanged(t, before, "refused registrations")
}
