package httpapi_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	httpapi "github.com/clavisiam/clavis/http"
)

const testIssuer = "https://id.example.com/t/"

// clientCredentials gets a token with golang.org/x/oauth2.
func (h *adminHarness) clientCredentials(t *testing.T, tenant, id, secret string, style oauth2.AuthStyle, scopes ...string) (*oauth2.Token, error) {
	t.Helper()
	cfg := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: h.url + "/t/" + tenant + "/oauth2/token",
		Scopes: scopes, AuthStyle: style}
	return cfg.Token(t.Context())
}

// accessToken gets an access token for the client with HTTP Basic,
// failing the test when it cannot.
func (h *adminHarness) accessToken(t *testing.T, tenant, id, secret string) string {
	t.Helper()
	tok, err := h.clientCredentials(t, tenant, id, secret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatalf("a token for %s: %v", id, err)
	}
	return tok.AccessToken
}

// verify checks a token with go-oidc against the tenant's JWKS and
// returns its claims and header.
func (h *adminHarness) verify(t *testing.T, tenant, token string) (map[string]any, jose.Header) {
	t.Helper()
	return verifyAs[map[string]any](t, h, tenant, token)
}

// tenantAdmin creates a tenant and returns its admin client's id and
// secret.
func (h *adminHarness) tenantAdmin(t *testing.T, slug string) (string, string) {
	t.Helper()
	r := h.call(t, "POST", "/admin/tenants", map[string]string{"slug": slug, "name": strings.ToUpper(slug)}).want(t, 201)
	c := decodeAs[createdTenantResponse](t, r).AdminClient
	return c.ClientID, c.ClientSecret
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

// wantOAuthError fails unless r is an RFC 6749 error with code, not to
// be cached, and returns it.
func wantOAuthError(t *testing.T, r response, status int, code string) oauthError {
	t.Helper()
	type shown struct {
		Status       int
		Error        string
		CacheControl string
	}
	var e oauthError
	_ = json.Unmarshal(r.body, &e) // a body that is no error shows as Error ""
	if diff := cmp.Diff(shown{status, code, "no-store"}, shown{r.status, e.Error, r.header.Get("Cache-Control")}); diff != "" {
		t.Fatalf("OAuth error %s (-want +got):\n%s", r.body, diff)
	}
	return e
}

// wantStatus fails unless r has status, and, when code is not empty, is
// the RFC 6749 error code; it does not stop the test.
func wantStatus(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	var e oauthError
	if code != "" {
		_ = json.Unmarshal(r.body, &e)
	}
	type shown struct {
		Status int
		Error  string
	}
	if diff := cmp.Diff(shown{status, code}, shown{r.status, e.Error}); diff != "" {
		t.Errorf("%s: %s (-want +got):\n%s", what, r.body, diff)
	}
}

func retrieveCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// ignoreTokenTimes leaves out of a comparison of access token claims
// what differs from token to token.
var ignoreTokenTimes = cmpopts.IgnoreFields(accessClaims{}, "JTI", "Iat", "Exp")

// sorted returns the strings sorted, for lists whose order says nothing.
func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	betaID, betaSecret := h.tenantAdmin(t, "beta")
	// An API with two scopes, and an m2m client of it.
	h.createClient(t, "acme", map[string]any{"type": "confidential", "client_name": "Orders API", "code": "urn:acme/orders",
		"redirect_uris": []string{"https://orders.example.com/cb"}, "api_scopes": []string{"read", "write"}})
	worker, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_post",
		"default_scopes": []string{"urn:acme/orders:read"}, "optional_scopes": []string{"urn:acme/orders:write"},
		"scope_permissions":    map[string][]string{"urn:acme/orders:read": {"read"}, "urn:acme/orders:write": {"create", "update"}},
		"client_claims":        []map[string]string{{"type": "tier", "value": "gold"}, {"type": "region", "value": "eu"}, {"type": "region", "value": "us"}},
		"client_claims_prefix": "client_", "access_token_lifetime": 600})
	web, _ := h.newClient(t, "acme", webClient("urn:acme/web"))

	t.Run("the admin client gets a JWT access token signed with the tenant's key, with its default scope", func(t *testing.T) {
		tok, err := h.clientCredentials(t, "acme", adminID, adminSecret, oauth2.AuthStyleInHeader)
		if err != nil {
			t.Fatal(err)
		}
		claims, header := verifyAs[accessClaims](t, h, "acme", tok.AccessToken)
		want := accessClaims{Iss: testIssuer + "acme", Sub: adminID, Aud: stringList{testIssuer + "acme"}, ClientID: adminID, Scope: "clavis:admin"}
		if diff := cmp.Diff(want, claims, ignoreTokenTimes); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}
		type shown struct {
			TokenType                 string
			HasExpiry, HasJTI, HasIat bool
			Typ                       any
			Alg                       string
			HasKeyID                  bool
			Lifetime                  int64
		}
		wantShown := shown{TokenType: "bearer", HasExpiry: true, HasJTI: true, HasIat: true, Typ: "at+jwt", Alg: "ES256", HasKeyID: true, Lifetime: 3600}
		got := shown{TokenType: strings.ToLower(tok.TokenType), HasExpiry: !tok.Expiry.IsZero(), HasJTI: claims.JTI != "", HasIat: claims.Iat != 0,
			Typ: header.ExtraHeaders["typ"], Alg: header.Algorithm, HasKeyID: header.KeyID != "", Lifetime: claims.lifetime()}
		if diff := cmp.Diff(wantShown, got); diff != "" {
			t.Errorf("token and header (-want +got):\n%s", diff)
		}
	})

	// The worker's token: default scopes always, optional ones when asked,
	// per-scope permissions and the client's claims, for its lifetime.
	type workerClaims struct {
		accessClaims
		Tier   string     `json:"client_tier"`
		Region stringList `json:"client_region"`
	}
	type shownWorker struct {
		Aud         []string
		Scope       []string
		Permissions []string
		Tier        string
		Region      []string
		Lifetime    int64
	}
	for _, c := range []struct {
		name   string
		scopes []string
		want   shownWorker
	}{
		{"an m2m client gets its default scopes, their permissions and its claims, for its lifetime", nil, shownWorker{
			Aud: []string{"urn:acme/orders"}, Scope: []string{"urn:acme/orders:read"}, Permissions: []string{"urn:acme/orders:read:read"},
			Tier: "gold", Region: []string{"eu", "us"}, Lifetime: 600}},
		{"an m2m client gets an optional scope it asks for, with its permissions", []string{"urn:acme/orders:write"}, shownWorker{
			Aud: []string{"urn:acme/orders"}, Scope: []string{"urn:acme/orders:read", "urn:acme/orders:write"},
			Permissions: []string{"urn:acme/orders:read:read", "urn:acme/orders:write:create", "urn:acme/orders:write:update"},
			Tier:        "gold", Region: []string{"eu", "us"}, Lifetime: 600}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, err := h.clientCredentials(t, "acme", worker.ClientID, worker.ClientSecret, oauth2.AuthStyleInParams, c.scopes...)
			if err != nil {
				t.Fatal(err)
			}
			claims, _ := verifyAs[workerClaims](t, h, "acme", tok.AccessToken)
			got := shownWorker{Aud: claims.Aud, Scope: strings.Fields(claims.Scope), Permissions: sorted(claims.Permissions),
				Tier: claims.Tier, Region: claims.Region, Lifetime: claims.lifetime()}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("worker's claims (-want +got):\n%s", diff)
			}
		})
	}
	for _, c := range []struct {
		name   string
		style  oauth2.AuthStyle
		scopes []string
		code   string
	}{
		{"a scope the client has neither by default nor as an option is invalid_scope", oauth2.AuthStyleInParams, []string{"clavis:admin"}, "invalid_scope"},
		{"client_secret_basic for a client_secret_post client is invalid_client", oauth2.AuthStyleInHeader, nil, "invalid_client"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.clientCredentials(t, "acme", worker.ClientID, worker.ClientSecret, c.style, c.scopes...)
			if got := retrieveCode(err); got != c.code {
				t.Errorf("error code %q (%v), want %q", got, err, c.code)
			}
		})
	}

	t.Run("every RFC 6749 §5.2 error the grant can meet changes nothing", func(t *testing.T) {
		before := h.head(t)
		cc := url.Values{"grant_type": {"client_credentials"}}
		for _, c := range []struct {
			name   string
			form   url.Values
			basic  []string
			status int
			code   string
			// basicChallenge: the answer asks for HTTP Basic again.
			basicChallenge bool
		}{
			{"a wrong secret", cc, []string{adminID, "cls_wrong"}, 401, "invalid_client", true},
			{"an unknown client", cc, []string{"no-such-client", adminSecret}, 401, "invalid_client", false},
			{"no client authentication", cc, nil, 401, "invalid_client", false},
			{"another tenant's client", cc, []string{betaID, betaSecret}, 401, "invalid_client", false},
			{"the password grant", url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}}, []string{adminID, adminSecret}, 400, "unsupported_grant_type", false},
			{"no grant type", url.Values{}, []string{adminID, adminSecret}, 400, "invalid_request", false},
			{"an audience", url.Values{"grant_type": {"client_credentials"}, "audience": {"https://other"}}, []string{adminID, adminSecret}, 400, "invalid_request", false},
			{"the openid scope", url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}, []string{adminID, adminSecret}, 400, "invalid_scope", false},
			{"a client whose grants do not include client_credentials", cc, []string{web.ClientID, web.ClientSecret}, 400, "unauthorized_client", false},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := h.tokenCall(t, "acme", c.form, c.basic...)
				wantOAuthError(t, r, c.status, c.code)
				if c.basicChallenge && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("invalid_client after Basic without WWW-Authenticate: %v", r.header)
				}
			})
		}
		for _, tenant := range []string{"nope", "NOPE"} {
			t.Run("the unknown tenant "+tenant, func(t *testing.T) {
				h.tokenCall(t, tenant, cc, adminID, adminSecret).want(t, 404)
			})
		}
		h.unchanged(t, before, "refused token requests")
	})

	// Secret rotation: old and new secrets both work until the old one
	// expires; a revoked secret works no more.
	var newSecret string
	t.Run("during a rotation's overlap the old and the new secret both work", func(t *testing.T) {
		rotated := decodeAs[clientResponse](t, h.call(t, "POST", "/t/acme/admin/clients/"+adminID+"/secrets/rotate", map[string]any{"overlap_seconds": 3600}).want(t, 200))
		newSecret = rotated.ClientSecret
		for name, s := range map[string]string{"old": adminSecret, "new": newSecret} {
			if _, err := h.clientCredentials(t, "acme", adminID, s, oauth2.AuthStyleInHeader); err != nil {
				t.Errorf("the %s secret during the overlap: %v", name, err)
			}
		}
	})
	t.Run("a revoked secret works no more", func(t *testing.T) {
		var oldID string
		for _, s := range decodeAs[clientResponse](t, h.call(t, "GET", "/t/acme/admin/clients/"+adminID, nil).want(t, 200)).Secrets {
			if s.ExpiresAt != nil {
				oldID = s.ID
			}
		}
		h.call(t, "DELETE", "/t/acme/admin/clients/"+adminID+"/secrets/"+oldID, nil).want(t, 200)
		wantOAuthError(t, h.tokenCall(t, "acme", url.Values{"grant_type": {"client_credentials"}}, adminID, adminSecret), 401, "invalid_client")
	})

	// A deactivated client, and every client of a suspended tenant, get
	// nothing.
	t.Run("a deactivated client gets nothing", func(t *testing.T) {
		h.call(t, "POST", "/t/acme/admin/clients/"+worker.ClientID+"/deactivate", map[string]any{"reason": "test"}).want(t, 200)
		wantOAuthError(t, h.tokenCall(t, "acme", url.Values{"grant_type": {"client_credentials"}, "client_id": {worker.ClientID}, "client_secret": {worker.ClientSecret}}), 401, "invalid_client")
	})
	t.Run("the clients of a suspended tenant get nothing", func(t *testing.T) {
		h.call(t, "POST", "/admin/tenants/acme/suspend", map[string]any{"reason": "test"}).want(t, 200)
		wantOAuthError(t, h.tokenCall(t, "acme", url.Values{"grant_type": {"client_credentials"}}, adminID, newSecret), 401, "invalid_client")
	})
	t.Run("the clients of a resumed tenant get tokens again", func(t *testing.T) {
		h.call(t, "POST", "/admin/tenants/acme/resume", nil).want(t, 200)
		if _, err := h.clientCredentials(t, "acme", adminID, newSecret, oauth2.AuthStyleInHeader); err != nil {
			t.Errorf("after resuming: %v", err)
		}
	})
}

