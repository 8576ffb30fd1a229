package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clavisiam/clavis/eventstore"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/testnode"
)

// Tests of what the tenant admin API and the registration endpoints let a
// token do, over HTTP against a node built as serve builds it, on both
// backends.

// apiCaller sends JSON requests to a node.
type apiCaller struct {
	t   *testing.T
	url string
}

// send sends body (JSON, unless it is url.Values: a form) to path with
// bearer token tok ("" for none) and returns the status and the body.
func (a apiCaller) send(method, path, tok string, body any) (int, []byte) {
	a.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
		if method == http.MethodPatch {
			ct = "application/merge-patch+json"
		}
	}
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", ct)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, data
}

// call is send that fails the test unless the status is want, and
// decodes the body (nil when empty).
func (a apiCaller) call(method, path, tok string, body any, want int) map[string]any {
	a.t.Helper()
	status, data := a.send(method, path, tok, body)
	if status != want {
		a.t.Fatalf("%s %s = %d %s, want %d", method, path, status, data, want)
	}
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			a.t.Fatalf("%s %s: %s: %v", method, path, data, err)
		}
	}
	return out
}

// token gets an access token of client id of tenant slug through the
// client_credentials grant, with scopes (none: the client's defaults).
func (a apiCaller) token(slug, id, secret string, scopes ...string) string {
	a.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	req, err := http.NewRequestWithContext(a.t.Context(), http.MethodPost, a.url+"/t/"+slug+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || json.Unmarshal(data, &tok) != nil || tok.AccessToken == "" {
		a.t.Fatalf("token of %s at %s = %d %s", id, slug, res.StatusCode, data)
	}
	return tok.AccessToken
}

// tenant creates tenant slug with the root token and returns its admin
// client's id and a token of it.
func (a apiCaller) tenant(root, slug string) (adminID, adminToken string) {
	a.t.Helper()
	created := a.call(http.MethodPost, "/admin/tenants", root, map[string]any{"slug": slug, "name": strings.ToUpper(slug)}, http.StatusCreated)
	admin := created["admin_client"].(map[string]any)
	id, secret := admin["client_id"].(string), admin["client_secret"].(string)
	return id, a.token(slug, id, secret)
}

// clientsWriter creates at tenant slug, with the admin token admin, the
// client urn:{slug}/writer holding clavis:clients:write and nothing
// more, and returns its id and a token of it.
func (a apiCaller) clientsWriter(slug, admin string) (writerID, writerToken string) {
	a.t.Helper()
	w := a.call(http.MethodPost, "/t/"+slug+"/admin/clients", admin, map[string]any{"type": "m2m", "client_name": "Writer",
		"code": "urn:" + slug + "/writer", "grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:clients:write"}}, http.StatusCreated)
	id := w["client_id"].(string)
	return id, a.token(slug, id, w["client_secret"].(string))
}

