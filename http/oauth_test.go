package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"

	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/http/oauth"
)

const testIssuer = "https://id.example.com/t/"

// clientCredentials gets a token with golang.org/x/oauth2.
func (h *adminHarness) clientCredentials(t *testing.T, tenant, id, secret string, style oauth2.AuthStyle, scopes ...string) (*oauth2.Token, error) {
	t.Helper()
	cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: h.url + "/t/" + tenant + "/oauth2/token",
		Scopes: scopes, AuthStyle: style}
	return cfg.Token(t.Context())
}

// verify checks an access token with go-oidc against the tenant's JWKS
// and returns its claims and header.
func (h *adminHarness) verify(t *testing.T, tenant, token string) (map[string]any, jose.Header) {
	t.Helper()
	keys := oidc.NewRemoteKeySet(t.Context(), h.url+"/t/"+tenant+"/jwks.json")
	v := oidc.NewVerifier(testIssuer+tenant, keys, &oidc.Config{SkipClientIDCheck: true,
		SupportedSigningAlgs: []string{oidc.ES256, oidc.RS256, oidc.EdDSA}})
	idt, err := v.Verify(t.Context(), token)
	if err != nil {
		t.Fatalf("verify the access token against %s's JWKS: %v", tenant, err)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(token)
	if err != nil {
		t.Fatal(err)
	}
	return claims, jws.Signatures[0].Header
}

// formCall posts a form to one of a tenant's OAuth endpoints
// ("token", "introspect", "revoke"), with HTTP Basic when basic holds an
// id and a secret, and checks the answer against openapi.json.
func (h *adminHarness) formCall(t *testing.T, tenant, endpoint string, form url.Values, basic ...string) response {
	t.Helper()
	path := "/t/" + tenant + "/oauth2/" + endpoint
	req, err := http.NewRequestWithContext(t.Context(), "POST", h.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, body: b}
	h.k.checkResponse(t, "POST", path, r)
	return r
}

// tokenCall posts a form to a tenant's token endpoint.
func (h *adminHarness) tokenCall(t *testing.T, tenant string, form url.Values, basic ...string) response {
	t.Helper()
	return h.formCall(t, tenant, "token", form, basic...)
}

// wantOAuthError fails unless r is an RFC 6749 error with code.
func wantOAuthError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.object(t)["error"] != code {
		t.Fatalf("answer %d %s, want %d %s", r.status, r.body, status, code)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("error answer without Cache-Control: no-store: %v", r.header)
	}
}

func retrieveCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	acme := h.createTenant(t, "acme")
	admin := acme["admin_client"].(map[string]any)
	adminID, adminSecret := admin["client_id"].(string), admin["client_secret"].(string)
	beta := h.createTenant(t, "beta")["admin_client"].(map[string]any)

	// The admin client gets a JWT access token (RFC 9068) signed with
	// the tenant's key, with its default scope.
	tok, err := h.clientCredentials(t, "acme", adminID, adminSecret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "bearer" && tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
		t.Errorf("token = %+v", tok)
	}
	claims, header := h.verify(t, "acme", tok.AccessToken)
	if header.ExtraHeaders["typ"] != "at+jwt" || header.Algorithm != "ES256" || header.KeyID == "" {
		t.Errorf("header = %+v", header)
	}
	if claims["iss"] != testIssuer+"acme" || claims["sub"] != adminID || claims["client_id"] != adminID ||
		claims["scope"] != "clavis:admin" || claims["jti"] == nil || claims["iat"] == nil {
		t.Errorf("claims = %v", claims)
	}
	if aud := claims["aud"]; aud != testIssuer+"acme" && !slices.Equal(anyStrings(aud), []string{testIssuer + "acme"}) {
		t.Errorf("aud = %v", aud)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
		t.Errorf("lifetime %v s, want the client's 3600", exp-iat)
	}

	// An API with two scopes, and an m2m client of it: default scopes
	// always, optional ones when asked, per-scope permissions and the
	// client's claims in the token.
	h.createClient(t, "acme", map[string]any{"type": "confidential", "client_name": "Orders API", "code": "urn:acme/orders",
		"redirect_uris": []string{"https://orders.example.com/cb"}, "api_scopes": []string{"read", "write"}})
	worker := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_post",
		"default_scopes": []string{"urn:acme/orders:read"}, "optional_scopes": []string{"urn:acme/orders:write"},
		"scope_permissions":    map[string][]string{"urn:acme/orders:read": {"read"}, "urn:acme/orders:write": {"create", "update"}},
		"client_claims":        []map[string]string{{"type": "tier", "value": "gold"}, {"type": "region", "value": "eu"}, {"type": "region", "value": "us"}},
		"client_claims_prefix": "client_", "access_token_lifetime": 600})
	workerID, workerSecret := worker["client_id"].(string), worker["client_secret"].(string)

	tok, err = h.clientCredentials(t, "acme", workerID, workerSecret, oauth2.AuthStyleInParams)
	if err != nil {
		t.Fatal(err)
	}
	claims, _ = h.verify(t, "acme", tok.AccessToken)
	if claims["scope"] != "urn:acme/orders:read" || !slices.Equal(anyStrings(claims["aud"]), []string{"urn:acme/orders"}) ||
		!slices.Equal(anyStrings(claims["permissions"]), []string{"urn:acme/orders:read:read"}) ||
		claims["client_tier"] != "gold" || !slices.Equal(anyStrings(claims["client_region"]), []string{"eu", "us"}) {
		t.Errorf("worker's claims = %v", claims)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 600 {
		t.Errorf("lifetime %v s, want the client's 600", exp-iat)
	}
	tok, err = h.clientCredentials(t, "acme", workerID, workerSecret, oauth2.AuthStyleInParams, "urn:acme/orders:write")
	if err != nil {
		t.Fatal(err)
	}
	claims, _ = h.verify(t, "acme", tok.AccessToken)
	if scopes := strings.Fields(claims["scope"].(string)); !slices.Equal(scopes, []string{"urn:acme/orders:read", "urn:acme/orders:write"}) ||
		len(anyStrings(claims["permissions"])) != 3 {
		t.Errorf("with the optional scope: %v", claims)
	}
	// A scope the client has neither by default nor as an option.
	if _, err := h.clientCredentials(t, "acme", workerID, workerSecret, oauth2.AuthStyleInParams, "clavis:admin"); retrieveCode(err) != "invalid_scope" {
		t.Errorf("an unregistered scope: %v, want invalid_scope", err)
	}
	// Only the registered authentication method.
	if _, err := h.clientCredentials(t, "acme", workerID, workerSecret, oauth2.AuthStyleInHeader); retrieveCode(err) != "invalid_client" {
		t.Errorf("client_secret_basic for a client_secret_post client: %v, want invalid_client", err)
	}

	// Every RFC 6749 §5.2 error the grant can meet changes nothing.
	before := h.head(t)
	cc := url.Values{"grant_type": {"client_credentials"}}
	r := h.tokenCall(t, "acme", cc, adminID, "cls_wrong")
	wantOAuthError(t, r, 401, "invalid_client")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("invalid_client after Basic without WWW-Authenticate: %v", r.header)
	}
	wantOAuthError(t, h.tokenCall(t, "acme", cc, "no-such-client", adminSecret), 401, "invalid_client")
	wantOAuthError(t, h.tokenCall(t, "acme", cc), 401, "invalid_client")
	wantOAuthError(t, h.tokenCall(t, "acme", cc, beta["client_id"].(string), beta["client_secret"].(string)), 401, "invalid_client")
	wantOAuthError(t, h.tokenCall(t, "acme", url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}}, adminID, adminSecret), 400, "unsupported_grant_type")
	wantOAuthError(t, h.tokenCall(t, "acme", url.Values{}, adminID, adminSecret), 400, "invalid_request")
	wantOAuthError(t, h.tokenCall(t, "acme", url.Values{"grant_type": {"client_credentials"}, "audience": {"https://other"}}, adminID, adminSecret), 400, "invalid_request")
	wantOAuthError(t, h.tokenCall(t, "acme", url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}, adminID, adminSecret), 400, "invalid_scope")
	h.tokenCall(t, "nope", cc, adminID, adminSecret).want(t, 404)
	h.tokenCall(t, "NOPE", cc, adminID, adminSecret).want(t, 404)
	// A client whose grants do not include client_credentials.
	web := h.createClient(t, "acme", webClient("urn:acme/web"))
	before = h.head(t)
	wantOAuthError(t, h.tokenCall(t, "acme", cc, web["client_id"].(string), web["client_secret"].(string)), 400, "unauthorized_client")
	h.unchanged(t, before, "refused token requests")

	// Secret rotation: old and new secrets both work until the old one
	// expires; a revoked secret works no more.
	rotated := h.call(t, "POST", "/t/acme/admin/clients/"+adminID+"/secrets/rotate", map[string]any{"overlap_seconds": 3600}).want(t, 200).object(t)
	newSecret := rotated["client_secret"].(string)
	for _, s := range []string{adminSecret, newSecret} {
		if _, err := h.clientCredentials(t, "acme", adminID, s, oauth2.AuthStyleInHeader); err != nil {
			t.Errorf("during the overlap: %v", err)
		}
	}
	var oldID string
	for _, s := range h.call(t, "GET", "/t/acme/admin/clients/"+adminID, nil).want(t, 200).object(t)["secrets"].([]any) {
		if s := s.(map[string]any); s["expires_at"] != nil {
			oldID = s["id"].(string)
		}
	}
	h.call(t, "DELETE", "/t/acme/admin/clients/"+adminID+"/secrets/"+oldID, nil).want(t, 200)
	wantOAuthError(t, h.tokenCall(t, "acme", cc, adminID, adminSecret), 401, "invalid_client")

	// A deactivated client, and every client of a suspended tenant, get
	// nothing.
	h.call(t, "POST", "/t/acme/admin/clients/"+workerID+"/deactivate", map[string]any{"reason": "test"}).want(t, 200)
	wantOAuthError(t, h.tokenCall(t, "acme", url.Values{"grant_type": {"client_credentials"}, "client_id": {workerID}, "client_secret": {workerSecret}}), 401, "invalid_client")
	h.call(t, "POST", "/admin/tenants/acme/suspend", map[string]any{"reason": "test"}).want(t, 200)
	wantOAuthError(t, h.tokenCall(t, "acme", cc, adminID, newSecret), 401, "invalid_client")
	h.call(t, "POST", "/admin/tenants/acme/resume", nil).want(t, 200)
	if _, err := h.clientCredentials(t, "acme", adminID, newSecret, oauth2.AuthStyleInHeader); err != nil {
		t.Errorf("after resuming: %v", err)
	}
}

