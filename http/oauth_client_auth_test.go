package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/http/oauth"
)

// assertion signs a client assertion (RFC 7523) with key.
func assertion(t *testing.T, key jose.JSONWebKey, clientID, aud, jti string, exp time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "jti": jti,
		"exp": exp.Unix(), "iat": time.Now().Unix()})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

// assertionForm is a client_credentials request authenticated by the
// client assertion a alone.
func assertionForm(a string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {a}}
}

// acmeTokenURL is the audience of acme's client assertions.
const acmeTokenURL = testIssuer + "acme/oauth2/token"

// tokenOf wants r to be a token answer and returns its access token.
func tokenOf(t *testing.T, r response) string {
	t.Helper()
	return decodeAs[tokenAnswer](t, r.want(t, 200)).AccessToken
}

// wantTokenOf fails unless tok is an access token of client id.
func wantTokenOf(t *testing.T, h *adminHarness, tok, id string) {
	t.Helper()
	claims, _ := verifyAs[accessClaims](t, h, "acme", tok)
	if diff := cmp.Diff(id, claims.ClientID); diff != "" {
		t.Errorf("the token's client_id (-want +got):\n%s", diff)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, _ := h.tenantAdmin(t, "acme")
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := jose.JSONWebKey{Key: priv, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	created, _ := h.newClient(t, "acme", privateKeyJWTClient("urn:acme/signed", map[string]any{"keys": []any{key.Public()}}))
	id := created.ClientID
	priv2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key2 := jose.JSONWebKey{Key: priv2, KeyID: "k2", Algorithm: "ES256", Use: "sig"}
	second, _ := h.newClient(t, "acme", privateKeyJWTClient("urn:acme/signed2", map[string]any{"keys": []any{key2.Public()}}))
	soon := time.Now().Add(time.Minute)

	a := assertion(t, key, id, acmeTokenURL, "jti-1", soon)
	t.Run("an assertion signed with the client's key gets it a token", func(t *testing.T) {
		wantTokenOf(t, h, tokenOf(t, h.tokenCall(t, "acme", assertionForm(a))), id)
	})
	t.Run("bad assertions are invalid_client and change nothing", func(t *testing.T) {
		before := h.head(t)
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		// RFC 7523 §3.2: an assertion that does not authenticate the client
		// is invalid_client, whatever is wrong with it.
		for name, bad := range map[string]string{
			"replayed":             a,
			"wrong audience":       assertion(t, key, id, testIssuer+"beta/oauth2/token", "jti-2", soon),
			"expired":              assertion(t, key, id, acmeTokenURL, "jti-3", time.Now().Add(-time.Minute)),
			"too long-lived":       assertion(t, key, id, acmeTokenURL, "jti-4", time.Now().Add(2*time.Hour)),
			"another key":          assertion(t, jose.JSONWebKey{Key: other, KeyID: "k1", Algorithm: "ES256"}, id, acmeTokenURL, "jti-5", soon),
			"an unknown kid":       assertion(t, jose.JSONWebKey{Key: priv, KeyID: "k9", Algorithm: "ES256"}, id, acmeTokenURL, "jti-8", soon),
			"another client's iss": assertion(t, key, "someone-else", acmeTokenURL, "jti-6", soon),
			"not a JWT":            "not-a-jwt",
			// A secret-based client may not authenticate with an assertion.
			"a secret-based client's": assertion(t, key, adminID, acmeTokenURL, "jti-7", soon),
		} {
			t.Run(name, func(t *testing.T) {
				wantOAuthError(t, h.tokenCall(t, "acme", assertionForm(bad)), 401, "invalid_client")
			})
		}
		h.unchanged(t, before, "refused assertions")
	})
	t.Run("a jti is unique per client: another client may use the same one", func(t *testing.T) {
		h.tokenCall(t, "acme", assertionForm(assertion(t, key2, second.ClientID, acmeTokenURL, "jti-1", soon))).want(t, 200)
	})
}

// A private_key_jwt client that publishes its keys at a jwks_uri: the
// node fetches the set (here from a TLS server on loopback, which the
// node must be told to allow), keeps it, and refuses what a registered
// inline set refuses. By default a non-public address is never fetched.
func TestPrivateKeyJWTFromJWKSURI(t *testing.T) {
	t.Parallel()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := jose.JSONWebKey{Key: priv, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	var hits atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}})
	}))
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	register := func(t *testing.T, h *adminHarness) string {
		t.Helper()
		c, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Published", "code": "urn:acme/published",
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
			"jwks_uri": srv.URL + "/jwks"})
		return c.ClientID
	}
	soon := time.Now().Add(time.Minute)

	h := startAdmin(t, oauth.WithKeySetFetching(oauth.KeySetFetching{AllowPrivateNetworks: true, RootCAs: roots}))
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	id := register(t, h)
	t.Run("the set is fetched once, and its key signs assertions", func(t *testing.T) {
		wantTokenOf(t, h, tokenOf(t, h.tokenCall(t, "acme", assertionForm(assertion(t, key, id, acmeTokenURL, "jti-1", soon)))), id)
		h.tokenCall(t, "acme", assertionForm(assertion(t, key, id, acmeTokenURL, "jti-2", soon))).want(t, 200)
		if n := hits.Load(); n != 1 {
			t.Errorf("the key set was fetched %d times for two tokens", n)
		}
	})
	t.Run("bad assertions are invalid_client, change nothing, and made-up kids fetch nothing", func(t *testing.T) {
		before := h.head(t)
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		// A kid the set lacks asks for a refetch, which waits for the set
		// to age.
		for name, bad := range map[string]string{
			"replayed":                        assertion(t, key, id, acmeTokenURL, "jti-1", soon),
			"signed with a key the set lacks": assertion(t, jose.JSONWebKey{Key: other, KeyID: "k1", Algorithm: "ES256"}, id, acmeTokenURL, "jti-3k1", soon),
			"with a kid the set lacks":        assertion(t, jose.JSONWebKey{Key: other, KeyID: "k9", Algorithm: "ES256"}, id, acmeTokenURL, "jti-3k9", soon),
		} {
			t.Run(name, func(t *testing.T) {
				wantOAuthError(t, h.tokenCall(t, "acme", assertionForm(bad)), 401, "invalid_client")
			})
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("the key set was fetched %d times; made-up kids must not make the node fetch", n)
		}
		h.unchanged(t, before, "refused assertions")
	})
	t.Run("a client registered through RFC 7591 may publish its keys alike", func(t *testing.T) {
		reg := decodeAs[registration](t, h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Registered signer",
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": srv.URL + "/jwks"},
			token(h.accessToken(t, "acme", adminID, adminSecret))).want(t, 201))
		if diff := cmp.Diff(srv.URL+"/jwks", reg.JWKSURI); diff != "" {
			t.Errorf("registration's jwks_uri (-want +got):\n%s", diff)
		}
		h.tokenCall(t, "acme", assertionForm(assertion(t, key, reg.ClientID, acmeTokenURL, "jti-4", soon))).want(t, 200)
	})
	t.Run("a node left at the default refuses the loopback address, without calling it", func(t *testing.T) {
		d := startAdmin(t)
		d.createTenant(t, "acme")
		id := register(t, d)
		wantOAuthError(t, d.tokenCall(t, "acme", assertionForm(assertion(t, key, id, acmeTokenURL, "jti-1", soon))), 401, "invalid_client")
		if n := hits.Load(); n != 1 {
			t.Errorf("a node that refuses private networks fetched from loopback")
		}
	})
}

