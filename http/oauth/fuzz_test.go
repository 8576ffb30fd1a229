package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/valyala/fasthttp"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/tenants"
)

// seenAssertions is the replay store of the token endpoint's fuzz
// target: each jti is taken once, as the NATS-backed store does.
type seenAssertions struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (s *seenAssertions) Use(_ context.Context, tenant, clientID, jti string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := tenant + "\x00" + clientID + "\x00" + jti
	if s.seen[key] {
		return oauth.ErrReplayed
	}
	s.seen[key] = true
	return nil
}

// tokenFixture is a provider for tenant acme with three clients: the
// admin client (client_secret_basic), a private_key_jwt client and a
// client_secret_jwt client; and what a fuzz input's placeholders stand
// for, which differ from one process to the next.
type tokenFixture struct {
	p                    *oauth.Provider
	adminID, adminSecret string
	pkID, sjID, sjSecret string
	pkKey                *ecdsa.PrivateKey
	jti                  atomic.Int64
}

func newTokenFixture(tb testing.TB) *tokenFixture {
	w, created, hot := benchTenant(tb)
	fx := &tokenFixture{adminID: created.AdminClient.ClientID, adminSecret: created.AdminSecret.Value}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	fx.pkKey = key
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		tb.Fatal(err)
	}
	pk := client.DefaultSettings(client.TypeM2M)
	pk.ClientName, pk.Code = "Signer", "urn:acme/signer"
	pk.TokenEndpointAuthMethod, pk.JWKS = client.AuthPrivateKeyJWT, set
	res, err := w.Clients.Register(tb.Context(), tenants.Request{Actor: "fuzz"}, "acme", pk)
	if err != nil {
		tb.Fatal(err)
	}
	fx.pkID = res.Client.ClientID
	sj := client.DefaultSettings(client.TypeM2M)
	sj.ClientName, sj.Code = "MACer", "urn:acme/macer"
	sj.TokenEndpointAuthMethod = client.AuthClientSecretJWT
	res, err = w.Clients.Register(tb.Context(), tenants.Request{Actor: "fuzz"}, "acme", sj)
	if err != nil {
		tb.Fatal(err)
	}
	fx.sjID, fx.sjSecret = res.Client.ClientID, res.Secret.Value
	w.CatchUp(tb)
	fx.p, err = oauth.New(hot, w.Keys, "http://127.0.0.1", nil, oauth.WithAssertions(&seenAssertions{seen: map[string]bool{}}))
	if err != nil {
		tb.Fatal(err)
	}
	return fx
}