func TestTokensAcrossKeyRotation(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	id, secret := admin["client_id"].(string), admin["client_secret"].(string)
	before, err := h.clientCredentials(t, "acme", id, secret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	_, oldHeader := h.verify(t, "acme", before.AccessToken)

	// With a lead time the old key keeps signing.
	h.call(t, "POST", "/admin/tenants/acme/keys/rotate", map[string]any{"alg": "RS256", "lead_seconds": 600}).want(t, 200)
	during, err := h.clientCredentials(t, "acme", id, secret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	if _, hd := h.verify(t, "acme", during.AccessToken); hd.KeyID != oldHeader.KeyID {
		t.Errorf("during the lead time %s signs, want %s", hd.KeyID, oldHeader.KeyID)
	}
	// Without one the new key signs at once; tokens of both verify.
	h.call(t, "POST", "/admin/tenants/acme/keys/rotate", map[string]any{"alg": "EdDSA", "lead_seconds": 0}).want(t, 200)
	after, err := h.clientCredentials(t, "acme", id, secret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	_, newHeader := h.verify(t, "acme", after.AccessToken)
	if newHeader.KeyID == oldHeader.KeyID || newHeader.Algorithm != "EdDSA" {
		t.Errorf("after rotating: %+v", newHeader)
	}
	h.verify(t, "acme", before.AccessToken)

	// Another tenant's keys verify none of them.
	h.createTenant(t, "beta")
	keys := oidc.NewRemoteKeySet(t.Context(), h.url+"/t/beta/jwks.json")
	if _, err := keys.VerifySignature(context.Background(), after.AccessToken); err == nil {
		t.Error("beta's JWKS verifies acme's token")
	}
}

func TestAuthorizationServerMetadata(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createClient(t, "acme", map[string]any{"type": "confidential", "client_name": "Orders API", "code": "urn:acme/orders",
		"redirect_uris": []string{"https://orders.example.com/cb"}, "api_scopes": []string{"read"}})
	r := h.call(t, "GET", "/t/acme/.well-known/oauth-authorization-server", nil, noAuth).want(t, 200)
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	if m["issuer"] != testIssuer+"acme" || m["token_endpoint"] != testIssuer+"acme/oauth2/token" || m["jwks_uri"] != testIssuer+"acme/jwks.json" ||
		!slices.Equal(anyStrings(m["grant_types_supported"]), []string{"authorization_code", "refresh_token", "client_credentials", "implicit"}) ||
		!slices.Equal(anyStrings(m["token_endpoint_auth_methods_supported"]), []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"}) ||
		m["authorization_endpoint"] != testIssuer+"acme/oauth2/auth" || m["userinfo_endpoint"] != testIssuer+"acme/oauth2/userinfo" ||
		!slices.Equal(anyStrings(m["id_token_signing_alg_values_supported"]), []string{"ES256"}) ||
		!slices.Contains(anyStrings(m["token_endpoint_auth_signing_alg_values_supported"]), "ES256") ||
		!slices.Contains(anyStrings(m["scopes_supported"]), "urn:acme/orders:read") ||
		!slices.Equal(anyStrings(m["access_token_signing_alg_values_supported"]), []string{"ES256"}) {
		t.Errorf("metadata = %v", m)
	}
	h.call(t, "GET", "/t/nope/.well-known/oauth-authorization-server", nil, noAuth).want(t, 404)
	// RFC 8414 §3.1's URL for an issuer with a path serves the same.
	if again := h.call(t, "GET", "/.well-known/oauth-authorization-server/t/acme", nil, noAuth).want(t, 200); !bytes.Equal(again.body, r.body) {
		t.Errorf("path-inserted metadata = %s", again.body)
	}
	// OpenID Connect discovery serves the same document.
	if oidc := h.call(t, "GET", "/t/acme/.well-known/openid-configuration", nil, noAuth).want(t, 200); !bytes.Equal(oidc.body, r.body) {
		t.Errorf("openid-configuration = %s", oidc.body)
	}
}

// anyStrings turns a decoded JSON string or array of strings into strings.
func anyStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			s, _ := x.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

func TestTenantAdminTokens(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	h.createTenant(t, "beta")
	adminID := admin["client_id"].(string)
	tok, err := h.clientCredentials(t, "acme", adminID, admin["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	as := token(tok.AccessToken)

	// clavis:admin manages the tenant's clients, as its admin client.
	created := h.call(t, "POST", "/t/acme/admin/clients", webClient("urn:acme/web"), as).want(t, 201).object(t)
	h.call(t, "GET", "/t/acme/admin/clients", nil, as).want(t, 200)
	hist := h.call(t, "GET", "/t/acme/admin/clients/"+created["client_id"].(string)+"/history", nil, as).want(t, 200).object(t)
	if ev := hist["events"].([]any)[0].(map[string]any); ev["actor"] != "client:"+adminID {
		t.Errorf("the event's actor = %v, want client:%s", ev["actor"], adminID)
	}

	// Another tenant answers "not found", exactly as one that does not
	// exist; the platform API is the operator's.
	before := h.head(t)
	for _, path := range []string{"/t/beta/admin/clients", "/t/nope/admin/clients"} {
		checkProblem(t, h.call(t, "GET", path, nil, as), 404, httpapi.ProblemNotFound, "")
		checkProblem(t, h.call(t, "POST", path, webClient("urn:x/web"), as), 404, httpapi.ProblemNotFound, "")
	}
	checkProblem(t, h.call(t, "GET", "/admin/tenants", nil, as), 403, httpapi.ProblemForbidden, "")
	checkProblem(t, h.call(t, "POST", "/admin/tenants/acme/keys/rotate", nil, as), 403, httpapi.ProblemForbidden, "")
	h.unchanged(t, before, "a tenant token out of its tenant")

	// clavis:clients:read reads and writes nothing.
	reader := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Auditor", "code": "urn:acme/auditor",
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:clients:read"}})
	rt, err := h.clientCredentials(t, "acme", reader["client_id"].(string), reader["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	h.call(t, "GET", "/t/acme/admin/clients", nil, token(rt.AccessToken)).want(t, 200)
	h.call(t, "GET", "/t/acme/admin/export", nil, token(rt.AccessToken)).want(t, 200)
	before = h.head(t)
	r := h.call(t, "POST", "/t/acme/admin/clients", webClient("urn:acme/other"), token(rt.AccessToken))
	checkProblem(t, r, 403, httpapi.ProblemForbidden, "")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("403 without insufficient_scope: %v", r.header)
	}
	h.unchanged(t, before, "a write with a read-only token")

	// A token is worthless once its client is deactivated, or its tenant
	// suspended; a tampered one never worked.
	h.call(t, "POST", "/t/acme/admin/clients/"+reader["client_id"].(string)+"/deactivate", map[string]any{"reason": "gone"}).want(t, 200)
	h.call(t, "GET", "/t/acme/admin/clients", nil, token(rt.AccessToken)).want(t, 401)
	h.call(t, "POST", "/admin/tenants/acme/suspend", nil).want(t, 200)
	h.call(t, "GET", "/t/acme/admin/clients", nil, as).want(t, 401)
	h.call(t, "POST", "/admin/tenants/acme/resume", nil).want(t, 200)
	h.call(t, "GET", "/t/acme/admin/clients", nil, as).want(t, 200)
	parts := strings.Split(tok.AccessToken, ".")
	forged := parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]
	h.call(t, "GET", "/t/acme/admin/clients", nil, token(forged)).want(t, 401)
	h.call(t, "GET", "/t/acme/admin/clients", nil, token(parts[0]+"."+parts[1]+".")).want(t, 401)
}

// introspect posts a token to a tenant's introspection endpoint.
func (h *adminHarness) introspect(t *testing.T, tenant, tok string, basic ...string) response {
	t.Helper()
	return h.formCall(t, tenant, "introspect", url.Values{"token": {tok}}, basic...)
}

func TestIntrospection(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	adminID, adminSecret := admin["client_id"].(string), admin["client_secret"].(string)
	beta := h.createTenant(t, "beta")["admin_client"].(map[string]any)
	rs := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Resource server", "code": "urn:acme/rs",
		"grant_types": []string{"client_credentials"}})
	as := []string{rs["client_id"].(string), rs["client_secret"].(string)}

	tok, err := h.clientCredentials(t, "acme", adminID, adminSecret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	got := h.introspect(t, "acme", tok.AccessToken, as...).want(t, 200).object(t)
	if got["active"] != true || got["client_id"] != adminID || got["sub"] != adminID || got["scope"] != "clavis:admin" ||
		got["iss"] != testIssuer+"acme" || got["token_type"] != "Bearer" || got["exp"] == nil || got["jti"] == nil {
		t.Errorf("introspection = %v", got)
	}

	// Inactive: garbage, another tenant's token, a token at another
	// tenant's endpoint; they say nothing but active: false.
	betaTok, err := h.clientCredentials(t, "beta", beta["client_id"].(string), beta["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	for name, tk := range map[string]string{"garbage": "not-a-token", "another tenant's": betaTok.AccessToken,
		"truncated": tok.AccessToken[:len(tok.AccessToken)-4]} {
		if r := h.introspect(t, "acme", tk, as...).want(t, 200); string(bytes.TrimSpace(r.body)) != `{"active":false}` {
			t.Errorf("%s token: %s", name, r.body)
		}
	}
	if r := h.introspect(t, "beta", tok.AccessToken, beta["client_id"].(string), beta["client_secret"].(string)).want(t, 200); string(bytes.TrimSpace(r.body)) != `{"active":false}` {
		t.Errorf("acme's token at beta: %s", r.body)
	}

	// Who may ask: an authenticated, non-public client of the tenant.
	spa := h.createClient(t, "acme", spaClient("urn:acme/spa"))
	req := url.Values{"token": {tok.AccessToken}, "client_id": {spa["client_id"].(string)}}
	r, err := http.PostForm(h.url+"/t/acme/oauth2/introspect", req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 401 {
		t.Errorf("a public client introspects: %d", r.StatusCode)
	}
	wantOAuthError(t, h.introspect(t, "acme", tok.AccessToken), 401, "invalid_client")
	wantOAuthError(t, h.introspect(t, "acme", tok.AccessToken, as[0], "cls_wrong"), 401, "invalid_client")
	wantOAuthError(t, h.introspect(t, "acme", tok.AccessToken, beta["client_id"].(string), beta["client_secret"].(string)), 401, "invalid_client")
	wantOAuthError(t, h.introspect(t, "acme", "", as...), 400, "invalid_request")
	h.introspect(t, "nope", tok.AccessToken, as...).want(t, 404)

	// A deactivated client's token is inactive at once.
	h.call(t, "POST", "/t/acme/admin/clients/"+adminID+"/deactivate", map[string]any{"reason": "test"}).want(t, 200)
	if r := h.introspect(t, "acme", tok.AccessToken, as...).want(t, 200); string(bytes.TrimSpace(r.body)) != `{"active":false}` {
		t.Errorf("a deactivated client's token: %s", r.body)
	}
}

func TestReferenceTokens(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	beta := h.createTenant(t, "beta")["admin_client"].(map[string]any)
	ops := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Ops", "code": "urn:acme/ops",
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:clients:read"},
		"access_token_type": "reference", "access_token_lifetime": 300})
	rs := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Resource server", "code": "urn:acme/rs",
		"grant_types": []string{"client_credentials"}})
	as := []string{rs["client_id"].(string), rs["client_secret"].(string)}

	tok, err := h.clientCredentials(t, "acme", ops["client_id"].(string), ops["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, "clv_acme.") || strings.Count(tok.AccessToken, ".") != 1 || strings.Contains(tok.AccessToken, ops["client_id"].(string)) {
		t.Fatalf("a reference token shows its content: %s", tok.AccessToken)
	}
	got := h.introspect(t, "acme", tok.AccessToken, as...).want(t, 200).object(t)
	if got["active"] != true || got["client_id"] != ops["client_id"] || got["scope"] != "clavis:clients:read" || got["iss"] != testIssuer+"acme" {
		t.Errorf("introspection = %v", got)
	}
	if exp, iat := got["exp"].(float64), got["iat"].(float64); exp-iat != 300 {
		t.Errorf("lifetime %v s, want the client's 300", exp-iat)
	}
	// It is an admin credential like a JWT.
	h.call(t, "GET", "/t/acme/admin/clients", nil, token(tok.AccessToken)).want(t, 200)

	flipped := []byte(tok.AccessToken)
	flipped[len(flipped)-5] ^= 1
	for name, c := range map[string]struct{ tenant, tok string }{
		"altered":                 {"acme", string(flipped)},
		"renamed to beta":         {"acme", strings.Replace(tok.AccessToken, "clv_acme.", "clv_beta.", 1)},
		"at another tenant":       {"beta", tok.AccessToken},
		"another tenant's prefix": {"acme", "clv_nope." + strings.SplitN(tok.AccessToken, ".", 2)[1]},
	} {
		caller := as
		if c.tenant == "beta" {
			caller = []string{beta["client_id"].(string), beta["client_secret"].(string)}
		}
		if r := h.introspect(t, c.tenant, c.tok, caller...).want(t, 200); string(bytes.TrimSpace(r.body)) != `{"active":false}` {
			t.Errorf("%s: %s", name, r.body)
		}
	}
	h.call(t, "GET", "/t/acme/admin/clients", nil, token(string(flipped))).want(t, 401)

	// Deactivation applies to reference tokens at once too.
	h.call(t, "POST", "/t/acme/admin/clients/"+ops["client_id"].(string)+"/deactivate", map[string]any{"reason": "test"}).want(t, 200)
	if r := h.introspect(t, "acme", tok.AccessToken, as...).want(t, 200); string(bytes.TrimSpace(r.body)) != `{"active":false}` {
		t.Errorf("a deactivated client's reference token: %s", r.body)
	}
}

// revoke posts a token to a tenant's revocation endpoint.
func (h *adminHarness) revoke(t *testing.T, tenant, tok string, basic ...string) response {
	t.Helper()
	return h.formCall(t, tenant, "revoke", url.Values{"token": {tok}}, basic...)
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	owner := []string{admin["client_id"].(string), admin["client_secret"].(string)}
	rs := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Resource server", "code": "urn:acme/rs",
		"grant_types": []string{"client_credentials"}, "access_token_type": "reference"})
	other := []string{rs["client_id"].(string), rs["client_secret"].(string)}
	get := func(c []string) string {
		tok, err := h.clientCredentials(t, "acme", c[0], c[1], oauth2.AuthStyleInHeader)
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	active := func(tok string) bool {
		return h.introspect(t, "acme", tok, other...).want(t, 200).object(t)["active"] == true
	}

	jwt, kept := get(owner), get(owner)
	h.call(t, "GET", "/t/acme/admin/clients", nil, token(jwt)).want(t, 200) // verified once, remembered

	// Refusals revoke nothing.
	wantOAuthError(t, h.revoke(t, "acme", jwt, other...), 400, "unauthorized_client")
	wantOAuthError(t, h.revoke(t, "acme", jwt), 401, "invalid_client")
	wantOAuthError(t, h.revoke(t, "acme", jwt, owner[0], "cls_wrong"), 401, "invalid_client")
	wantOAuthError(t, h.revoke(t, "acme", "", owner...), 400, "invalid_request")
	h.revoke(t, "nope", jwt, owner...).want(t, 404)
	if !active(jwt) {
		t.Fatal("a refused revocation revoked the token")
	}

	// The owner revokes it: inactive at once, for introspection and as a
	// credential; its other tokens live on.
	h.revoke(t, "acme", jwt, owner...).want(t, 200)
	if active(jwt) {
		t.Error("a revoked JWT is still active")
	}
	h.call(t, "GET", "/t/acme/admin/clients", nil, token(jwt)).want(t, 401)
	if !active(kept) {
		t.Error("revoking one token revoked another")
	}
	// Reference tokens too; revoking again, or revoking garbage, is fine.
	ref := get(other)
	h.revoke(t, "acme", ref, other...).want(t, 200)
	if active(ref) {
		t.Error("a revoked reference token is still active")
	}
	h.revoke(t, "acme", ref, other...).want(t, 200)
	h.revoke(t, "acme", "not-a-token", other...).want(t, 200)

	m := h.call(t, "GET", "/t/acme/.well-known/oauth-authorization-server", nil, noAuth).want(t, 200).object(t)
	if m["revocation_endpoint"] != testIssuer+"acme/oauth2/revoke" {
		t.Errorf("metadata = %v", m)
	}
}

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

func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID := h.createTenant(t, "acme")["admin_client"].(map[string]any)["client_id"].(string)
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := jose.JSONWebKey{Key: priv, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	pub := key.Public()
	created := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Signed", "code": "urn:acme/signed",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
		"jwks": map[string]any{"keys": []any{pub}}})
	id := created["client_id"].(string)
	aud := testIssuer + "acme/oauth2/token"
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {a}}
	}

	a := assertion(t, key, id, aud, "jti-1", time.Now().Add(time.Minute))
	r := h.tokenCall(t, "acme", form(a)).want(t, 200)
	tok := r.object(t)["access_token"].(string)
	if claims, _ := h.verify(t, "acme", tok); claims["client_id"] != id {
		t.Errorf("claims = %v", claims)
	}
	// Replayed, and every other bad assertion: invalid_client.
	before := h.head(t)
	wantOAuthError(t, h.tokenCall(t, "acme", form(a)), 401, "invalid_client")
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// RFC 7523 §3.2: an assertion that does not authenticate the client
	// is invalid_client, whatever is wrong with it.
	for name, bad := range map[string]string{
		"wrong audience":       assertion(t, key, id, testIssuer+"beta/oauth2/token", "jti-2", time.Now().Add(time.Minute)),
		"expired":              assertion(t, key, id, aud, "jti-3", time.Now().Add(-time.Minute)),
		"too long-lived":       assertion(t, key, id, aud, "jti-4", time.Now().Add(2*time.Hour)),
		"another key":          assertion(t, jose.JSONWebKey{Key: other, KeyID: "k1", Algorithm: "ES256"}, id, aud, "jti-5", time.Now().Add(time.Minute)),
		"an unknown kid":       assertion(t, jose.JSONWebKey{Key: priv, KeyID: "k9", Algorithm: "ES256"}, id, aud, "jti-8", time.Now().Add(time.Minute)),
		"another client's iss": assertion(t, key, "someone-else", aud, "jti-6", time.Now().Add(time.Minute)),
		"not a JWT":            "not-a-jwt",
	} {
		if r := h.tokenCall(t, "acme", form(bad)); r.status != 401 || r.object(t)["error"] != "invalid_client" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	// A jti is unique per client: another client may use the same one.
	priv2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key2 := jose.JSONWebKey{Key: priv2, KeyID: "k2", Algorithm: "ES256", Use: "sig"}
	second := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Signed 2", "code": "urn:acme/signed2",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
		"jwks": map[string]any{"keys": []any{key2.Public()}}})
	before = h.head(t)
	h.tokenCall(t, "acme", form(assertion(t, key2, second["client_id"].(string), aud, "jti-1", time.Now().Add(time.Minute)))).want(t, 200)
	// A secret-based client may not authenticate with an assertion.
	wantOAuthError(t, h.tokenCall(t, "acme", form(assertion(t, key, adminID, aud, "jti-7", time.Now().Add(time.Minute)))), 401, "invalid_client")
	h.unchanged(t, before, "refused assertions")
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
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {a}}
	}
	register := func(h *adminHarness) string {
		c := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Published", "code": "urn:acme/published",
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
			"jwks_uri": srv.URL + "/jwks"})
		return c["client_id"].(string)
	}
	aud := testIssuer + "acme/oauth2/token"

	h := startAdmin(t, oauth.WithKeySetFetching(oauth.KeySetFetching{AllowPrivateNetworks: true, RootCAs: roots}))
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	id := register(h)
	r := h.tokenCall(t, "acme", form(assertion(t, key, id, aud, "jti-1", time.Now().Add(time.Minute)))).want(t, 200)
	if claims, _ := h.verify(t, "acme", r.object(t)["access_token"].(string)); claims["client_id"] != id {
		t.Errorf("claims = %v", claims)
	}
	h.tokenCall(t, "acme", form(assertion(t, key, id, aud, "jti-2", time.Now().Add(time.Minute)))).want(t, 200)
	if n := hits.Load(); n != 1 {
		t.Errorf("the key set was fetched %d times for two tokens", n)
	}
	before := h.head(t)
	// Replayed; signed with a key the set does not hold (a kid it lacks
	// asks for a refetch, which waits for the set to age).
	wantOAuthError(t, h.tokenCall(t, "acme", form(assertion(t, key, id, aud, "jti-1", time.Now().Add(time.Minute)))), 401, "invalid_client")
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, kid := range []string{"k1", "k9"} {
		bad := assertion(t, jose.JSONWebKey{Key: other, KeyID: kid, Algorithm: "ES256"}, id, aud, "jti-3"+kid, time.Now().Add(time.Minute))
		wantOAuthError(t, h.tokenCall(t, "acme", form(bad)), 401, "invalid_client")
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the key set was fetched %d times; made-up kids must not make the node fetch", n)
	}
	h.unchanged(t, before, "refused assertions")

	// A client registered through RFC 7591 may publish its keys alike.
	initial, err := h.clientCredentials(t, "acme", admin["client_id"].(string), admin["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	reg := h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Registered signer",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": srv.URL + "/jwks"},
		token(initial.AccessToken)).want(t, 201).object(t)
	if reg["jwks_uri"] != srv.URL+"/jwks" {
		t.Errorf("registration = %v", reg)
	}
	h.tokenCall(t, "acme", form(assertion(t, key, reg["client_id"].(string), aud, "jti-4", time.Now().Add(time.Minute)))).want(t, 200)

	// A node left at the default refuses the loopback address, without
	// calling it.
	d := startAdmin(t)
	d.createTenant(t, "acme")
	id = register(d)
	wantOAuthError(t, d.tokenCall(t, "acme", form(assertion(t, key, id, aud, "jti-1", time.Now().Add(time.Minute)))), 401, "invalid_client")
	if n := hits.Load(); n != 1 {
		t.Errorf("a node that refuses private networks fetched from loopback")
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	h.createTenant(t, "beta")
	h.createClient(t, "acme", spaClient("urn:acme/spa")) // allows https://spa.example.com
	worker := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"grant_types": []string{"client_credentials"}, "allowed_cors_origins": []string{"https://worker.example.com"}})
	preflight := func(tenant, path, origin string) http.Header {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, h.url+"/t/"+tenant+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 204 {
			t.Fatalf("preflight %s %s: %d", path, origin, res.StatusCode)
		}
		return res.Header
	}
	for _, c := range []struct {
		tenant, path, origin string
		allowed              bool
	}{
		{"acme", "/oauth2/token", "https://spa.example.com", true},
		{"acme", "/oauth2/token", "https://worker.example.com", true},
		{"acme", "/.well-known/oauth-authorization-server", "https://spa.example.com", true},
		{"acme", "/oauth2/token", "https://evil.example.com", false},
		{"beta", "/oauth2/token", "https://spa.example.com", false}, // another tenant's client's origin
	} {
		got := preflight(c.tenant, c.path, c.origin).Get("Access-Control-Allow-Origin")
		if (got == c.origin) != c.allowed || (got != "" && got != c.origin) {
			t.Errorf("preflight %s%s from %s: Access-Control-Allow-Origin %q", c.tenant, c.path, c.origin, got)
		}
	}

	// An actual request: only the origins of the client it names.
	post := func(origin string, basic []string) http.Header {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, h.url+"/t/acme/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header
	}
	w := []string{worker["client_id"].(string), worker["client_secret"].(string)}
	if got := post("https://worker.example.com", w).Get("Access-Control-Allow-Origin"); got != "https://worker.example.com" {
		t.Errorf("the worker from its origin: %q", got)
	}
	if got := post("https://spa.example.com", w).Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("the worker from the SPA's origin: %q", got)
	}
	a := []string{admin["client_id"].(string), admin["client_secret"].(string)}
	if got := post("https://worker.example.com", a).Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("the admin client (no origins) from the worker's origin: %q", got)
	}
	// Without Origin nothing changes.
	if _, err := h.clientCredentials(t, "acme", w[0], w[1], oauth2.AuthStyleInHeader); err != nil {
		t.Fatal(err)
	}
}

