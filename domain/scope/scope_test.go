package scope_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/scope"
)

func TestValidToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"identity scope", "openid", true},
		{"api scope", "urn:acme/orders:read", true},
		{"lowest allowed byte", "!", true},
		{"hash to left bracket", "#[", true},
		{"right bracket to tilde", "]~", true},
		{"max length", strings.Repeat("a", scope.MaxTokenLength), true},
		{"empty", "", false},
		{"space", "a b", false},
		{"double quote", `a"b`, false},
		{"backslash", `a\b`, false},
		{"tab", "a\tb", false},
		{"DEL", "a\x7f", false},
		{"non-ASCII", "épée", false},
		{"too long", strings.Repeat("a", scope.MaxTokenLength+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := scope.ValidToken(tt.in); got != tt.want {
				t.Errorf("ValidToken(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCatalogue(t *testing.T) {
	t.Parallel()
	cat := scope.NewCatalogue(
		scope.Resource{Code: "urn:acme/orders", Scopes: []string{"read", "write"}},
		scope.Resource{Code: "urn:acme/billing", Scopes: []string{"read"}},
	)
	tests := []struct {
		scope string
		kind  scope.Kind
	}{
		{scope.OpenID, scope.KindIdentity},
		{scope.Profile, scope.KindIdentity},
		{scope.Email, scope.KindIdentity},
		{scope.Address, scope.KindIdentity},
		{scope.Phone, scope.KindIdentity},
		{scope.OfflineAccess, scope.KindIdentity},
		{scope.Admin, scope.KindPlatform},
		{scope.ClientsRead, scope.KindPlatform},
		{scope.ClientsWrite, scope.KindPlatform},
		{scope.Login, scope.KindPlatform},
		{"urn:acme/orders:read", scope.KindAPI},
		{"urn:acme/orders:write", scope.KindAPI},
		{"urn:acme/billing:read", scope.KindAPI},
		{"urn:acme/billing:write", scope.KindUnknown},
		{"read", scope.KindUnknown},
		{"", scope.KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			t.Parallel()
			if got := cat.Kind(tt.scope); got != tt.kind {
				t.Errorf("Kind(%q) = %v, want %v", tt.scope, got, tt.kind)
			}
			if got, want := cat.Has(tt.scope), tt.kind != scope.KindUnknown; got != want {
				t.Errorf("Has(%q) = %v, want %v", tt.scope, got, want)
			}
			if got, want := cat.IsIdentity(tt.scope), tt.kind == scope.KindIdentity; got != want {
				t.Errorf("IsIdentity(%q) = %v, want %v", tt.scope, got, want)
			}
			if got, want := cat.IsAPI(tt.scope), tt.kind == scope.KindAPI; got != want {
				t.Errorf("IsAPI(%q) = %v, want %v", tt.scope, got, want)
			}
		})
	}
}

func TestCatalogueList(t *testing.T) {
	t.Parallel()
	cat := scope.NewCatalogue(scope.Resource{Code: "urn:acme/orders", Scopes: []string{"write", "read"}})
	want := []string{
		"address", "clavis:admin", "clavis:audit", "clavis:clients:read", "clavis:clients:write", "clavis:events:read", "clavis:login", "email",
		"offline_access", "openid", "phone", "profile", "urn:acme/orders:read", "urn:acme/orders:write",
	}
	got := cat.List()
	if !slices.Equal(got, want) {
		t.Fatalf("List() = %q, want %q", got, want)
	}
	if cat.Len() != len(want) {
		t.Errorf("Len() = %d, want %d", cat.Len(), len(want))
	}
	got[0] = "mutated"
	if cat.List()[0] != "address" {
		t.Error("List() returned a slice aliasing the catalogue")
	}
}

func TestZeroCatalogueHoldsBuiltins(t *testing.T) {
	t.Parallel()
	var cat scope.Catalogue
	want := append(scope.IdentityScopes(), scope.PlatformScopes()...)
	slices.Sort(want)
	if got := cat.List(); !slices.Equal(got, want) {
		t.Errorf("zero catalogue List() = %q, want %q", got, want)
	}
	for _, s := range want {
		if !cat.Has(s) {
			t.Errorf("zero catalogue lacks %q", s)
		}
	}
}

func TestCatalogueSkipsInvalidScopes(t *testing.T) {
	t.Parallel()
	cat := scope.NewCatalogue(
		scope.Resource{Code: "", Scopes: []string{"read"}},
		scope.Resource{Code: "urn:acme/orders", Scopes: []string{"", "a:b", "a b", `q"`, strings.Repeat("x", 200), "ok"}},
		scope.Resource{Code: "clavis:clients", Scopes: []string{"read"}},
	)
	want := append(scope.IdentityScopes(), scope.PlatformScopes()...)
	want = append(want, "urn:acme/orders:ok")
	slices.Sort(want)
	if got := cat.List(); !slices.Equal(got, want) {
		t.Errorf("List() = %q, want %q", got, want)
	}
	if k := cat.Kind(scope.ClientsRead); k != scope.KindPlatform {
		t.Errorf("a resource may not turn a platform scope into %v", k)
	}
}

func TestCatalogueWithDoesNotChangeReceiver(t *testing.T) {
	t.Parallel()
	base := scope.NewCatalogue(scope.Resource{Code: "urn:acme/orders", Scopes: []string{"read"}})
	ext := base.With(scope.Resource{Code: "urn:acme/billing", Scopes: []string{"read"}})
	if base.Has("urn:acme/billing:read") {
		t.Error("With changed the receiver")
	}
	if !ext.Has("urn:acme/billing:read") || !ext.Has("urn:acme/orders:read") {
		t.Errorf("With result = %q", ext.List())
	}
}

func TestBuiltinsAreCopies(t *testing.T) {
	t.Parallel()
	ids := scope.IdentityScopes()
	ids[0] = "mutated"
	if scope.IdentityScopes()[0] == "mutated" {
		t.Error("IdentityScopes returned shared state")
	}
	ps := scope.PlatformScopes()
	ps[0] = "mutated"
	if scope.PlatformScopes()[0] == "mutated" {
		t.Error("PlatformScopes returned shared state")
	}
	for _, s := range scope.IdentityScopes() {
		if !scope.IsIdentity(s) || scope.IsPlatform(s) {
			t.Errorf("%q misclassified", s)
		}
	}
	for _, s := range scope.PlatformScopes() {
		if !scope.IsPlatform(s) || scope.IsIdentity(s) {
			t.Errorf("%q misclassified", s)
		}
	}
}

func TestJoinSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in           string
		code, suffix string
		ok           bool
	}{
		{"urn:acme/orders:read", "urn:acme/orders", "read", true},
		{"a:b", "a", "b", true},
		{"openid", "", "", false},
		{":read", "", "", false},
		{"urn:acme/orders:", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			code, suffix, ok := scope.Split(tt.in)
			if code != tt.code || suffix != tt.suffix || ok != tt.ok {
				t.Fatalf("Split(%q) = %q, %q, %v; want %q, %q, %v", tt.in, code, suffix, ok, tt.code, tt.suffix, tt.ok)
			}
			if ok && scope.Join(code, suffix) != tt.in {
				t.Errorf("Join(Split(%q)) = %q", tt.in, scope.Join(code, suffix))
			}
		})
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	for k, want := range map[scope.Kind]string{
		scope.KindUnknown: "unknown", scope.KindIdentity: "identity",
		scope.KindPlatform: "platform", scope.KindAPI: "api",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestHolds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		held  []string
		scope string
		want  bool
	}{
		{"admin holds admin", []string{scope.Admin}, scope.Admin, true},
		{"admin holds every platform scope", []string{scope.Admin}, scope.Login, true},
		{"a scope holds itself", []string{scope.ClientsRead}, scope.ClientsRead, true},
		{"write holds read", []string{scope.ClientsWrite}, scope.ClientsRead, true},
		{"write holds login", []string{scope.ClientsWrite}, scope.Login, true},
		{"write does not hold admin", []string{scope.ClientsWrite}, scope.Admin, false},
		{"read does not hold write", []string{scope.ClientsRead}, scope.ClientsWrite, false},
		{"login holds nothing else", []string{scope.Login}, scope.ClientsRead, false},
		{"admin holds audit", []string{scope.Admin}, scope.Audit, true},
		{"audit holds itself", []string{scope.Audit}, scope.Audit, true},
		{"read does not hold audit", []string{scope.ClientsRead}, scope.Audit, false},
		{"write does not hold audit", []string{scope.ClientsWrite}, scope.Audit, false},
		{"login does not hold audit", []string{scope.Login}, scope.Audit, false},
		{"audit holds nothing else", []string{scope.Audit}, scope.ClientsRead, false},
		{"audit does not hold login", []string{scope.Audit}, scope.Login, false},
		{"nothing holds nothing", nil, scope.ClientsRead, false},
		{"a look-alike holds nothing", []string{"clavis:admin "}, scope.Admin, false},
		{"not a platform scope", []string{scope.Admin}, "urn:acme/orders:read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := scope.Holds(tt.held, tt.scope); got != tt.want {
				t.Errorf("Holds(%q, %q) = %v, want %v", tt.held, tt.scope, got, tt.want)
			}
		})
	}
}