func TestTokensAcrossKeyRotation(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	id, secret := h.tenantAdmin(t, "acme")
	h.tenantAdmin(t, "beta")
	before := h.accessToken(t, "acme", id, secret)
	_, oldHeader := verifyAs[accessClaims](t, h, "acme", before)
	var after string

	t.Run("with a lead time the old key keeps signing", func(t *testing.T) {
		h.call(t, "POST", "/admin/tenants/acme/keys/rotate", map[string]any{"alg": "RS256", "lead_seconds": 600}).want(t, 200)
		if _, hd := verifyAs[accessClaims](t, h, "acme", h.accessToken(t, "acme", id, secret)); hd.KeyID != oldHeader.KeyID {
			t.Errorf("during the lead time %s signs, want %s", hd.KeyID, oldHeader.KeyID)
		}
	})
	t.Run("without a lead time the new key signs at once", func(t *testing.T) {
		h.call(t, "POST", "/admin/tenants/acme/keys/rotate", map[string]any{"alg": "EdDSA", "lead_seconds": 0}).want(t, 200)
		after = h.accessToken(t, "acme", id, secret)
		_, newHeader := verifyAs[accessClaims](t, h, "acme", after)
		type shown struct {
			NewKeyID bool
			Alg      string
		}
		if diff := cmp.Diff(shown{true, "EdDSA"}, shown{newHeader.KeyID != oldHeader.KeyID, newHeader.Algorithm}); diff != "" {
			t.Errorf("after rotating (-want +got):\n%s", diff)
		}
	})
	t.Run("a token signed before the rotation still verifies", func(t *testing.T) {
		verifyAs[accessClaims](t, h, "acme", before)
	})
	t.Run("another tenant's keys verify none of them", func(t *testing.T) {
		keys := oidc.NewRemoteKeySet(t.Context(), h.url+"/t/beta/jwks.json")
		if _, err := keys.VerifySignature(t.Context(), after); err == nil {
			t.Error("beta's JWKS verifies acme's token")
		}
	})
}