func TestDynamicClientRegistration(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	h.createTenant(t, "beta")
	h.createClient(t, "acme", map[string]any{"type": "confidential", "client_name": "Orders API", "code": "urn:acme/orders",
		"redirect_uris": []string{"https://orders.example.com/cb"}, "api_scopes": []string{"read"}})
	initial, err := h.clientCredentials(t, "acme", admin["client_id"].(string), admin["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	iat := token(initial.AccessToken)

	// RFC 7591 metadata: scope as a string, a field Clavis does not know
	// (ignored), no type and no code (inferred, generated).
	reg := h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{
		"client_name": "Registered worker", "grant_types": []string{"client_credentials"},
		"scope": "urn:acme/orders:read", "software_statement_version": "1.2",
	}, iat).want(t, 201).object(t)
	id, secret, rat := reg["client_id"].(string), reg["client_secret"].(string), reg["registration_access_token"].(string)
	if reg["type"] != "m2m" || reg["scope"] != "urn:acme/orders:read" || !strings.HasPrefix(reg["code"].(string), "urn:acme/dcr-") ||
		reg["registration_client_uri"] != testIssuer+"acme/oauth2/register/"+id || reg["client_id_issued_at"] == nil {
		t.Errorf("registration = %v", reg)
	}
	// It is a client like any other: it gets tokens, the admin API and
	// its history show it, made by the admin client.
	tok, err := h.clientCredentials(t, "acme", id, secret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	if claims, _ := h.verify(t, "acme", tok.AccessToken); claims["scope"] != "urn:acme/orders:read" {
		t.Errorf("claims = %v", claims)
	}
	hist := h.call(t, "GET", "/t/acme/admin/clients/"+id+"/history", nil).want(t, 200).object(t)
	if ev := hist["events"].([]any)[0].(map[string]any); ev["type"] != "client.registered" || ev["actor"] != "client:"+admin["client_id"].(string) {
		t.Errorf("history = %v", ev)
	}

	// RFC 7592: read, replace, delete with the registration access token.
	mgmt := "/t/acme/oauth2/register/" + id
	got := h.call(t, "GET", mgmt, nil, token(rat)).want(t, 200).object(t)
	if got["client_id"] != id || got["client_secret"] != nil || got["registration_access_token"] != nil {
		t.Errorf("read = %v", got)
	}
	replaced := h.call(t, "PUT", mgmt, map[string]any{"client_id": id, "client_name": "Renamed worker",
		"grant_types": []string{"client_credentials"}}, token(rat)).want(t, 200).object(t)
	if replaced["client_name"] != "Renamed worker" || replaced["scope"] != "" || replaced["code"] != reg["code"] {
		t.Errorf("replaced = %v", replaced)
	}

	// Refusals change nothing.
	before := h.head(t)
	other := h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Other", "grant_types": []string{"client_credentials"}}, iat).want(t, 201).object(t)
	before = h.head(t)
	for name, c := range map[string]struct {
		method, path string
		body         any
		opts         []callOpt
		status       int
		code         string
	}{
		"no initial token":            {"POST", "/t/acme/oauth2/register", map[string]any{"client_name": "X"}, []callOpt{token("")}, 401, ""},
		"a token of another tenant":   {"POST", "/t/beta/oauth2/register", map[string]any{"client_name": "X"}, []callOpt{iat}, 404, ""},
		"a bad redirect URI":          {"POST", "/t/acme/oauth2/register", map[string]any{"client_name": "X", "redirect_uris": []string{"http://evil.example.com/cb"}}, []callOpt{iat}, 400, "invalid_redirect_uri"},
		"an unknown scope":            {"POST", "/t/acme/oauth2/register", map[string]any{"client_name": "X", "grant_types": []string{"client_credentials"}, "scope": "urn:x/y:z"}, []callOpt{iat}, 400, "invalid_client_metadata"},
		"scope not a string":          {"POST", "/t/acme/oauth2/register", map[string]any{"client_name": "X", "scope": []string{"a"}}, []callOpt{iat}, 400, "invalid_client_metadata"},
		"malformed JSON":              {"POST", "/t/acme/oauth2/register", `{"client_name":`, []callOpt{iat}, 400, ""},
		"another client's token":      {"GET", mgmt, nil, []callOpt{token(other["registration_access_token"].(string))}, 401, "invalid_token"},
		"an access token":             {"GET", mgmt, nil, []callOpt{token(tok.AccessToken)}, 401, "invalid_token"},
		"no registration token":       {"DELETE", mgmt, nil, []callOpt{token("")}, 401, "invalid_token"},
		"replace another client's":    {"PUT", mgmt, map[string]any{"client_id": other["client_id"], "client_name": "X"}, []callOpt{token(rat)}, 400, "invalid_client_metadata"},
		"replace with a bad redirect": {"PUT", mgmt, map[string]any{"client_name": "X", "type": "confidential", "redirect_uris": []string{"javascript:x"}}, []callOpt{token(rat)}, 400, "invalid_redirect_uri"},
	} {
		r := h.call(t, c.method, c.path, c.body, c.opts...)
		if r.status != c.status {
			t.Errorf("%s: %d %s", name, r.status, r.body)
			continue
		}
		if c.code != "" && r.object(t)["error"] != c.code {
			t.Errorf("%s: %s", name, r.body)
		}
	}
	h.unchanged(t, before, "refused registrations")

	h.call(t, "DELETE", mgmt, nil, token(rat)).want(t, 204)
	h.call(t, "GET", mgmt, nil, token(rat)).want(t, 401)
	h.call(t, "GET", "/t/acme/admin/clients/"+id, nil).want(t, 404)
}

// TestOAuthHardening covers what a security review of the OAuth
// endpoints found.
func TestOAuthHardening(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	adminID, adminSecret := admin["client_id"].(string), admin["client_secret"].(string)

	// A compressed body is refused before anything inflates it.
	for _, path := range []string{"/t/acme/oauth2/token", "/t/acme/admin/clients"} {
		req, _ := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader("\x1f\x8b not really gzip"))
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+rootToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("compressed body at %s: %d", path, res.StatusCode)
		}
	}

	// Registration sets only registration metadata: no platform scope,
	// no admin-only setting, neither at registration nor at replacement.
	initial, err := h.clientCredentials(t, "acme", adminID, adminSecret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	iat := token(initial.AccessToken)
	before := h.head(t)
	r := h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "X", "grant_types": []string{"client_credentials"}, "scope": "clavis:admin"}, iat)
	if r.status != 400 || r.object(t)["error"] != "invalid_client_metadata" {
		t.Errorf("registering with clavis:admin: %d %s", r.status, r.body)
	}
	h.unchanged(t, before, "a registration asking for a platform scope")
	reg := h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Public app", "token_endpoint_auth_method": "none",
		"redirect_uris": []string{"https://app.example.com/cb"}, "first_party": true, "client_claims": []map[string]string{{"type": "role", "value": "admin"}}}, iat).want(t, 201).object(t)
	if reg["first_party"] != false || len(reg["client_claims"].([]any)) != 0 || reg["client_secret"] != nil {
		t.Errorf("admin-only settings taken from a registration: %v", reg)
	}
	mgmt, rat := "/t/acme/oauth2/register/"+reg["client_id"].(string), token(reg["registration_access_token"].(string))
	r = h.call(t, "PUT", mgmt, map[string]any{"client_name": "Worker", "type": "m2m", "grant_types": []string{"client_credentials"}, "scope": "clavis:admin"}, rat)
	if r.status != 400 {
		t.Errorf("replacing with clavis:admin: %d %s", r.status, r.body)
	}
	// A replacement that makes the client need a secret shows it, once.
	worker := h.call(t, "PUT", mgmt, map[string]any{"client_name": "Worker", "type": "m2m", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "client_secret_basic"}, rat).want(t, 200).object(t)
	if sec, _ := worker["client_secret"].(string); !strings.HasPrefix(sec, "cls_") {
		t.Fatalf("the new secret of a replaced registration is not shown: %v", worker)
	} else if _, err := h.clientCredentials(t, "acme", reg["client_id"].(string), sec, oauth2.AuthStyleInHeader); err != nil {
		t.Errorf("the shown secret does not work: %v", err)
	}
	// A registration access token is no access token, and no access
	// token a registration token.
	h.call(t, "GET", "/t/acme/admin/clients", nil, rat).want(t, 401)
	h.call(t, "GET", mgmt, nil, iat).want(t, 401)

	// A scope taken from a client stops counting for its tokens at once.
	tok, err := h.clientCredentials(t, "acme", adminID, adminSecret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	h.call(t, "GET", "/t/acme/admin/clients", nil, token(tok.AccessToken)).want(t, 200)
	h.call(t, "PATCH", "/t/acme/admin/clients/"+adminID, map[string]any{"default_scopes": []string{"clavis:clients:read"}}, contentType("application/merge-patch+json")).want(t, 200)
	h.call(t, "GET", "/t/acme/admin/clients", nil, token(tok.AccessToken)).want(t, 403)
	if got := h.introspect(t, "acme", tok.AccessToken, reg["client_id"].(string), worker["client_secret"].(string)).want(t, 200).object(t); got["active"] != true || got["scope"] != nil && got["scope"] != "" {
		t.Errorf("introspection after the scope was taken: %v", got)
	}

	// A body that does not parse, at any of the client endpoints, is an
	// RFC 6749 invalid_request, not a server error or a problem document.
	for _, ep := range []string{"token", "introspect", "revoke"} {
		for ct, body := range map[string]string{
			"multipart/form-data; boundary=x":   "--x\r\nnot a part",
			"multipart/form-data":               "a=b",
			"application/x-www-form-urlencoded": "grant_type=%zz",
		} {
			req, _ := http.NewRequest(http.MethodPost, h.url+"/t/acme/oauth2/"+ep, strings.NewReader(body))
			req.Header.Set("Content-Type", ct)
			req.SetBasicAuth(adminID, adminSecret)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var e map[string]any
			_ = json.Unmarshal(b, &e)
			if res.StatusCode != 400 || e["error"] != "invalid_request" {
				t.Errorf("%s with %s: %d %s", ep, ct, res.StatusCode, b)
			}
		}
	}
}

