package oauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
	"github.com/clavisiam/clavis/tenants"
)

// BenchmarkRefusedAssertion is what a token request costs the node that
// anyone may send knowing only a private_key_jwt client's id: a client
// assertion with valid claims and a made-up signature of the right
// length, which is verified against the client's registered key and
// refused (nothing is recorded, so it can be sent again). One case per
// kind of key: RSA of 4,096 bits (the largest accepted, exponent
// 65537) and 2,048 bits, and ECDSA P-256 and P-521. Serial, so
// that ns/op is the CPU one request takes when the machine is idle.
//
//	go test -run '^$' -bench BenchmarkRefusedAssertion -benchtime 2s ./http/oauth/
func BenchmarkRefusedAssertion(b *testing.B) {
	w, _, hot := benchTenant(b)
	js := inProcessJetStream(b)
	p, err := oauth.New(hot, w.Keys, "http://127.0.0.1", nil, oauth.WithAssertions(bucket.NewAssertions(js, "BENCH_ASSERTIONS", 1)))
	if err != nil {
		b.Fatal(err)
	}
	// An RSA public key of bits bits: the modulus need not be a product
	// of primes to cost what one does to verify against.
	rsaKey := func(bits int) any {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
		if err != nil {
			b.Fatal(err)
		}
		n.SetBit(n, bits-1, 1).SetBit(n, 0, 1)
		return &rsa.PublicKey{N: n, E: 65537}
	}
	ecKey := func(c elliptic.Curve) any {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		return &k.PublicKey
	}
	for i, c := range []struct {
		name, alg string
		key       any
		sigLen    int
	}{
		{"RSA-4096", "RS256", rsaKey(4096), 512},
		{"RSA-2048", "RS256", rsaKey(2048), 256},
		{"ES256", "ES256", ecKey(elliptic.P256()), 64},
		{"ES512", "ES512", ecKey(elliptic.P521()), 132},
	} {
		set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: c.key, KeyID: "k", Algorithm: c.alg, Use: "sig"}}})
		if err != nil {
			b.Fatal(err)
		}
		s := client.DefaultSettings(client.TypeM2M)
		s.ClientName, s.Code = "Signer "+c.name, "urn:acme/signer-"+string(rune('a'+i))
		s.TokenEndpointAuthMethod, s.JWKS = client.AuthPrivateKeyJWT, set
		res, err := w.Clients.Register(b.Context(), tenants.Request{Actor: "bench"}, "acme", s)
		if err != nil {
			b.Fatal(err)
		}
		w.CatchUp(b)
		id := res.Client.ClientID
		header, _ := json.Marshal(map[string]string{"alg": c.alg, "kid": "k", "typ": "JWT"})
		claims, _ := json.Marshal(map[string]any{"iss": id, "sub": id, "aud": p.Issuer("acme") + "/oauth2/token",
			"jti": "jti-1", "exp": time.Now().Add(time.Hour).Unix()})
		sig := make([]byte, c.sigLen)
		_, _ = rand.Read(sig)
		sig[0] = 0 // below any modulus of the key's size
		enc := base64.RawURLEncoding.EncodeToString
		body := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {enc(header) + "." + enc(claims) + "." + enc(sig)}}.Encode()
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/t/acme/oauth2/token", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				rec := httptest.NewRecorder()
				if err := p.ServeToken(rec, r, "acme"); err != nil || rec.Code != http.StatusUnauthorized ||
					!strings.Contains(rec.Body.String(), "invalid_client") {
					b.Fatalf("token: %d %v %s", rec.Code, err, rec.Body)
				}
			}
		})
	}
}