// TestRegistrationUpdateKeepsAdminSettings: an RFC 7592 replacement by
// the client itself sets its registration metadata only; what the
// tenant's administrators set survives it. A deactivated client's
// registration access token is refused like an invalid one.
func TestRegistrationUpdateKeepsAdminSettings(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, n *testnode.Server) {
		api := apiCaller{t: t, url: n.URL}
		_, admin := api.tenant(n.RootToken, "acme")

		reg := api.call(http.MethodPost, "/t/acme/oauth2/register", admin, map[string]any{
			"client_name": "Shop", "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"https://shop.example.com/cb"},
		}, http.StatusCreated)
		id, rat := reg["client_id"].(string), reg["registration_access_token"].(string)
		mgmt := "/t/acme/oauth2/register/" + id

		// The administrators decide what registration cannot.
		adminSettings := map[string]any{
			"consent_required":      false,
			"first_party":           true,
			"access_token_lifetime": 120.0,
			"id_token_lifetime":     240.0,
			"client_claims":         []any{map[string]any{"type": "tier", "value": "gold"}},
			"description":           "Checked by the security team.",
		}
		api.call(http.MethodPatch, "/t/acme/admin/clients/"+id, admin, adminSettings, http.StatusOK)

		// The client replaces its registration.
		replaced := api.call(http.MethodPut, mgmt, rat, map[string]any{
			"client_id": id, "client_name": "Shop v2", "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"https://shop.example.com/v2/cb"},
		}, http.StatusOK)
		if replaced["client_name"] != "Shop v2" {
			t.Errorf("replacement answered %v", replaced)
		}
		got := api.call(http.MethodGet, "/t/acme/admin/clients/"+id, admin, nil, http.StatusOK)
		for k, want := range adminSettings {
			if g, _ := json.Marshal(got[k]); string(g) != string(must(json.Marshal(want))) {
				t.Errorf("after the client's replacement, %s = %s, want %s as its administrators set it", k, g, must(json.Marshal(want)))
			}
		}
		if got["client_name"] != "Shop v2" || !slices.Equal(strs(got["redirect_uris"]), []string{"https://shop.example.com/v2/cb"}) {
			t.Errorf("the replacement's metadata were not taken: %v", got)
		}

		// Deactivated, the client has no say over its registration.
		api.call(http.MethodPost, "/t/acme/admin/clients/"+id+"/deactivate", admin, map[string]any{"reason": "abuse"}, http.StatusOK)
		before := api.call(http.MethodGet, "/t/acme/admin/clients/"+id, admin, nil, http.StatusOK)
		for _, m := range []string{http.MethodPut, http.MethodGet, http.MethodDelete} {
			var body any
			if m == http.MethodPut {
				body = map[string]any{"client_name": "Evil", "token_endpoint_auth_method": "none", "redirect_uris": []string{"https://evil.example.com/cb"}}
			}
			status, data := api.send(m, mgmt, rat, body)
			var e struct{ Error string }
			if status != http.StatusUnauthorized || json.Unmarshal(data, &e) != nil || e.Error != "invalid_token" {
				t.Errorf("%s with a deactivated client's registration token = %d %s, want 401 invalid_token", m, status, data)
			}
		}
		after := api.call(http.MethodGet, "/t/acme/admin/clients/"+id, admin, nil, http.StatusOK)
		if after["version"] != before["version"] || !slices.Equal(strs(after["redirect_uris"]), []string{"https://shop.example.com/v2/cb"}) {
			t.Errorf("a deactivated client changed its registration: %v", after)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// strs reads a JSON array of strings.
func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}

// TestTokensCannotRaiseTheirPlatformAuthority: a token with
// clavis:clients:write cannot give a client a platform scope it does
// not hold (clavis:admin), by any route that writes a client's scopes,
// nor take over a client that has one; every refusal is a 403 that
// changes nothing. clavis:admin may do both.
func TestTokensCannotRaiseTheirPlatformAuthority(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, n *testnode.Server) {
		api := apiCaller{t: t, url: n.URL}
		adminID, admin := api.tenant(n.RootToken, "acme")
		writerID, writer := api.clientsWriter("acme", admin)
		adminScoped := func(code string, field string, scopes ...string) map[string]any {
			return map[string]any{"type": "m2m", "client_name": "Escalation", "code": code,
				"grant_types": []string{"client_credentials"}, field: scopes}
		}
		pkg := func(settings map[string]any) map[string]any {
			return map[string]any{"format": "clavis.clients/v1", "tenant": "other", "clients": []any{
				map[string]any{"client_id": "x", "settings": map[string]any{"type": "m2m", "client_name": "Harmless", "code": "urn:acme/harmless",
					"grant_types": []string{"client_credentials"}}},
				map[string]any{"client_id": "y", "settings": settings},
			}}
		}
		list := func() string {
			return string(must(json.Marshal(api.call(http.MethodGet, "/t/acme/admin/clients?limit=100", admin, nil, http.StatusOK))))
		}
		before := list()
		for name, c := range map[string]struct {
			method, path string
			body         any
		}{
			"patching its own default scopes":     {http.MethodPatch, "/t/acme/admin/clients/" + writerID, map[string]any{"default_scopes": []string{"clavis:clients:write", "clavis:admin"}}},
			"patching its own optional scopes":    {http.MethodPatch, "/t/acme/admin/clients/" + writerID, map[string]any{"optional_scopes": []string{"clavis:admin"}}},
			"patching with a padded scope":        {http.MethodPatch, "/t/acme/admin/clients/" + writerID, map[string]any{"optional_scopes": []string{" clavis:admin "}}},
			"creating an admin client":            {http.MethodPost, "/t/acme/admin/clients", adminScoped("urn:acme/evil", "default_scopes", "clavis:admin")},
			"creating one with an optional admin": {http.MethodPost, "/t/acme/admin/clients", adminScoped("urn:acme/evil", "optional_scopes", "clavis:admin")},
			"cloning the admin client":            {http.MethodPost, "/t/acme/admin/clients/" + adminID + "/clone", map[string]any{"client_name": "Mine", "code": "urn:acme/mine"}},
			"rotating the admin client's secret":  {http.MethodPost, "/t/acme/admin/clients/" + adminID + "/secrets/rotate", map[string]any{}},
			"adding a secret to the admin client": {http.MethodPost, "/t/acme/admin/clients/" + adminID + "/secrets", map[string]any{}},
			"renaming the admin client":           {http.MethodPatch, "/t/acme/admin/clients/" + adminID, map[string]any{"client_name": "Mine"}},
			"importing an admin client":           {http.MethodPost, "/t/acme/admin/import", pkg(adminScoped("urn:acme/evil", "default_scopes", "clavis:admin"))},
			"importing over the writer":           {http.MethodPost, "/t/acme/admin/import", pkg(adminScoped("urn:acme/writer", "default_scopes", "clavis:admin"))},
			"a dry run importing an admin client": {http.MethodPost, "/t/acme/admin/import?dry_run=true", pkg(adminScoped("urn:acme/evil", "default_scopes", "clavis:admin"))},
		} {
			status, data := api.send(c.method, c.path, writer, c.body)
			var p struct{ Type, Detail string }
			if status != http.StatusForbidden || json.Unmarshal(data, &p) != nil || p.Type != httpapi.ProblemForbidden || !strings.Contains(p.Detail, "clavis:admin") {
				t.Errorf("%s with clavis:clients:write = %d %s, want 403 naming clavis:admin", name, status, data)
			}
		}
		if after := list(); after != before {
			t.Errorf("refused escalations changed the clients:\nbefore %s\nafter  %s", before, after)
		}

		// What the token holds, it may give; clavis:admin gives anything.
		api.call(http.MethodPost, "/t/acme/admin/clients", writer, adminScoped("urn:acme/reader", "default_scopes", "clavis:clients:read"), http.StatusCreated)
		api.call(http.MethodPost, "/t/acme/admin/clients", admin, adminScoped("urn:acme/second-admin", "default_scopes", "clavis:admin"), http.StatusCreated)
		api.call(http.MethodPatch, "/t/acme/admin/clients/"+writerID, admin, map[string]any{"optional_scopes": []string{"clavis:admin"}}, http.StatusOK)
	})
}

