package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/internal/testnode"
)

// TestPlatformCodesAreReserved: the codes in urn:clavis/ name the
// clients the platform manages (a tenant's admin client). Nobody else
// creates a client with such a code, by any route (admin API, RFC 7591,
// clone, import), no command moves a code into or out of that namespace,
// and the admin client's code never changes; so an export never carries
// the admin client under another code, and no decoy takes its place.
func TestPlatformCodesAreReserved(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, n *testnode.Server) {
		api := apiCaller{t: t, url: n.URL}
		adminID, admin := api.tenant(n.RootToken, "acme")
		writerID, writer := api.clientsWriter("acme", admin)
		m2m := func(code string) map[string]any {
			return map[string]any{"type": "m2m", "client_name": "Decoy", "code": code, "grant_types": []string{"client_credentials"}}
		}
		refused := func(what string, status int, body []byte) {
			t.Helper()
			if status/100 == 2 || status >= 500 || !strings.Contains(string(body), "code") {
				t.Errorf("%s: %d %s, want a refusal naming the code", what, status, body)
			}
		}
		before := string(must(json.Marshal(api.call(http.MethodGet, "/t/acme/admin/clients", admin, nil, http.StatusOK))))

		// The admin client's code never changes, not even by clavis:admin.
		for _, code := range []string{"urn:acme/renamed-admin", "urn:clavis/console"} {
			st, body := api.send(http.MethodPatch, "/t/acme/admin/clients/"+adminID, admin, map[string]any{"code": code})
			checkReserved(t, "renaming the admin client to "+code, st, body)
		}
		// Nobody creates a client with a platform code, or gives one.
		for _, tok := range []string{admin, writer} {
			for _, code := range []string{"urn:clavis/admin", "urn:clavis/console", "urn:clavis/anything"} {
				st, body := api.send(http.MethodPost, "/t/acme/admin/clients", tok, m2m(code))
				checkReserved(t, "creating "+code, st, body)
			}
		}
		st, body := api.send(http.MethodPatch, "/t/acme/admin/clients/"+writerID, admin, map[string]any{"code": "urn:clavis/admin"})
		checkReserved(t, "renaming a client to urn:clavis/admin", st, body)
		st, body = api.send(http.MethodPost, "/t/acme/admin/clients/"+writerID+"/clone", admin, map[string]any{"client_name": "Copy", "code": "urn:clavis/admin"})
		checkReserved(t, "cloning to urn:clavis/admin", st, body)
		st, body = api.send(http.MethodPost, "/t/acme/oauth2/register", writer, map[string]any{"client_name": "Shop", "code": "urn:clavis/admin",
			"token_endpoint_auth_method": "none", "redirect_uris": []string{"https://shop.example.com/cb"}})
		refused("RFC 7591 registration as urn:clavis/admin", st, body)
		if after := string(must(json.Marshal(api.call(http.MethodGet, "/t/acme/admin/clients", admin, nil, http.StatusOK)))); after != before {
			t.Errorf("refused commands changed the clients:\nbefore %s\nafter  %s", before, after)
		}

		// A package with a client in the namespace has it skipped.
		pkg := map[string]any{"format": "clavis.clients/v1", "tenant": "other", "clients": []any{
			map[string]any{"client_id": "x", "settings": m2m("urn:clavis/console")}}}
		if got := importActions(api.call(http.MethodPost, "/t/acme/admin/import", admin, pkg, http.StatusOK)); got["urn:clavis/console"] != "skipped" {
			t.Errorf("import of urn:clavis/console = %v, want skipped", got)
		}
		// The export holds no client of the admin client's scope.
		for _, c := range api.call(http.MethodGet, "/t/acme/admin/export", admin, nil, http.StatusOK)["clients"].([]any) {
			s := c.(map[string]any)["settings"].(map[string]any)
			if strings.HasPrefix(s["code"].(string), "urn:clavis/") || c.(map[string]any)["client_id"] == adminID {
				t.Errorf("the export holds a platform client: %v", c)
			}
		}
		// Other changes of the admin client still work.
		api.call(http.MethodPatch, "/t/acme/admin/clients/"+adminID, admin, map[string]any{"description": "The platform's."}, http.StatusOK)
	})
}

// checkReserved wants a 422 problem naming the field code.
func checkReserved(t *testing.T, what string, status int, body []byte) {
	t.Helper()
	var p struct {
		Errors []struct{ Field, Code string } `json:"errors"`
	}
	_ = json.Unmarshal(body, &p)
	if status != http.StatusUnprocessableEntity || len(p.Errors) == 0 || p.Errors[0].Field != "code" {
		t.Errorf("%s: %d %s, want 422 naming code", what, status, body)
	}
}
