package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/tenants"
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

// An RSA key over 4,096 bits is refused at registration however its
// modulus is encoded, padded ones included: each assertion naming such a
// key would cost seconds of CPU before the client is authenticated.
// Refused through the admin API and RFC 7591 alike, with the field at
// fault, and nothing stored.
func TestRegistrationRefusesPaddedOversizedRSAKey(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	jwks := map[string]any{"keys": []any{paddedHugeRSAKey(t, 100_000)}}

	t.Run("the admin API refuses it, naming the field, and stores nothing", func(t *testing.T) {
		before := h.head(t)
		r := h.call(t, "POST", "/t/acme/admin/clients", map[string]any{"type": "m2m", "client_name": "Huge", "code": "urn:acme/huge",
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})
		checkProblem(t, r, 422, httpapi.ProblemValidation, "jwks.keys[0].n")
		h.unchanged(t, before, "a refused client")
	})
	t.Run("RFC 7591 registration refuses it, naming the field, and stores nothing", func(t *testing.T) {
		iat := token(h.accessToken(t, "acme", adminID, adminSecret))
		before := h.head(t)
		r := h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Huge",
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks}, iat)
		wantMetadataRefused(t, r, "jwks.keys[0].n")
		h.unchanged(t, before, "refused registrations")
	})
}

// wantMetadataRefused fails unless r is RFC 7591's 400
// invalid_client_metadata naming field.
func wantMetadataRefused(t *testing.T, r response, field string) {
	t.Helper()
	type shown struct {
		Status     int
		Error      string
		NamesField bool
	}
	var e oauthError
	if r.status/100 == 4 {
		e = decodeAs[oauthError](t, r)
	}
	if diff := cmp.Diff(shown{400, "invalid_client_metadata", true}, shown{r.status, e.Error, strings.Contains(e.Description, field)}); diff != "" {
		t.Errorf("answer %s, want invalid_client_metadata naming %s (-want +got):\n%s", r.body, field, diff)
	}
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
	c, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Published", "code": "urn:acme/published",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
		"jwks_uri": srv.URL + "/jwks"})
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	a := assertion(t, jose.JSONWebKey{Key: priv, KeyID: "big", Algorithm: "RS256"}, c.ClientID, acmeTokenURL, "jti-1", time.Now().Add(time.Minute))
	e := wantOAuthError(t, h.tokenCall(t, "acme", assertionForm(a)), 401, "invalid_client")
	type shown struct {
		SaysTheSetFailed bool
		Fetches          int64
	}
	if diff := cmp.Diff(shown{true, 1}, shown{strings.Contains(e.Description, "Key Set could not be fetched"), hits.Load()}); diff != "" {
		t.Errorf("an assertion against a fetched set with a padded oversized RSA key: %q (-want +got):\n%s", e.Description, diff)
	}
}

// rsaKeyWithExponent is an RSA private key of bits bits with public
// exponent e (rsa.GenerateKey uses 65537 only).
func rsaKeyWithExponent(t *testing.T, bits, e int) *rsa.PrivateKey {
	t.Helper()
	one, be := big.NewInt(1), big.NewInt(int64(e))
	prime := func() *big.Int {
		for {
			p, err := rand.Prime(rand.Reader, bits/2)
			if err != nil {
				t.Fatal(err)
			}
			if new(big.Int).GCD(nil, nil, new(big.Int).Sub(p, one), be).Cmp(one) == 0 {
				return p
			}
		}
	}
	p, q := prime(), prime()
	phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
	k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: e}, D: new(big.Int).ModInverse(be, phi), Primes: []*big.Int{p, q}}
	k.Precompute()
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	return k
}

// injectClientUpdate appends to the store, past every rule of the
// command services, an update of client id of tenant whose settings are
// its current ones changed by change (a client registered before a
// rule held), and waits until the read model shows it.
func (h *adminHarness) injectClientUpdate(t *testing.T, tenant, id string, change func(*client.Settings)) {
	t.Helper()
	stream := tenants.ClientStream(tenant, id)
	stored, err := h.store.ReadStream(t.Context(), stream, 0)
	if err != nil || len(stored) == 0 {
		t.Fatalf("read %s: %d events, %v", stream, len(stored), err)
	}
	var s client.Settings
	for _, e := range stored {
		if e.Type == client.EventTypeRegistered || e.Type == client.EventTypeUpdated {
			var d struct {
				Settings client.Settings `json:"settings"`
			}
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			s = d.Settings
		}
	}
	change(&s)
	version := stored[len(stored)-1].Version
	evs, _, err := aggregate.Envelopes([]domain.Event{client.ClientUpdated{Settings: s, Changed: []string{"jwks"}, At: time.Now().UTC()}},
		eventstore.Metadata{Actor: "root", OccurredAt: time.Now().UTC()}, uuid.NewString)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.Append(t.Context(), stream, version, evs); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "the read model showing the injected update", func() bool {
		v, err := h.rm.ClientByID(t.Context(), id)
		return err == nil && v.Version > version
	})
}

