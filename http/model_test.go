package httpapi_test

import (
	"slices"
	"testing"

	"golang.org/x/oauth2"
)

// A resource server must tell which scope granted which permission: each
// permission in an access token, and in its introspection, is
// "{scope}:{permission}", so "delete" granted by urn:acme/orders:write is
// urn:acme/orders:write:delete, never a bare "delete".
func TestAccessTokenPermissionsKeepTheirScope(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createClient(t, "acme", map[string]any{"type": "confidential", "client_name": "Orders API", "code": "urn:acme/orders",
		"redirect_uris": []string{"https://orders.example.com/cb"}, "api_scopes": []string{"read", "write"}})
	worker := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"default_scopes":    []string{"urn:acme/orders:read", "urn:acme/orders:write"},
		"scope_permissions": map[string][]string{"urn:acme/orders:read": {"read"}, "urn:acme/orders:write": {"create", "delete"}}})
	id, secret := worker["client_id"].(string), worker["client_secret"].(string)

	tok, err := h.clientCredentials(t, "acme", id, secret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"urn:acme/orders:read:read", "urn:acme/orders:write:create", "urn:acme/orders:write:delete"}
	claims, _ := h.verify(t, "acme", tok.AccessToken)
	if got := slices.Sorted(slices.Values(anyStrings(claims["permissions"]))); !slices.Equal(got, want) {
		t.Errorf("token permissions = %v, want %v", claims["permissions"], want)
	}
	in := h.introspect(t, "acme", tok.AccessToken, id, secret).want(t, 200).object(t)
	if got := slices.Sorted(slices.Values(anyStrings(in["permissions"]))); in["active"] != true || !slices.Equal(got, want) {
		t.Errorf("introspection = %v, want permissions %v", in, want)
	}

	// A permission withdrawn since the token was issued no longer counts.
	h.call(t, "PATCH", "/t/acme/admin/clients/"+id, map[string]any{
		"scope_permissions": map[string][]string{"urn:acme/orders:read": {"read"}, "urn:acme/orders:write": {"create"}}}).want(t, 200)
	in = h.introspect(t, "acme", tok.AccessToken, id, secret).want(t, 200).object(t)
	if got := slices.Sorted(slices.Values(anyStrings(in["permissions"]))); !slices.Equal(got, want[:2]) {
		t.Errorf("introspection after withdrawing delete = %v, want %v", in["permissions"], want[:2])
	}
}
