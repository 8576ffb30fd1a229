package httpapi_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/clavisiam/clavis/domain/client"
)

func TestDynamicClientRegistration(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	h.createTenant(t, "beta")
	h.createClient(t, "acme", map[string]any{"type": "confidential", "client_name": "Orders API", "code": "urn:acme/orders",
		"redirect_uris": []string{"https://orders.example.com/cb"}, "api_scopes": []string{"read"}})
	initial := h.accessToken(t, "acme", adminID, adminSecret)
	iat := token(initial)

	// RFC 7591 metadata: scope as a string, a field Clavis does not know
	// (ignored), no type and no code (inferred, generated).
	reg := decodeAs[registration](t, h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{
		"client_name": "Registered worker", "grant_types": []string{"client_credentials"},
		"scope": "urn:acme/orders:read", "software_statement_version": "1.2",
	}, iat).want(t, 201))
	id, mgmt := reg.ClientID, "/t/acme/oauth2/register/"+reg.ClientID
	var secret, rat string
	if reg.ClientSecret == nil || reg.RegistrationAccessToken == nil {
		t.Fatalf("the registration shows no secret or no registration access token: %+v", reg)
	}
	secret, rat = *reg.ClientSecret, *reg.RegistrationAccessToken

	t.Run("the registration infers the type, generates a code and names where to manage it", func(t *testing.T) {
		type shown struct {
			Type, Scope, RegistrationClientURI string
			GeneratedCode, IssuedAt            bool
		}
		want := shown{"m2m", "urn:acme/orders:read", testIssuer + "acme/oauth2/register/" + id, true, true}
		got := shown{reg.Type, deref(reg.Scope), reg.RegistrationClientURI, strings.HasPrefix(reg.Code, "urn:acme/dcr-"), reg.ClientIDIssuedAt != nil}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("registration (-want +got):\n%s", diff)
		}
	})
	// It is a client like any other.
	t.Run("the registered client gets tokens of its scope", func(t *testing.T) {
		claims, _ := verifyAs[accessClaims](t, h, "acme", h.accessToken(t, "acme", id, secret))
		if diff := cmp.Diff("urn:acme/orders:read", claims.Scope); diff != "" {
			t.Errorf("scope (-want +got):\n%s", diff)
		}
	})
	t.Run("its history shows it registered by the admin client", func(t *testing.T) {
		hist := decodeAs[historyResponse](t, h.call(t, "GET", "/t/acme/admin/clients/"+id+"/history", nil).want(t, 200))
		if len(hist.Events) == 0 {
			t.Fatalf("no history: %+v", hist)
		}
		type shown struct{ Type, Actor string }
		if diff := cmp.Diff(shown{"client.registered", "client:" + adminID}, shown{hist.Events[0].Type, hist.Events[0].Actor}); diff != "" {
			t.Errorf("first event (-want +got):\n%s", diff)
		}
	})

	// RFC 7592: read, replace, delete with the registration access token.
	t.Run("a read shows neither the secret nor the registration access token", func(t *testing.T) {
		got := decodeAs[registration](t, h.call(t, "GET", mgmt, nil, token(rat)).want(t, 200))
		type shown struct {
			ClientID                              string
			ClientSecret, RegistrationAccessToken *string
		}
		if diff := cmp.Diff(shown{ClientID: id}, shown{got.ClientID, got.ClientSecret, got.RegistrationAccessToken}); diff != "" {
			t.Errorf("read (-want +got):\n%s", diff)
		}
	})
	t.Run("a replacement takes the new metadata and keeps the code", func(t *testing.T) {
		replaced := decodeAs[registration](t, h.call(t, "PUT", mgmt, map[string]any{"client_id": id, "client_name": "Renamed worker",
			"grant_types": []string{"client_credentials"}}, token(rat)).want(t, 200))
		type shown struct {
			ClientName string
			Scope      *string
			Code       string
		}
		if diff := cmp.Diff(shown{"Renamed worker", ptr(""), reg.Code}, shown{replaced.ClientName, replaced.Scope, replaced.Code}); diff != "" {
			t.Errorf("replaced (-want +got):\n%s", diff)
		}
	})

	t.Run("refusals change nothing", func(t *testing.T) {
		other := decodeAs[registration](t, h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Other", "grant_types": []string{"client_credentials"}}, iat).want(t, 201))
		before := h.head(t)
		for name, c := range map[string]struct {
			method, path string
			body         any
			opts         []callOpt
			status       int
			code         string
		}{
			"no initial token":              {"POST", "/t/acme/oauth2/register", map[string]any{"client_name": "X"}, []callOpt{token("")}, 401, ""},
			"a token of another tenant":     {"POST", "/t/beta/oauth2/register", map[string]any{"client_name": "X"}, []callOpt{iat}, 404, ""},
			"a bad redirect URI":            {"POST", "/t/acme/oauth2/register", map[string]any{"client_name": "X", "redirect_uris": []string{"http://evil.example.com/cb"}}, []callOpt{iat}, 400, "invalid_redirect_uri"},
			"an unknown scope":              {"POST", "/t/acme/oauth2/register", map[string]any{"client_name": "X", "grant_types": []string{"client_credentials"}, "scope": "urn:x/y:z"}, []callOpt{iat}, 400, "invalid_client_metadata"},
			"a platform scope":              {"POST", "/t/acme/oauth2/register", map[string]any{"client_name": "X", "grant_types": []string{"client_credentials"}, "scope": "clavis:admin"}, []callOpt{iat}, 400, "invalid_client_metadata"},
			"scope not a string":            {"POST", "/t/acme/oauth2/register", map[string]any{"client_name": "X", "scope": []string{"a"}}, []callOpt{iat}, 400, "invalid_client_metadata"},
			"malformed JSON":                {"POST", "/t/acme/oauth2/register", `{"client_name":`, []callOpt{iat}, 400, ""},
			"a null body":                   {"POST", "/t/acme/oauth2/register", `null`, []callOpt{iat}, 400, "invalid_client_metadata"},
			"a JSON array":                  {"POST", "/t/acme/oauth2/register", `[]`, []callOpt{iat}, 400, "invalid_client_metadata"},
			"replace with a null body":      {"PUT", mgmt, `null`, []callOpt{token(rat)}, 400, "invalid_client_metadata"},
			"another client's token":        {"GET", mgmt, nil, []callOpt{token(*other.RegistrationAccessToken)}, 401, "invalid_token"},
			"an access token":               {"GET", mgmt, nil, []callOpt{token(h.accessToken(t, "acme", id, secret))}, 401, "invalid_token"},
			"no registration token":         {"DELETE", mgmt, nil, []callOpt{token("")}, 401, "invalid_token"},
			"replace another client's":      {"PUT", mgmt, map[string]any{"client_id": other.ClientID, "client_name": "X"}, []callOpt{token(rat)}, 400, "invalid_client_metadata"},
			"replace with a bad redirect":   {"PUT", mgmt, map[string]any{"client_name": "X", "type": "confidential", "redirect_uris": []string{"javascript:x"}}, []callOpt{token(rat)}, 400, "invalid_redirect_uri"},
			"replace with a platform scope": {"PUT", mgmt, map[string]any{"client_name": "Worker", "type": "m2m", "grant_types": []string{"client_credentials"}, "scope": "clavis:admin"}, []callOpt{token(rat)}, 400, ""},
		} {
			t.Run(name, func(t *testing.T) {
				wantStatus(t, name, h.call(t, c.method, c.path, c.body, c.opts...), c.status, c.code)
			})
		}
		h.unchanged(t, before, "refused registrations")
	})

	// Registration sets only registration metadata: no admin-only
	// setting, neither at registration nor at replacement.
	pub := decodeAs[registration](t, h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Public app", "token_endpoint_auth_method": "none",
		"redirect_uris": []string{"https://app.example.com/cb"}, "first_party": true, "client_claims": []map[string]string{{"type": "role", "value": "admin"}}}, iat).want(t, 201))
	t.Run("admin-only settings are not taken from a registration", func(t *testing.T) {
		type shown struct {
			FirstParty   *bool
			ClientClaims []client.Claim
			ClientSecret *string
		}
		if diff := cmp.Diff(shown{ptr(false), []client.Claim{}, nil}, shown{pub.FirstParty, pub.ClientClaims, pub.ClientSecret}); diff != "" {
			t.Errorf("registration (-want +got):\n%s", diff)
		}
	})
	pubMgmt, pubRAT := "/t/acme/oauth2/register/"+pub.ClientID, token(deref(pub.RegistrationAccessToken))
	t.Run("a replacement that makes the client need a secret shows it, once, and it works", func(t *testing.T) {
		worker := decodeAs[registration](t, h.call(t, "PUT", pubMgmt, map[string]any{"client_name": "Worker", "type": "m2m", "grant_types": []string{"client_credentials"},
			"token_endpoint_auth_method": "client_secret_basic"}, pubRAT).want(t, 200))
		sec := deref(worker.ClientSecret)
		if !strings.HasPrefix(sec, "cls_") {
			t.Fatalf("the new secret of a replaced registration is not shown: %+v", worker)
		}
		if _, err := h.clientCredentials(t, "acme", pub.ClientID, sec, oauth2.AuthStyleInHeader); err != nil {
			t.Errorf("the shown secret does not work: %v", err)
		}
	})
	t.Run("a registration access token is no access token, and no access token a registration token", func(t *testing.T) {
		h.call(t, "GET", "/t/acme/admin/clients", nil, pubRAT).want(t, 401)
		h.call(t, "GET", pubMgmt, nil, iat).want(t, 401)
	})

	t.Run("a deleted registration is gone", func(t *testing.T) {
		h.call(t, "DELETE", mgmt, nil, token(rat)).want(t, 204)
		h.call(t, "GET", mgmt, nil, token(rat)).want(t, 401)
		h.call(t, "GET", "/t/acme/admin/clients/"+id, nil).want(t, 404)
	})
}

// deref is what p points to, or the zero value.
func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}
