package httpapi_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"

	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/http/oauth"
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

// A set published at a jwks_uri holding such a key is refused when
// fetched: the assertion naming it is invalid_client because the set
// is, before any key of it is used.
func TestJWKSURIRefusesPaddedOversizedRSAKey(t *testing.T) {
	t.Parallel()
	set, err := json.Marshal(map[string]any{"keys": []any{paddedHugeRSAKey(t, 100_000)}})
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(set)
	}))
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	h := startAdmin(t, oauth.WithKeySetFetching(oauth.KeySetFetching{AllowPrivateNetworks: true, RootCAs: roots}))
	h.createTenant(t, "acme")
	id := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Published", "code": "urn:acme/published",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
		"jwks_uri": srv.URL + "/jwks"})["client_id"].(string)
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	a := assertion(t, jose.JSONWebKey{Key: priv, KeyID: "big", Algorithm: "RS256"}, id, testIssuer+"acme/oauth2/token", "jti-1", time.Now().Add(time.Minute))
	r := h.tokenCall(t, "acme", url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
	wantOAuthError(t, r, 401, "invalid_client")
	if d, _ := r.object(t)["error_description"].(string); !strings.Contains(d, "Key Set could not be fetched") || hits.Load() != 1 {
		t.Errorf("an assertion against a fetched set with a padded oversized RSA key (%d fetches): %s", hits.Load(), r.body)
	}
}