func TestClientSecretJWT(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	created, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "MACed", "code": "urn:acme/maced",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_jwt"})
	id, secret := created.ClientID, created.ClientSecret
	key := func(alg, secret string) jose.JSONWebKey {
		return jose.JSONWebKey{Key: []byte(secret), Algorithm: alg}
	}
	soon := time.Now().Add(time.Minute)

	// An assertion MACed with the secret (RFC 7523, OpenID Connect Core §9).
	a := assertion(t, key("HS256", secret), id, acmeTokenURL, "jti-1", soon)
	var tok string
	t.Run("an assertion MACed with the secret by HS256 gets a token", func(t *testing.T) {
		tok = tokenOf(t, h.tokenCall(t, "acme", assertionForm(a)))
		wantTokenOf(t, h, tok, id)
	})
	t.Run("an assertion MACed by HS512 gets a token", func(t *testing.T) {
		h.tokenCall(t, "acme", assertionForm(assertion(t, key("HS512", secret), id, acmeTokenURL, "jti-2", soon))).want(t, 200)
	})
	t.Run("the client introspects with an assertion", func(t *testing.T) {
		in := assertionForm(assertion(t, key("HS256", secret), id, acmeTokenURL, "jti-3", soon))
		in.Del("grant_type")
		in.Set("token", tok)
		if got := decodeAs[introspection](t, h.formCall(t, "acme", "introspect", in).want(t, 200)); !got.Active {
			t.Errorf("introspection = %+v", got)
		}
	})

	t.Run("bad assertions are invalid_client and change nothing", func(t *testing.T) {
		before := h.head(t)
		for name, f := range map[string]url.Values{
			"replayed":         assertionForm(a),
			"another secret":   assertionForm(assertion(t, key("HS256", secret+"x"), id, acmeTokenURL, "jti-4", soon)),
			"wrong audience":   assertionForm(assertion(t, key("HS256", secret), id, testIssuer+"beta/oauth2/token", "jti-5", soon)),
			"expired":          assertionForm(assertion(t, key("HS256", secret), id, acmeTokenURL, "jti-6", time.Now().Add(-time.Minute))),
			"too long-lived":   assertionForm(assertion(t, key("HS256", secret), id, acmeTokenURL, "jti-7", time.Now().Add(2*time.Hour))),
			"no jti":           assertionForm(assertion(t, key("HS256", secret), id, acmeTokenURL, "", soon)),
			"unknown client":   assertionForm(assertion(t, key("HS256", secret), "someone-else", acmeTokenURL, "jti-8", soon)),
			"the secret alone": {"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}},
		} {
			t.Run(name, func(t *testing.T) { wantOAuthError(t, h.tokenCall(t, "acme", f), 401, "invalid_client") })
		}
		t.Run("HTTP Basic with the secret, not the client's method", func(t *testing.T) {
			wantOAuthError(t, h.tokenCall(t, "acme", url.Values{"grant_type": {"client_credentials"}}, id, secret), 401, "invalid_client")
		})
		h.unchanged(t, before, "refused assertions")
	})

	t.Run("the secret is never in the client's history, hashed or sealed", func(t *testing.T) {
		hist := h.call(t, "GET", "/t/acme/admin/clients/"+id+"/history", nil).want(t, 200)
		type shown struct{ Secret, Sealed bool }
		if diff := cmp.Diff(shown{}, shown{strings.Contains(string(hist.body), secret), strings.Contains(string(hist.body), "sealed$")}); diff != "" {
			t.Errorf("history %s (-want +got):\n%s", hist.body, diff)
		}
	})

	// A client that switches to client_secret_jwt has only hashed
	// secrets: it authenticates with a MAC once it rotates.
	basic, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Switcher", "code": "urn:acme/switcher",
		"grant_types": []string{"client_credentials"}})
	h.call(t, "PATCH", "/t/acme/admin/clients/"+basic.ClientID, map[string]any{"token_endpoint_auth_method": "client_secret_jwt"}, contentType("application/merge-patch+json")).want(t, 200)
	t.Run("a client switched to client_secret_jwt cannot MAC with its hashed secret", func(t *testing.T) {
		wantOAuthError(t, h.tokenCall(t, "acme", assertionForm(assertion(t, key("HS256", basic.ClientSecret), basic.ClientID, acmeTokenURL, "jti-9", soon))), 401, "invalid_client")
	})
	t.Run("a client switched to client_secret_jwt MACs with the secret it rotates to", func(t *testing.T) {
		rotated := decodeAs[clientResponse](t, h.call(t, "POST", "/t/acme/admin/clients/"+basic.ClientID+"/secrets/rotate", map[string]any{"overlap_seconds": 0}).want(t, 200))
		if rotated.ClientSecret == "" {
			t.Fatalf("rotation answer %+v", rotated)
		}
		h.tokenCall(t, "acme", assertionForm(assertion(t, key("HS256", rotated.ClientSecret), basic.ClientID, acmeTokenURL, "jti-10", soon))).want(t, 200)
	})
}
