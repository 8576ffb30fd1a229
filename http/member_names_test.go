package httpapi_test

import (
	"testing"

	httpapi "github.com/clavisiam/clavis/http"
)

// Unknown members are refused, and a member is known only by its exact
// name: encoding/json would take "DEFAULT_SCOPES" or "Default_Scopes" for
// default_scopes. RFC 7591 ignores metadata it does not know (§2), a
// mis-cased name among them.
func TestMemberNamesAreExact(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Jobs", "code": "urn:acme/jobs",
		"grant_types": []string{"client_credentials"}})
	id := c["client_id"].(string)
	m2m := func(extra string, v any) map[string]any {
		return map[string]any{"type": "m2m", "client_name": "Other", "code": "urn:acme/other", "grant_types": []string{"client_credentials"}, extra: v}
	}
	pkg := map[string]any{"format": "clavis.clients/v1", "tenant": "other", "clients": []any{
		map[string]any{"client_id": "x", "settings": m2m("Default_Scopes", []string{"clavis:admin"})}}}
	before := h.head(t)
	for _, tt := range []struct {
		name, method, path string
		body               any
		field              string
	}{
		{"create: upper case", "POST", "/t/acme/admin/clients", m2m("DEFAULT_SCOPES", []string{"openid"}), "DEFAULT_SCOPES"},
		{"create: mixed case", "POST", "/t/acme/admin/clients", m2m("Default_Scopes", []string{"openid"}), "Default_Scopes"},
		{"create: a field's Go name", "POST", "/t/acme/admin/clients", m2m("DefaultScopes", []string{"openid"}), "DefaultScopes"},
		{"patch client", "PATCH", "/t/acme/admin/clients/" + id, map[string]any{"DEFAULT_SCOPES": []string{"openid"}}, "DEFAULT_SCOPES"},
		{"patch client: null", "PATCH", "/t/acme/admin/clients/" + id, map[string]any{"Client_Name": "Renamed"}, "Client_Name"},
		{"patch tenant", "PATCH", "/admin/tenants/acme", map[string]any{"NAME": "Acme"}, "NAME"},
		{"create tenant", "POST", "/admin/tenants", map[string]any{"slug": "beta", "Name": "Beta"}, "Name"},
		{"import", "POST", "/t/acme/admin/import", pkg, "clients[0].settings.Default_Scopes"},
		{"import: package member", "POST", "/t/acme/admin/import", map[string]any{"FORMAT": "clavis.clients/v1", "clients": []any{}}, "FORMAT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkProblem(t, h.call(t, tt.method, tt.path, tt.body), 400, httpapi.ProblemUnknownField, tt.field)
		})
	}
	h.unchanged(t, before, "mis-cased members")

	// RFC 7591: a mis-cased name is metadata the server does not take.
	reg := h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Shop", "Client_Name": "Evil",
		"token_endpoint_auth_method": "none", "redirect_uris": []string{"https://shop.example.com/cb"}}).want(t, 201).object(t)
	if reg["client_name"] != "Shop" {
		t.Errorf("registration took a mis-cased member: %v", reg)
	}
	// Nor does one decide the client's type.
	reg = h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": "Shop",
		"TOKEN_ENDPOINT_AUTH_METHOD": "none", "redirect_uris": []string{"https://shop.example.com/cb"}}).want(t, 201).object(t)
	if reg["token_endpoint_auth_method"] != "client_secret_basic" || reg["client_secret"] == nil {
		t.Errorf("a mis-cased token_endpoint_auth_method made the client public: %v", reg)
	}
}

// Display names refuse Unicode bidirectional controls, which would let
// a name read as something else on the consent page.
func TestDisplayNamesRefuseBidiControls(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Jobs", "code": "urn:acme/jobs",
		"grant_types": []string{"client_credentials"}})
	id := c["client_id"].(string)
	before := h.head(t)
	for _, bidi := range []string{"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"} {
		name := "Bank" + bidi + "gnp.exe"
		checkProblem(t, h.call(t, "POST", "/t/acme/admin/clients", map[string]any{"type": "m2m", "client_name": name,
			"code": "urn:acme/spoof", "grant_types": []string{"client_credentials"}}), 422, httpapi.ProblemValidation, "client_name")
		checkProblem(t, h.call(t, "PATCH", "/t/acme/admin/clients/"+id, map[string]any{"client_name": name}), 422, httpapi.ProblemValidation, "client_name")
		checkProblem(t, h.call(t, "PATCH", "/admin/tenants/acme", map[string]any{"name": name}), 422, httpapi.ProblemValidation, "name")
		checkProblem(t, h.call(t, "POST", "/admin/tenants", map[string]any{"slug": "beta", "name": name}), 422, httpapi.ProblemValidation, "name")
		r := h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{"client_name": name, "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"https://shop.example.com/cb"}})
		if r.status != 400 || r.object(t)["error"] != "invalid_client_metadata" {
			t.Errorf("RFC 7591 registration named %q: %d %s", name, r.status, r.body)
		}
	}
	h.unchanged(t, before, "bidi controls in display names")
	// Other scripts, right-to-left ones included, are names like any.
	h.call(t, "PATCH", "/t/acme/admin/clients/"+id, map[string]any{"client_name": "שלום Jobs"}).want(t, 200)
}