// privateKeyJWTClient is an m2m client of acme authenticating with
// private_key_jwt by the inline set jwks.
func privateKeyJWTClient(code string, jwks any) map[string]any {
	return map[string]any{"type": "m2m", "client_name": "Signed", "code": code, "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks}
}

// An RSA key whose public exponent is not 65537 is refused: verifying
// with a large exponent (up to 2^31-1 was accepted) and a large
// modulus cost milliseconds of CPU for every token request naming the
// client, anybody's, before it was authenticated. Refused at
// registration through the admin API, RFC 7591 and import, with the
// field at fault and nothing stored; published at a jwks_uri, the set
// is refused when fetched; and a client stored with one before the rule
// (injected into the store) verifies nothing with it, although the
// assertion is correctly signed.
func TestRSAKeyExponentMustBe65537(t *testing.T) {
	t.Parallel()
	priv := rsaKeyWithExponent(t, 2048, 1<<31-1)
	key := jose.JSONWebKey{Key: priv, KeyID: "k1", Algorithm: "RS256", Use: "sig"}
	jwks := map[string]any{"keys": []any{key.Public()}}

	set, err := json.Marshal(jwks)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(set)
	}))
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	h := startAdmin(t, oauth.WithKeySetFetching(oauth.KeySetFetching{AllowPrivateNetworks: true, RootCAs: roots}))
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	h.createTenant(t, "beta")
	good := jose.JSONWebKey{Key: &rsaKeyWithExponent(t, 2048, 65537).PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}
	signed, _ := h.newClient(t, "acme", privateKeyJWTClient("urn:acme/signed", map[string]any{"keys": []any{good}}))

	t.Run("the admin API refuses it, naming the field and the exponent it takes, and stores nothing", func(t *testing.T) {
		before := h.head(t)
		r := h.call(t, "POST", "/t/acme/admin/clients", privateKeyJWTClient("urn:acme/big-e", jwks))
		checkProblem(t, r, 422, httpapi.ProblemValidation, "jwks.keys[0].e")
		if !strings.Contains(string(r.body), "65537") {
			t.Errorf("the problem does not say which exponent is accepted: %s", r.body)
		}
		h.unchanged(t, before, "a refused client")
	})
	t.Run("RFC 7591 registration refuses it, naming the field, and stores nothing", func(t *testing.T) {
		iat := token(h.accessToken(t, "acme", adminID, adminSecret))
		before := h.head(t)
		r := h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Big e",
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks}, iat)
		wantMetadataRefused(t, r, "jwks.keys[0].e")
		h.unchanged(t, before, "a refused registration")
	})
	t.Run("an import refuses it, naming the field, and stores nothing", func(t *testing.T) {
		// Export a client with a good key, give its key the large
		// exponent, import it elsewhere.
		ex := h.call(t, "GET", "/t/acme/admin/export", nil).want(t, 200)
		pkg := strings.ReplaceAll(string(ex.body), `"e":"AQAB"`, `"e":"f____w"`)
		if pkg == string(ex.body) {
			t.Fatalf("no RSA exponent in the export: %s", ex.body)
		}
		before := h.head(t)
		r := h.call(t, "POST", "/t/beta/admin/import", json.RawMessage(pkg))
		type shown struct {
			Status     int
			NamesField bool
		}
		if diff := cmp.Diff(shown{422, true}, shown{r.status, strings.Contains(string(r.body), "jwks.keys[0].e")}); diff != "" {
			t.Errorf("importing an RSA key with e = 2^31-1: %s (-want +got):\n%s", r.body, diff)
		}
		h.unchanged(t, before, "a refused import")
	})
	t.Run("a set published at a jwks_uri holding it is refused when fetched", func(t *testing.T) {
		published, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Published", "code": "urn:acme/published",
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
			"jwks_uri": srv.URL + "/jwks"})
		r := h.tokenCall(t, "acme", assertionForm(assertion(t, key, published.ClientID, acmeTokenURL, "jti-1", time.Now().Add(time.Minute))))
		wantOAuthError(t, r, 401, "invalid_client")
	})
	t.Run("a client stored with it before the rule verifies nothing with it", func(t *testing.T) {
		h.injectClientUpdate(t, "acme", signed.ClientID, func(s *client.Settings) {
			s.JWKS = set
		})
		r := h.tokenCall(t, "acme", assertionForm(assertion(t, key, signed.ClientID, acmeTokenURL, "jti-2", time.Now().Add(time.Minute))))
		wantOAuthError(t, r, 401, "invalid_client")
	})
}

// A JWK without "use" (RFC 7517 §4.2: optional) is a signing key: a
// client registering one gets tokens with assertions it signs, as its
// registration, accepted without a word, promised. A key for
// encryption ("use":"enc") still signs nothing.
func TestKeyWithoutUseSigns(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for i, key := range []jose.JSONWebKey{{Key: ec, KeyID: "ec", Algorithm: "ES256"}, {Key: rs, KeyID: "rsa", Algorithm: "RS256"}} {
		t.Run("an "+key.Algorithm+" key without use signs", func(t *testing.T) {
			c, _ := h.newClient(t, "acme", privateKeyJWTClient(fmt.Sprintf("urn:acme/no-use-%d", i), map[string]any{"keys": []any{key.Public()}}))
			r := h.tokenCall(t, "acme", assertionForm(assertion(t, key, c.ClientID, acmeTokenURL, "jti-1", time.Now().Add(time.Minute))))
			wantStatus(t, key.Algorithm+" key without use", r, 200, "")
		})
	}
	t.Run("a key for encryption signs nothing", func(t *testing.T) {
		enc := jose.JSONWebKey{Key: ec, KeyID: "enc", Algorithm: "ES256", Use: "enc"}
		// Refusing the key at registration is as good.
		r := h.call(t, "POST", "/t/acme/admin/clients", privateKeyJWTClient("urn:acme/enc", map[string]any{"keys": []any{enc.Public()}}))
		if r.status != 201 {
			return
		}
		id := decodeAs[clientResponse](t, r).ClientID
		wantOAuthError(t, h.tokenCall(t, "acme", assertionForm(assertion(t, enc, id, acmeTokenURL, "jti-1", time.Now().Add(time.Minute)))), 401, "invalid_client")
	})
}