func TestAuthorizationServerMetadata(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createClient(t, "acme", map[string]any{"type": "confidential", "client_name": "Orders API", "code": "urn:acme/orders",
		"redirect_uris": []string{"https://orders.example.com/cb"}, "api_scopes": []string{"read"}})
	r := h.call(t, "GET", "/t/acme/.well-known/oauth-authorization-server", nil, noAuth).want(t, 200)

	t.Run("it names the tenant's endpoints, grants, methods, algorithms and scopes", func(t *testing.T) {
		got := decodeAs[serverMetadata](t, r)
		want := serverMetadata{
			Issuer: testIssuer + "acme", AuthorizationEndpoint: testIssuer + "acme/oauth2/auth", TokenEndpoint: testIssuer + "acme/oauth2/token",
			UserinfoEndpoint: testIssuer + "acme/oauth2/userinfo", RevocationEndpoint: testIssuer + "acme/oauth2/revoke", JWKSURI: testIssuer + "acme/jwks.json",
			GrantTypesSupported:                  []string{"authorization_code", "refresh_token", "client_credentials", "implicit"},
			TokenEndpointAuthMethodsSupported:    []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"},
			IDTokenSigningAlgValuesSupported:     []string{"ES256"},
			AccessTokenSigningAlgValuesSupported: []string{"ES256"},
		}
		// Lists the test checks for one member, and what TestUnservedSettingsAreRefused reads.
		ignore := cmpopts.IgnoreFields(serverMetadata{}, "TokenEndpointAuthSigningAlgValuesSupported", "ScopesSupported",
			"FrontchannelLogoutSupported", "BackchannelLogoutSupported", "TLSClientCertificateBoundAccessTokens")
		if diff := cmp.Diff(want, got, ignore); diff != "" {
			t.Errorf("metadata (-want +got):\n%s", diff)
		}
		type shown struct{ SignsAssertionsWithES256, OffersTheAPIScope bool }
		if diff := cmp.Diff(shown{true, true}, shown{slices.Contains(got.TokenEndpointAuthSigningAlgValuesSupported, "ES256"),
			slices.Contains(got.ScopesSupported, "urn:acme/orders:read")}); diff != "" {
			t.Errorf("metadata (-want +got):\n%s", diff)
		}
	})
	t.Run("an unknown tenant has none", func(t *testing.T) {
		h.call(t, "GET", "/t/nope/.well-known/oauth-authorization-server", nil, noAuth).want(t, 404)
	})
	for name, path := range map[string]string{
		// RFC 8414 §3.1's URL for an issuer with a path.
		"the path-inserted URL serves the same document":    "/.well-known/oauth-authorization-server/t/acme",
		"OpenID Connect discovery serves the same document": "/t/acme/.well-known/openid-configuration",
	} {
		t.Run(name, func(t *testing.T) {
			again := h.call(t, "GET", path, nil, noAuth).want(t, 200)
			if diff := cmp.Diff(string(r.body), string(again.body)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}

func TestTenantAdminTokens(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	h.tenantAdmin(t, "beta")
	tok := h.accessToken(t, "acme", adminID, adminSecret)
	as := token(tok)
	reader, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Auditor", "code": "urn:acme/auditor",
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:clients:read"}})
	readOnly := token(h.accessToken(t, "acme", reader.ClientID, reader.ClientSecret))

	t.Run("clavis:admin manages the tenant's clients, as its admin client", func(t *testing.T) {
		created, _ := h.newClient(t, "acme", webClient("urn:acme/web"), as)
		h.call(t, "GET", "/t/acme/admin/clients", nil, as).want(t, 200)
		hist := decodeAs[historyResponse](t, h.call(t, "GET", "/t/acme/admin/clients/"+created.ClientID+"/history", nil, as).want(t, 200))
		if len(hist.Events) == 0 {
			t.Fatalf("no history: %+v", hist)
		}
		if diff := cmp.Diff("client:"+adminID, hist.Events[0].Actor); diff != "" {
			t.Errorf("the event's actor (-want +got):\n%s", diff)
		}
	})
	t.Run("out of its tenant it gets not found, as for a tenant that does not exist, and the platform API is the operator's", func(t *testing.T) {
		before := h.head(t)
		for _, c := range []struct {
			method, path string
			body         any
			status       int
			typ          string
		}{
			{"GET", "/t/beta/admin/clients", nil, 404, httpapi.ProblemNotFound},
			{"POST", "/t/beta/admin/clients", webClient("urn:x/web"), 404, httpapi.ProblemNotFound},
			{"GET", "/t/nope/admin/clients", nil, 404, httpapi.ProblemNotFound},
			{"POST", "/t/nope/admin/clients", webClient("urn:x/web"), 404, httpapi.ProblemNotFound},
			{"GET", "/admin/tenants", nil, 403, httpapi.ProblemForbidden},
			{"POST", "/admin/tenants/acme/keys/rotate", nil, 403, httpapi.ProblemForbidden},
		} {
			t.Run(c.method+" "+c.path, func(t *testing.T) {
				checkProblem(t, h.call(t, c.method, c.path, c.body, as), c.status, c.typ, "")
			})
		}
		h.unchanged(t, before, "a tenant token out of its tenant")
	})
	t.Run("clavis:clients:read reads", func(t *testing.T) {
		h.call(t, "GET", "/t/acme/admin/clients", nil, readOnly).want(t, 200)
		h.call(t, "GET", "/t/acme/admin/export", nil, readOnly).want(t, 200)
	})
	t.Run("clavis:clients:read writes nothing, for want of scope", func(t *testing.T) {
		before := h.head(t)
		r := h.call(t, "POST", "/t/acme/admin/clients", webClient("urn:acme/other"), readOnly)
		checkProblem(t, r, 403, httpapi.ProblemForbidden, "")
		if !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Errorf("403 without insufficient_scope: %v", r.header)
		}
		h.unchanged(t, before, "a write with a read-only token")
	})

	// A token is worthless once its client is deactivated, or its tenant
	// suspended; a tampered one never worked.
	t.Run("a deactivated client's token is worthless", func(t *testing.T) {
		h.call(t, "POST", "/t/acme/admin/clients/"+reader.ClientID+"/deactivate", map[string]any{"reason": "gone"}).want(t, 200)
		h.call(t, "GET", "/t/acme/admin/clients", nil, readOnly).want(t, 401)
	})
	t.Run("a suspended tenant's tokens are worthless", func(t *testing.T) {
		h.call(t, "POST", "/admin/tenants/acme/suspend", nil).want(t, 200)
		h.call(t, "GET", "/t/acme/admin/clients", nil, as).want(t, 401)
	})
	t.Run("a resumed tenant's tokens work again", func(t *testing.T) {
		h.call(t, "POST", "/admin/tenants/acme/resume", nil).want(t, 200)
		h.call(t, "GET", "/t/acme/admin/clients", nil, as).want(t, 200)
	})
	parts := strings.Split(tok, ".")
	for name, forged := range map[string]string{
		"a tampered token never worked":  parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2],
		"an unsigned token never worked": parts[0] + "." + parts[1] + ".",
	} {
		t.Run(name, func(t *testing.T) {
			h.call(t, "GET", "/t/acme/admin/clients", nil, token(forged)).want(t, 401)
		})
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	h.createTenant(t, "beta")
	h.createClient(t, "acme", spaClient("urn:acme/spa")) // allows https://spa.example.com
	worker, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"grant_types": []string{"client_credentials"}, "allowed_cors_origins": []string{"https://worker.example.com"}})

	// A preflight: the origins of any of the tenant's clients.
	for _, c := range []struct {
		name                 string
		tenant, path, origin string
		want                 string
	}{
		{"the token endpoint allows a client's origin", "acme", "/oauth2/token", "https://spa.example.com", "https://spa.example.com"},
		{"the token endpoint allows another client's origin", "acme", "/oauth2/token", "https://worker.example.com", "https://worker.example.com"},
		{"the metadata allows a client's origin", "acme", "/.well-known/oauth-authorization-server", "https://spa.example.com", "https://spa.example.com"},
		{"no client's origin is not allowed", "acme", "/oauth2/token", "https://evil.example.com", ""},
		{"another tenant's client's origin is not allowed", "beta", "/oauth2/token", "https://spa.example.com", ""},
	} {
		t.Run("preflight: "+c.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodOptions, h.url+"/t/"+c.tenant+c.path, nil)
			req.Header.Set("Origin", c.origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			type shown struct {
				Status      int
				AllowOrigin string
			}
			if diff := cmp.Diff(shown{204, c.want}, shown{res.StatusCode, res.Header.Get("Access-Control-Allow-Origin")}); diff != "" {
				t.Errorf("preflight (-want +got):\n%s", diff)
			}
		})
	}

	// An actual request: only the origins of the client it names.
	for _, c := range []struct {
		name   string
		origin string
		basic  []string
		want   string
	}{
		{"the worker from its origin", "https://worker.example.com", []string{worker.ClientID, worker.ClientSecret}, "https://worker.example.com"},
		{"the worker from the SPA's origin", "https://spa.example.com", []string{worker.ClientID, worker.ClientSecret}, ""},
		{"the admin client (no origins) from the worker's origin", "https://worker.example.com", []string{adminID, adminSecret}, ""},
	} {
		t.Run("request: "+c.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.url+"/t/acme/oauth2/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", c.origin)
			req.SetBasicAuth(url.QueryEscape(c.basic[0]), url.QueryEscape(c.basic[1]))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if diff := cmp.Diff(c.want, res.Header.Get("Access-Control-Allow-Origin")); diff != "" {
				t.Errorf("Access-Control-Allow-Origin (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("without Origin nothing changes", func(t *testing.T) {
		h.accessToken(t, "acme", worker.ClientID, worker.ClientSecret)
	})
}

// A compressed body, or one that does not parse, at any of the OAuth
// form endpoints is refused before anything inflates or stores it.
func TestOAuthBodiesThatDoNotParse(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")

	for _, path := range []string{"/t/acme/oauth2/token", "/t/acme/admin/clients"} {
		t.Run("a compressed body at "+path+" is refused before anything inflates it", func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.url+path, strings.NewReader("\x1f\x8b not really gzip"))
			req.Header.Set("Content-Encoding", "gzip")
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+rootToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if diff := cmp.Diff(http.StatusUnsupportedMediaType, res.StatusCode); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
	// An RFC 6749 invalid_request, not a server error or a problem
	// document.
	for _, ep := range []string{"token", "introspect", "revoke"} {
		for ct, body := range map[string]string{
			"multipart/form-data; boundary=x":   "--x\r\nnot a part",
			"multipart/form-data":               "a=b",
			"application/x-www-form-urlencoded": "grant_type=%zz",
		} {
			t.Run(ep+" with a body of "+ct+" that does not parse is invalid_request", func(t *testing.T) {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.url+"/t/acme/oauth2/"+ep, strings.NewReader(body))
				req.Header.Set("Content-Type", ct)
				req.SetBasicAuth(adminID, adminSecret)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				wantStatus(t, ep, response{status: res.StatusCode, header: res.Header, body: b}, 400, "invalid_request")
			})
		}
	}
}