// assertion is a client assertion of clientID for the token endpoint,
// with a new jti, signed with key (ES256) or MACed with it (HS256).
func (fx *tokenFixture) assertion(tb testing.TB, clientID string, alg jose.SignatureAlgorithm, key any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k"))
	if err != nil {
		tb.Fatal(err)
	}
	claims, _ := json.Marshal(map[string]any{"iss": clientID, "sub": clientID, "aud": fx.p.Issuer("acme") + "/oauth2/token",
		"jti": fmt.Sprintf("jti-%d", fx.jti.Add(1)), "exp": time.Now().Add(5 * time.Minute).Unix()})
	jws, err := signer.Sign(claims)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// fill replaces the placeholders of a fuzz input with this process's
// values: {admin_id} {admin_secret} {basic} {pk_id} {pk_assertion}
// {sj_id} {sj_assertion}.
func (fx *tokenFixture) fill(tb testing.TB, s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	r := strings.NewReplacer(
		"{admin_id}", fx.adminID, "{admin_secret}", fx.adminSecret, "{pk_id}", fx.pkID, "{sj_id}", fx.sjID,
		"{basic}", "Basic "+base64.StdEncoding.EncodeToString([]byte(fx.adminID+":"+fx.adminSecret)))
	s = r.Replace(s)
	if strings.Contains(s, "{pk_assertion}") {
		s = strings.ReplaceAll(s, "{pk_assertion}", fx.assertion(tb, fx.pkID, jose.ES256, fx.pkKey))
	}
	if strings.Contains(s, "{sj_assertion}") {
		s = strings.ReplaceAll(s, "{sj_assertion}", fx.assertion(tb, fx.sjID, jose.HS256, []byte(fx.sjSecret)))
	}
	return s
}

// tokenContentTypes are the media types a fuzz input's body is sent as.
var tokenContentTypes = []string{
	"application/x-www-form-urlencoded",
	"multipart/form-data; boundary=B",
	"application/x-www-form-urlencoded; charset=utf-8",
	"application/json",
	"",
}

// rfc6749Errors are the error codes a token endpoint answers with
// (RFC 6749 §5.2), and the one of a replay store that cannot answer.
var rfc6749Errors = []string{"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "temporarily_unavailable"}

// FuzzTokenEndpoint sends the token endpoint requests whose body,
// media type and Authorization header are the fuzzer's: the form's
// parsing, client authentication (secrets, client_secret_jwt and
// private_key_jwt assertions, which exercise the JWT parsing) and the
// grant. Every answer is JSON: a token (200) or an RFC 6749 error with
// a description of the characters RFC 6749 §5.2 allows, never a server
// error; and a request the quick client_credentials path answers gets a
// token from fosite's path too.
func FuzzTokenEndpoint(f *testing.F) {
	const jwtBearer = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
	for _, seed := range []struct {
		ct                  uint8
		body, authorization string
	}{
		{0, "grant_type=client_credentials", "{basic}"},
		{0, "grant_type=client_credentials&scope=clavis%3Aadmin", "{basic}"},
		{0, "grant_type=client_credentials&client_id={admin_id}&client_secret={admin_secret}", ""},
		{0, "grant_type=client_credentials&client_assertion_type=" + jwtBearer + "&client_assertion={pk_assertion}", ""},
		{0, "grant_type=client_credentials&client_id={pk_id}&client_assertion_type=" + jwtBearer + "&client_assertion={pk_assertion}", ""},
		{0, "grant_type=client_credentials&client_assertion_type=" + jwtBearer + "&client_assertion={sj_assertion}", ""},
		{0, "grant_type=client_credentials&client_assertion_type=" + jwtBearer + "&client_assertion=eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", ""},
		{0, "grant_type=client_credentials&client_assertion_type=" + jwtBearer + "&client_assertion=a.b", ""},
		{0, "grant_type=client_credentials&grant_type=client_credentials", "{basic}"},
		{0, "grant_type=client_credentials&scope=nope", "{basic}"},
		{0, "grant_type=password&username=a&password=b", "{basic}"},
		{0, "grant_type=refresh_token&refresh_token=x", "{basic}"},
		{0, "grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fa.example%2Fcb", "{basic}"},
		{0, "grant_type=client_credentials&audience=x", "{basic}"},
		{0, "grant_type=client_credentials", "Basic Zm9vOmJhcg=="},
		{0, "grant_type=client_credentials", "Bearer x"},
		{0, "grant_type=client_credentials", ""},
		{0, "grant_type=%zz&client_id={admin_id}", ""},
		{0, "grant_type=client_credentials;client_id={admin_id}&client_secret={admin_secret}", ""},
		{1, "--B\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--B--\r\n", "{basic}"},
		{3, `{"grant_type":"client_credentials"}`, "{basic}"},
	} {
		f.Add(seed.ct, seed.body, seed.authorization)
	}
	fx := newTokenFixture(f)
	f.Fuzz(func(t *testing.T, ct uint8, body, authorization string) {
		body, authorization = fx.fill(t, body), fx.fill(t, authorization)
		contentType := tokenContentTypes[int(ct)%len(tokenContentTypes)]
		r := httptest.NewRequest(http.MethodPost, "/t/acme/oauth2/token", strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		w := httptest.NewRecorder()
		if err := fx.p.ServeToken(w, r, "acme"); err != nil {
			t.Fatalf("ServeToken: %v", err)
		}
		var answer struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%q %q: %d, not JSON: %s", body, authorization, w.Code, w.Body)
		}
		switch {
		case w.Code == http.StatusOK:
			if answer.AccessToken == "" || !strings.EqualFold(answer.TokenType, "bearer") {
				t.Fatalf("%q %q: 200 without a bearer token: %s", body, authorization, w.Body)
			}
		case w.Code >= 500:
			t.Fatalf("%q %q: %d %s", body, authorization, w.Code, w.Body)
		case !slices.Contains(rfc6749Errors, answer.Error):
			t.Fatalf("%q %q: %d with error %q", body, authorization, w.Code, answer.Error)
		case strings.ContainsFunc(answer.Description, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }):
			t.Fatalf("%q %q: error_description %q has characters RFC 6749 §5.2 does not allow", body, authorization, answer.Description)
		}
		if ct%uint8(len(tokenContentTypes)) != 0 {
			return
		}
		var form fasthttp.Args
		form.Parse(body)
		if _, ok := fx.p.QuickClientCredentials(t.Context(), "acme", "192.0.2.1:1234", authorization, &form); ok && w.Code != http.StatusOK {
			t.Fatalf("%q %q: the quick path gives a token, fosite's path %d %s", body, authorization, w.Code, w.Body)
		}
	})
}

// FuzzClientAssertion checks what the token endpoint reads of a client
// assertion before it authenticates anyone: a refused size or shape is
// invalid_client; an accepted one is a compact JWT within the bounds;
// the algorithm noted of it, unverified, is an asymmetric one accepted
// for assertions, or none.
func FuzzClientAssertion(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	for _, k := range []struct {
		alg jose.SignatureAlgorithm
		key any
	}{{jose.RS256, key}, {jose.PS384, key}, {jose.HS256, []byte("0123456789abcdef0123456789abcdef")}} {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.key}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			f.Fatal(err)
		}
		jws, err := signer.Sign([]byte(`{"iss":"c1","sub":"c1","aud":"http://127.0.0.1/t/acme/oauth2/token","jti":"j","exp":4102444800}`))
		if err != nil {
			f.Fatal(err)
		}
		compact, _ := jws.CompactSerialize()
		f.Add(compact)
		full := jws.FullSerialize()
		f.Add(full)
	}
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJjMSJ9.")
	f.Add("a.b.c")
	f.Add("a.b")
	f.Add("")
	f.Add(strings.Repeat("A", oauth.MaxAssertionSize) + "..")
	f.Fuzz(func(t *testing.T, assertion string) {
		err := oauth.CheckAssertionSize(assertion)
		var rfc *fosite.RFC6749Error
		switch {
		case err != nil && (!errors.As(err, &rfc) || rfc.ErrorField != fosite.ErrInvalidClient.ErrorField):
			t.Fatalf("CheckAssertionSize(%q) = %v, want invalid_client", assertion, err)
		case err == nil && (len(assertion) > oauth.MaxAssertionSize || strings.Count(assertion, ".") != 2):
			t.Fatalf("CheckAssertionSize(%q) accepted", assertion)
		}
		alg := oauth.AssertionAlg(assertion)
		if alg != "" && (err != nil || !slices.Contains(oauth.AssertionAlgs, alg)) {
			t.Fatalf("AssertionAlg(%q) = %q (size check: %v)", assertion, alg, err)
		}
	})
}