func TestClientSecretJWT(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	created := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "MACed", "code": "urn:acme/maced",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_jwt"})
	id, secret := created["client_id"].(string), created["client_secret"].(string)
	key := func(alg, secret string) jose.JSONWebKey {
		return jose.JSONWebKey{Key: []byte(secret), Algorithm: alg}
	}
	aud := testIssuer + "acme/oauth2/token"
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {a}}
	}
	// An assertion MACed with the secret (RFC 7523, OpenID Connect Core §9).
	a := assertion(t, key("HS256", secret), id, aud, "jti-1", time.Now().Add(time.Minute))
	tok := h.tokenCall(t, "acme", form(a)).want(t, 200).object(t)["access_token"].(string)
	if claims, _ := h.verify(t, "acme", tok); claims["client_id"] != id {
		t.Errorf("claims = %v", claims)
	}
	h.tokenCall(t, "acme", form(assertion(t, key("HS512", secret), id, aud, "jti-2", time.Now().Add(time.Minute)))).want(t, 200)
	// The same client introspects with it.
	in := form(assertion(t, key("HS256", secret), id, aud, "jti-3", time.Now().Add(time.Minute)))
	in.Del("grant_type")
	in.Set("token", tok)
	if got := h.formCall(t, "acme", "introspect", in).want(t, 200).object(t); got["active"] != true {
		t.Errorf("introspection = %v", got)
	}

	// Replayed, and every other bad assertion: invalid_client.
	before := h.head(t)
	wantOAuthError(t, h.tokenCall(t, "acme", form(a)), 401, "invalid_client")
	for name, bad := range map[string]string{
		"another secret":   assertion(t, key("HS256", secret+"x"), id, aud, "jti-4", time.Now().Add(time.Minute)),
		"wrong audience":   assertion(t, key("HS256", secret), id, testIssuer+"beta/oauth2/token", "jti-5", time.Now().Add(time.Minute)),
		"expired":          assertion(t, key("HS256", secret), id, aud, "jti-6", time.Now().Add(-time.Minute)),
		"too long-lived":   assertion(t, key("HS256", secret), id, aud, "jti-7", time.Now().Add(2*time.Hour)),
		"no jti":           assertion(t, key("HS256", secret), id, aud, "", time.Now().Add(time.Minute)),
		"unknown client":   assertion(t, key("HS256", secret), "someone-else", aud, "jti-8", time.Now().Add(time.Minute)),
		"the secret alone": "",
	} {
		f := form(bad)
		if bad == "" {
			f = url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
		}
		t.Run(name, func(t *testing.T) { wantOAuthError(t, h.tokenCall(t, "acme", f), 401, "invalid_client") })
	}
	// HTTP Basic with the secret: not the client's method.
	wantOAuthError(t, h.tokenCall(t, "acme", url.Values{"grant_type": {"client_credentials"}}, id, secret), 401, "invalid_client")
	h.unchanged(t, before, "refused assertions")

	// The secret is never in the client's history, hashed or sealed.
	if hist := h.call(t, "GET", "/t/acme/admin/clients/"+id+"/history", nil).want(t, 200); strings.Contains(string(hist.body), secret) || strings.Contains(string(hist.body), "sealed$") {
		t.Errorf("history shows the secret: %s", hist.body)
	}

	// A client that switches to client_secret_jwt has only hashed
	// secrets: it authenticates with a MAC once it rotates.
	basic := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Switcher", "code": "urn:acme/switcher",
		"grant_types": []string{"client_credentials"}})
	bid, bsecret := basic["client_id"].(string), basic["client_secret"].(string)
	h.call(t, "PATCH", "/t/acme/admin/clients/"+bid, map[string]any{"token_endpoint_auth_method": "client_secret_jwt"}, contentType("application/merge-patch+json")).want(t, 200)
	wantOAuthError(t, h.tokenCall(t, "acme", form(assertion(t, key("HS256", bsecret), bid, aud, "jti-9", time.Now().Add(time.Minute)))), 401, "invalid_client")
	rotated := h.call(t, "POST", "/t/acme/admin/clients/"+bid+"/secrets/rotate", map[string]any{"overlap_seconds": 0}).want(t, 200).object(t)
	nsecret, _ := rotated["client_secret"].(string)
	if nsecret == "" {
		t.Fatalf("rotation answer %v", rotated)
	}
	h.tokenCall(t, "acme", form(assertion(t, key("HS256", nsecret), bid, aud, "jti-10", time.Now().Add(time.Minute)))).want(t, 200)
}

