package oauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
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
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/tenants"
)

// A private_key_jwt client's inline key set is parsed once per version
// of the client, not for every assertion: parsing up to 64 KiB of JSON
// and making keys of it is work any request naming the client causes
// before it is authenticated. A new version of the client (new keys) is
// parsed again, and its old keys stop working.
func TestInlineKeySetParsedOncePerClientVersion(t *testing.T) {
	w := testnode.New(t)
	ctx, req := t.Context(), tenants.Request{Actor: "test"}
	if _, err := w.Tenants.Create(ctx, req, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	newKey := func(kid string) (jose.JSONWebKey, json.RawMessage) {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: "ES256", Use: "sig"}
		set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}})
		if err != nil {
			t.Fatal(err)
		}
		return key, set
	}
	k1, set1 := newKey("k1")
	s := client.DefaultSettings(client.TypeM2M)
	s.ClientName, s.Code = "Signer", "urn:acme/signer"
	s.TokenEndpointAuthMethod, s.JWKS = client.AuthPrivateKeyJWT, set1
	res, err := w.Clients.Register(ctx, req, "acme", s)
	if err != nil {
		t.Fatal(err)
	}
	w.CatchUp(t)
	id := res.Client.ClientID

	js := inProcessJetStream(t)
	p, err := oauth.New(w.ReadModel, w.Keys, "http://127.0.0.1", nil, oauth.WithAssertions(bucket.NewAssertions(js, "ASSERTIONS", 1)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if err := p.ServeToken(rw, r, "acme"); err != nil {
			http.Error(rw, err.Error(), http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)

	jti := 0
	token := func(key jose.JSONWebKey) int {
		t.Helper()
		jti++
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", key.KeyID))
		if err != nil {
			t.Fatal(err)
		}
		claims, _ := json.Marshal(map[string]any{"iss": id, "sub": id, "aud": p.Issuer("acme") + "/oauth2/token",
			"jti": "jti-" + strings.Repeat("x", jti), "exp": time.Now().Add(time.Minute).Unix()})
		jws, err := signer.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := jws.CompactSerialize()
		r, err := http.PostForm(srv.URL, url.Values{"grant_type": {"client_credentials"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	for range 3 {
		if code := token(k1); code != http.StatusOK {
			t.Fatalf("token: %d", code)
		}
	}
	if n := oauth.InlineKeySetParses(p); n != 1 {
		t.Errorf("the key set was parsed %d times for 3 requests of one version of the client", n)
	}

	k2, set2 := newKey("k2")
	raw := json.RawMessage(set2)
	if _, err := w.Clients.Update(ctx, req, "acme", id, client.Patch{JWKS: &raw}, res.Client.Version); err != nil {
		t.Fatal(err)
	}
	w.CatchUp(t)
	for range 2 {
		if code := token(k2); code != http.StatusOK {
			t.Fatalf("token with the new key: %d", code)
		}
	}
	if code := token(k1); code != http.StatusUnauthorized {
		t.Errorf("token with the replaced key: %d", code)
	}
	if n := oauth.InlineKeySetParses(p); n != 2 {
		t.Errorf("the key set was parsed %d times for two versions of the client", n)
	}
}