// FuzzKeySet checks the two readings of a client's JSON Web Key Set
// (given inline or fetched from its jwks_uri): the domain's check
// (client.CheckJWKS) refuses with a validation error, and what the token
// endpoint reads for use (parseKeySet, the reading that counts, as its
// comment says) is only public keys, RSA ones within client.MaxRSAKeyBits
// and with exponent 65537, each usable for signatures unless it says
// otherwise; when both take a set, they see the same keys.
//
// The domain's check takes some sets the token endpoint then refuses as
// a whole (an RSA key without "n", a kty go-jose does not know, an EC
// point off its curve): such a client is registered and can never
// authenticate with its keys. That is not checked here; the first seed
// below is one.
func FuzzKeySet(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"r","":"p6TDG_Opgh6SKEs738tMwGx8ZokiqAm9ub70W1tikow","e":"AQAB"}]}`))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	for _, keys := range [][]jose.JSONWebKey{
		{{Key: &rsaKey.PublicKey, KeyID: "r", Algorithm: "RS256", Use: "sig"}},
		{{Key: &ecKey.PublicKey, KeyID: "e", Algorithm: "ES256"}, {Key: &rsaKey.PublicKey, KeyID: "r"}},
		{{Key: rsaKey, KeyID: "private"}},
		{{Key: []byte("symmetric"), KeyID: "oct"}},
	} {
		set, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(set)
	}
	for _, s := range []string{
		`{"keys":[]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1","alg":"ES256","use":"sig"}]}`,
		`{"keys":[{"kty":"RSA","n":"n","e":"AQAB","p":"secret"}]}`,
		`{"keys":[{"kty":"RSA","n":"AQAB","e":"AAEAAQ"}]}`,
		`{"keys":[{"kty":"RSA","e":"AQAB","N":"AQAB"}]}`,
		`{"Keys":[]}`,
		`{"keys":{}}`,
		`{"keys":null}`,
		`[]`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checked := client.CheckJWKS(raw)
		var ve *domain.ValidationError
		if checked != nil && !errors.As(checked, &ve) {
			t.Fatalf("CheckJWKS(%q) = %T %v, want a *domain.ValidationError", raw, checked, checked)
		}
		set, err := oauth.ParseKeySet(raw)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseKeySet(%q): an empty error", raw)
			}
			return
		}
		for i, k := range set.Keys {
			if !k.IsPublic() || k.Use == "" {
				t.Fatalf("ParseKeySet(%q): key %d read as %+v", raw, i, k)
			}
			if pub, ok := k.Key.(*rsa.PublicKey); ok && (pub.N.BitLen() > client.MaxRSAKeyBits || !client.RSAExponentValid(big.NewInt(int64(pub.E)))) {
				t.Fatalf("ParseKeySet(%q): key %d is RSA of %d bits, exponent %d", raw, i, pub.N.BitLen(), pub.E)
			}
		}
		if checked != nil {
			return
		}
		var members struct {
			Keys []json.RawMessage `json:"keys"`
		}
		_ = json.Unmarshal(raw, &members)
		if len(set.Keys) != len(members.Keys) {
			t.Fatalf("CheckJWKS and ParseKeySet take %q: %d keys given, %d read", raw, len(members.Keys), len(set.Keys))
		}
	})
}