// TestImportLeavesThePlatformAdminClientAlone: a package exported from
// one tenant and imported into another neither renames nor rewrites the
// target's platform-managed admin client; its token keeps working. The
// export leaves the admin client out, and a package that holds a client
// with its code (an older export, a hand-made one) has it skipped, which
// the dry run says.
func TestImportLeavesThePlatformAdminClientAlone(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, n *testnode.Server) {
		api := apiCaller{t: t, url: n.URL}
		_, acme := api.tenant(n.RootToken, "acme")
		betaAdminID, beta := api.tenant(n.RootToken, "beta")
		api.call(http.MethodPost, "/t/acme/admin/clients", acme, map[string]any{"type": "m2m", "client_name": "Jobs",
			"code": "urn:acme/jobs", "grant_types": []string{"client_credentials"}}, http.StatusCreated)
		betaAdmin := api.call(http.MethodGet, "/t/beta/admin/clients/"+betaAdminID, beta, nil, http.StatusOK)

		exported := api.call(http.MethodGet, "/t/acme/admin/export", acme, nil, http.StatusOK)
		for _, c := range exported["clients"].([]any) {
			if code := c.(map[string]any)["settings"].(map[string]any)["code"]; code == "urn:clavis/admin" {
				t.Errorf("the export holds the platform admin client: %v", c)
			}
		}
		imported := api.call(http.MethodPost, "/t/beta/admin/import", beta, exported, http.StatusOK)
		if got := importActions(imported); got["urn:acme/jobs"] != "create" {
			t.Errorf("import = %v", imported)
		}

		// A package with a client of the admin client's code.
		forged := map[string]any{"format": "clavis.clients/v1", "tenant": "acme", "clients": []any{
			map[string]any{"client_id": "old-admin", "settings": map[string]any{"type": "m2m", "client_name": "ACME admin",
				"code": "urn:clavis/admin", "grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:admin"},
				"access_token_lifetime": 60}, "active": false},
		}}
		dry := api.call(http.MethodPost, "/t/beta/admin/import?dry_run=true", beta, forged, http.StatusOK)
		if got := importActions(dry); got["urn:clavis/admin"] != "skipped" {
			t.Errorf("dry run = %v, want the admin client skipped", dry)
		}
		rep := api.call(http.MethodPost, "/t/beta/admin/import", beta, forged, http.StatusOK)
		if got := importActions(rep); got["urn:clavis/admin"] != "skipped" {
			t.Errorf("import = %v, want the admin client skipped", rep)
		}

		after := api.call(http.MethodGet, "/t/beta/admin/clients/"+betaAdminID, beta, nil, http.StatusOK)
		if a, b := must(json.Marshal(after)), must(json.Marshal(betaAdmin)); string(a) != string(b) {
			t.Errorf("the imports changed beta's admin client:\nbefore %s\nafter  %s", b, a)
		}
		api.call(http.MethodGet, "/t/beta/admin/clients", beta, nil, http.StatusOK)
	})
}