// TestRevocationRateLimit: every revocation is kept in memory by every
// node until its token would have expired, so a client may not revoke
// without bound. The bucket here refills once an hour, so what the test
// sees does not depend on how fast the machine revokes.
func TestRevocationRateLimit(t *testing.T) {
	t.Parallel()
	const burst = 5
	h := startAdmin(t, oauth.WithRevocationLimit(oauth.RevocationLimit{PerClient: rate.Every(time.Hour), Burst: burst}))
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	id, secret := admin["client_id"].(string), admin["client_secret"].(string)
	tokens := make([]string, burst+1)
	for i := range tokens {
		tok, err := h.clientCredentials(t, "acme", id, secret, oauth2.AuthStyleInHeader)
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = tok.AccessToken
	}
	for i, tok := range tokens[:burst] {
		if r := h.revoke(t, "acme", tok, id, secret); r.status != http.StatusOK {
			t.Fatalf("revocation %d within the burst: %d %s", i, r.status, r.body)
		}
	}
	limited := tokens[burst]
	r := h.revoke(t, "acme", limited, id, secret)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || r.object(t)["error"] != "temporarily_unavailable" {
		t.Fatalf("revocation past the burst: %d %v %s", r.status, r.header, r.body)
	}
	// The refused revocation changed nothing: the token still works, and
	// the ones revoked before stay revoked.
	if got := h.introspect(t, "acme", limited, id, secret).object(t); got["active"] != true {
		t.Errorf("a token whose revocation was refused: %v", got)
	}
	if got := h.introspect(t, "acme", tokens[0], id, secret).object(t); got["active"] != false {
		t.Errorf("a revoked token: %v", got)
	}
}