// FuzzVerifyAccessToken checks the bearer tokens every protected
// endpoint reads (admin API, introspection, userinfo): a refusal is
// ErrInvalidToken, and nothing but the very token issued ({token} in the
// input) is accepted, in no other spelling. The same inputs as an
// id_token_hint (the logout endpoint's): the tenant has issued no ID
// token, and an access token is no hint, so every one is refused.
func FuzzVerifyAccessToken(f *testing.F) {
	p, authorization, form := quickProvider(f)
	answer, ok := p.QuickClientCredentials(f.Context(), "acme", "192.0.2.1:1234", authorization, form)
	if !ok {
		f.Fatal("no token")
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(answer, &tok); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"{token}", " {token}", "{token}\n", "{token}.x", "{token}==",
		tok.AccessToken, // this process's: another's is a token of another tenant key
		"eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xL3QvYWNtZSJ9.c2ln",
		"eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xL3QvYWNtZSJ9.",
		"clv_acme.AAAA", "clv_.x", "", "a.b.c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		token = strings.ReplaceAll(token, "{token}", tok.AccessToken)
		if sub, err := oauth.ReadIDTokenHint(t.Context(), p, "acme", token); err == nil {
			t.Fatalf("id_token_hint %q accepted: subject %q", token, sub)
		}
		at, err := p.VerifyAccessToken(t.Context(), token)
		if err != nil {
			if !errors.Is(err, oauth.ErrInvalidToken) {
				t.Fatalf("VerifyAccessToken(%q) = %v, want ErrInvalidToken", token, err)
			}
			return
		}
		if token != tok.AccessToken || at.Tenant != "acme" || at.ClientID == "" {
			t.Fatalf("VerifyAccessToken(%q) accepted: %+v", token, at)
		}
	})
}