// importActions maps an import report's codes to their actions.
func importActions(report map[string]any) map[string]string {
	out := map[string]string{}
	for _, c := range report["clients"].([]any) {
		m := c.(map[string]any)
		code, _ := m["code"].(string)
		out[code], _ = m["action"].(string)
	}
	return out
}

// TestClientCreateNeverLandsAfterSuspension races, many times, a client
// create with a suspension of its tenant: in the store's order, no client
// event ever follows the suspension (until the tenant is resumed). A
// create either commits first or is refused as the tenant being
// suspended.
func TestClientCreateNeverLandsAfterSuspension(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, n *testnode.Server) {
		api := apiCaller{t: t, url: n.URL}
		root := n.RootToken
		api.tenant(root, "acme")
		const rounds = 40
		created, refused := 0, 0
		for i := range rounds {
			if i > 0 {
				api.call(http.MethodPost, "/admin/tenants/acme/resume", root, map[string]any{}, http.StatusOK)
			}
			var wg sync.WaitGroup
			var createStatus int
			var createBody []byte
			wg.Go(func() {
				createStatus, createBody = api.send(http.MethodPost, "/t/acme/admin/clients", root, map[string]any{"type": "m2m",
					"client_name": "Racer", "code": fmt.Sprintf("urn:acme/racer-%d", i), "grant_types": []string{"client_credentials"}})
			})
			api.call(http.MethodPost, "/admin/tenants/acme/suspend", root, map[string]any{"reason": "race"}, http.StatusOK)
			wg.Wait()
			var p struct{ Type string }
			switch {
			case createStatus == http.StatusCreated:
				created++
			case createStatus == http.StatusForbidden && json.Unmarshal(createBody, &p) == nil && p.Type == httpapi.ProblemTenantSuspended:
				refused++
			default:
				t.Fatalf("round %d: create = %d %s, want 201 or 403 tenant-suspended", i, createStatus, createBody)
			}
		}
		t.Logf("%d creates committed first, %d were refused", created, refused)

		suspended := false
		for after := (eventstore.Position{}); ; {
			events, err := n.Store.ReadTenant(t.Context(), "acme", after, eventstore.MaxRead)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) == 0 {
				break
			}
			for _, e := range events {
				switch {
				case e.Type == "tenant.suspended":
					suspended = true
				case e.Type == "tenant.resumed":
					suspended = false
				case e.Stream.Type == "client" && suspended:
					t.Errorf("%s of %s at %v follows the suspension", e.Type, e.Stream.ID, e.Position)
				}
			}
			after = events[len(events)-1].Position
		}
	})
}
