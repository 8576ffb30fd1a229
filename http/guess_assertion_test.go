package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
)

// A client assertion is verified for the client it names (client_id,
// else its sub), whatever HTTP Basic says beside it; the guesses it
// makes count against that client. An address that MACs assertions with
// guessed secrets is refused once it has spent its burst against the
// client, whether the requests carry a decoy HTTP Basic user each or no
// client_id at all (as at the revocation endpoint).
func TestGuessedClientSecretJWTIsCountedForTheClientItNames(t *testing.T) {
	t.Parallel()
	h, _ := startGuessing(t)
	h.createTenant(t, "acme")
	created, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "MACed", "code": "urn:acme/maced",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_jwt"})
	id, secret := created.ClientID, created.ClientSecret
	soon := time.Now().Add(time.Minute)
	n := 0
	guessed := func() url.Values {
		n++
		return assertionForm(assertion(t, jose.JSONWebKey{Key: []byte(fmt.Sprintf("guess-%d-%s", n, secret)), Algorithm: "HS256"},
			id, acmeTokenURL, fmt.Sprintf("jti-%d", n), soon))
	}
	decoy := func() []string { return []string{fmt.Sprintf("decoy-%d", n), "x"} }

	t.Run("with a decoy HTTP Basic user each, the guesses are refused past the burst", func(t *testing.T) {
		for range guessLimits.ClientSource.Burst {
			wantOAuthError(t, h.formFrom(t, attacker, "acme", "token", guessed(), decoy()...), http.StatusUnauthorized, "invalid_client")
		}
		wantOAuthError(t, h.formFrom(t, attacker, "acme", "token", guessed(), decoy()...), http.StatusTooManyRequests, "temporarily_unavailable")
		wantOAuthError(t, h.formFrom(t, attacker, "acme", "token", guessed()), http.StatusTooManyRequests, "temporarily_unavailable")
	})
	t.Run("at the revocation endpoint, without client_id, the guesses are refused past the burst", func(t *testing.T) {
		const other = "203.0.113.9"
		revoke := func() url.Values {
			f := guessed()
			f.Del("grant_type")
			f.Set("token", "x")
			return f
		}
		for range guessLimits.ClientSource.Burst {
			wantOAuthError(t, h.formFrom(t, other, "acme", "revoke", revoke()), http.StatusUnauthorized, "invalid_client")
		}
		wantOAuthError(t, h.formFrom(t, other, "acme", "revoke", revoke()), http.StatusTooManyRequests, "temporarily_unavailable")
	})
	t.Run("the client from its own address gets tokens", func(t *testing.T) {
		f := assertionForm(assertion(t, jose.JSONWebKey{Key: []byte(secret), Algorithm: "HS256"}, id, acmeTokenURL, "jti-owner", soon))
		h.formFrom(t, owner, "acme", "token", f).want(t, http.StatusOK)
	})
}

// A private_key_jwt assertion without client_id is verified for the
// client its sub names (as fosite picks it), so its failures count
// against that client, not against the iss the request made up: an
// address that changes iss on every guess is refused once it has spent
// its burst against the client.
func TestGuessedPrivateKeyJWTIsCountedForTheClientItsSubNames(t *testing.T) {
	t.Parallel()
	h, _ := startGuessing(t)
	h.createTenant(t, "acme")
	owned, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	public := jose.JSONWebKey{Key: &owned.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	created, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Signer", "code": "urn:acme/signer",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
		"jwks": map[string]any{"keys": []any{public}}})
	guessing, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: guessing, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	guessed := func(n int) url.Values {
		payload, _ := json.Marshal(map[string]any{"iss": fmt.Sprintf("decoy-%d", n), "sub": created.ClientID, "aud": acmeTokenURL,
			"jti": fmt.Sprintf("jti-%d", n), "exp": time.Now().Add(time.Minute).Unix()})
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := jws.CompactSerialize()
		return assertionForm(s)
	}
	for n := range guessLimits.ClientSource.Burst {
		wantOAuthError(t, h.formFrom(t, attacker, "acme", "token", guessed(n)), http.StatusUnauthorized, "invalid_client")
	}
	wantOAuthError(t, h.formFrom(t, attacker, "acme", "token", guessed(-1)), http.StatusTooManyRequests, "temporarily_unavailable")
}
