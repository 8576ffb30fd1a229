package scope_test

import (
	"testing"

	"github.com/clavisiam/clavis/domain/scope"
)

func TestDescription(t *testing.T) {
	t.Parallel()
	cat := scope.NewCatalogue(scope.Resource{Code: "urn:acme/orders", Scopes: []string{"read"}})
	for _, s := range append(scope.IdentityScopes(), scope.PlatformScopes()...) {
		if cat.Description(s) == "" {
			t.Errorf("built-in scope %q has no description", s)
		}
	}
	for _, s := range []string{"urn:acme/orders:read", "urn:acme/orders:write", "unknown", ""} {
		if d := cat.Description(s); d != "" {
			t.Errorf("Description(%q) = %q, want none", s, d)
		}
	}
}
