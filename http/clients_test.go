package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	clientsecret "github.com/clavisiam/clavis/domain/client/secret"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/tenants"
)

// TestClientLifecycle walks one client through every endpoint, checking
// each answer, that a read right after each write sees it, and that no
// answer but the one that makes a secret shows one.
func TestClientLifecycle(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	base := "/t/acme/admin/clients"

	// Create: 201, Location, ETag, the secret once, the preset filled in.
	r := h.call(t, "POST", base, webClient("urn:acme/web"), header("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
		header("X-Request-Id", "req-create-1")).want(t, 201)
	c := r.object(t)
	id := c["client_id"].(string)
	secret := c["client_secret"].(string)
	if r.header.Get("ETag") != `"1"` || r.header.Get("Location") != base+"/"+id {
		t.Errorf("headers = %v", r.header)
	}
	if c["type"] != "confidential" || c["token_endpoint_auth_method"] != "client_secret_basic" || c["active"] != true ||
		c["version"] != 1.0 || c["require_pkce"] != true || c["client_secret_expires_at"] != 0.0 ||
		fmt.Sprint(c["grant_types"]) != "[authorization_code refresh_token]" || fmt.Sprint(c["post_logout_redirect_uris"]) != "[]" {
		t.Errorf("created = %v", c)
	}
	secrets := c["secrets"].([]any)
	if len(secrets) != 1 || secrets[0].(map[string]any)["id"] != c["client_secret_id"] {
		t.Errorf("secrets = %v", secrets)
	}
	for _, s := range secrets {
		if _, ok := s.(map[string]any)["hash"]; ok {
			t.Error("a secret's hash is shown")
		}
	}

	// Read-your-writes: GET sees it at once, without the secret.
	g := h.call(t, "GET", base+"/"+id, nil).want(t, 200)
	got := g.object(t)
	if g.header.Get("ETag") != `"1"` || got["client_name"] != "Web urn:acme/web" || got["client_secret"] != nil || strings.Contains(string(g.body), secret) {
		t.Errorf("GET = %s", g.body)
	}
	view, err := h.rm.Client(t.Context(), "acme", id)
	if err != nil || !clientsecret.Verify(view.Secrets[0].Hash, secret) {
		t.Fatalf("the stored hash does not verify the secret: %v", err)
	}

	// PATCH with If-Match, as merge patch: 200, ETag 2.
	p := h.call(t, "PATCH", base+"/"+id, `{"client_name":"Web app","allowed_cors_origins":["HTTPS://App.Example.com:443"],"metadata":{"team":"web"}}`,
		contentType("application/merge-patch+json"), header("If-Match", `"1"`)).want(t, 200)
	patched := p.object(t)
	if p.header.Get("ETag") != `"2"` || patched["client_name"] != "Web app" || fmt.Sprint(patched["allowed_cors_origins"]) != "[https://app.example.com]" ||
		patched["client_secret"] != nil {
		t.Errorf("PATCH = %s", p.body)
	}
	// With the version in the body, as application/json.
	p = h.call(t, "PATCH", base+"/"+id, `{"version":2,"metadata":null,"description":"the web app"}`).want(t, 200)
	if p.header.Get("ETag") != `"3"` || fmt.Sprint(p.object(t)["metadata"]) != "map[]" {
		t.Errorf("PATCH with version = %s", p.body)
	}
	// A patch that changes nothing changes nothing.
	before := h.head(t)
	h.call(t, "PATCH", base+"/"+id, `{"description":"the web app"}`, header("If-Match", `"3"`)).want(t, 200)
	h.unchanged(t, before, "a no-op patch")

	// Secrets: add (201, shown once), revoke, rotate.
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	a := h.call(t, "POST", base+"/"+id+"/secrets", map[string]any{"description": "CI", "expires_at": exp}).want(t, 201).object(t)
	if a["client_secret"] == nil || a["client_secret"] == secret || a["client_secret_expires_at"] != float64(exp.Unix()) || len(a["secrets"].([]any)) != 2 {
		t.Errorf("add secret = %v", a)
	}
	second := a["client_secret_id"].(string)
	firstID := secrets[0].(map[string]any)["id"].(string)
	rv := h.call(t, "DELETE", base+"/"+id+"/secrets/"+firstID, nil).want(t, 200).object(t)
	if ss := rv["secrets"].([]any); len(ss) != 1 || ss[0].(map[string]any)["id"] != second || rv["client_secret"] != nil {
		t.Errorf("revoke = %v", rv)
	}
	rot := h.call(t, "POST", base+"/"+id+"/secrets/rotate", map[string]any{"overlap_seconds": 3600}).want(t, 200).object(t)
	if rot["client_secret"] == nil || len(rot["secrets"].([]any)) != 2 {
		t.Errorf("rotate = %v", rot)
	}
	// Rotation without a body keeps the old secrets for a day.
	rot2 := h.call(t, "POST", base+"/"+id+"/secrets/rotate", nil).want(t, 200).object(t)
	if rot2["client_secret"] == nil || len(rot2["secrets"].([]any)) != 3 {
		t.Errorf("rotate without a body = %v", rot2)
	}

	// Deactivate and activate.
	d := h.call(t, "POST", base+"/"+id+"/deactivate", map[string]string{"reason": "compromised"}).want(t, 200).object(t)
	if d["active"] != false || d["deactivation_reason"] != "compromised" {
		t.Errorf("deactivate = %v", d)
	}
	if got := h.call(t, "GET", base+"?active=false", nil).want(t, 200).object(t); len(got["clients"].([]any)) != 1 {
		t.Errorf("inactive clients = %v", got)
	}
	if a := h.call(t, "POST", base+"/"+id+"/activate", nil).want(t, 200).object(t); a["active"] != true {
		t.Errorf("activate = %v", a)
	}

	// Clone: 201, new id and secret, cloned_from.
	cl := h.call(t, "POST", base+"/"+id+"/clone", map[string]string{"client_name": "Web copy", "code": "urn:acme/web-copy"}).want(t, 201)
	clone := cl.object(t)
	if clone["client_id"] == id || clone["cloned_from"] != id || clone["client_secret"] == nil || clone["code"] != "urn:acme/web-copy" ||
		fmt.Sprint(clone["allowed_cors_origins"]) != "[https://app.example.com]" || cl.header.Get("ETag") != `"1"` {
		t.Errorf("clone = %v", clone)
	}

	// History: every event, hashes redacted, metadata from the request.
	hist := h.call(t, "GET", base+"/"+id+"/history", nil).want(t, 200)
	events := hist.object(t)["events"].([]any)
	var types []string
	for _, e := range events {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	want := []string{"client.registered", "client.updated", "client.updated", "client.secret_added", "client.secret_revoked",
		"client.secret_rotated", "client.secret_rotated", "client.deactivated", "client.activated"}
	if !slices.Equal(types, want) {
		t.Errorf("history = %v, want %v", types, want)
	}
	first := events[0].(map[string]any)
	if first["actor"] != "root" || first["correlation_id"] != "req-create-1" {
		t.Errorf("first event = %v", first)
	}
	if strings.Contains(string(hist.body), "sha256$") || strings.Contains(string(hist.body), "cls_") || !strings.Contains(string(hist.body), "[REDACTED]") {
		t.Errorf("history leaks secret material: %s", hist.body)
	}
	if reason := events[7].(map[string]any)["reason"]; reason != "compromised" {
		t.Errorf("deactivation reason = %v", reason)
	}
	stored, err := h.store.ReadStream(t.Context(), tenants.ClientStream("acme", id), 0)
	if err != nil {
		t.Fatal(err)
	}
	if m := stored[0].Meta; m.TraceParent != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" || m.CausationID != "req-create-1" {
		t.Errorf("metadata of the registration = %+v", m)
	}

	// List: filters and paging.
	h.createClient(t, "acme", spaClient("urn:acme/spa"))
	all := h.call(t, "GET", base, nil).want(t, 200).object(t)
	if n := len(all["clients"].([]any)); n != 4 { // admin, web, copy, spa
		t.Errorf("%d clients", n)
	}
	if got := h.call(t, "GET", base+"?type=public", nil).want(t, 200).object(t); len(got["clients"].([]any)) != 1 {
		t.Errorf("public clients = %v", got)
	}
	if got := h.call(t, "GET", base+"?q=COPY", nil).want(t, 200).object(t); len(got["clients"].([]any)) != 1 {
		t.Errorf("search = %v", got)
	}
	var ids []string
	after := ""
	for pages := 0; pages < 10; pages++ {
		page := h.call(t, "GET", base+"?limit=1&after="+url.QueryEscape(after), nil).want(t, 200).object(t)
		for _, x := range page["clients"].([]any) {
			ids = append(ids, x.(map[string]any)["client_id"].(string))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		after = next
	}
	if len(ids) != 4 || !slices.IsSorted(ids) {
		t.Errorf("paged ids = %v", ids)
	}

	// Export: every live client, no secret material.
	ex := h.call(t, "GET", "/t/acme/admin/export", nil).want(t, 200)
	if s := string(ex.body); strings.Contains(s, "cls_") || strings.Contains(s, "sha256$") || strings.Contains(s, `"hash"`) || strings.Contains(s, "secrets") {
		t.Errorf("export holds secret material: %s", s)
	}
	if !strings.Contains(ex.header.Get("Content-Disposition"), "acme-clients.json") {
		t.Errorf("Content-Disposition = %q", ex.header.Get("Content-Disposition"))
	}

	// Import it into a second tenant: dry run, then for real, then again.
	h.createTenant(t, "beta")
	before = h.head(t)
	dry := h.call(t, "POST", "/t/beta/admin/import?dry_run=true", ex.body).want(t, 200).object(t)
	h.unchanged(t, before, "a dry run")
	actions := func(rep map[string]any) map[string]string {
		out := map[string]string{}
		for _, c := range rep["clients"].([]any) {
			m := c.(map[string]any)
			out[m["code"].(string)] = m["action"].(string)
		}
		return out
	}
	wantActions := map[string]string{"urn:acme/web": "create", "urn:acme/web-copy": "create", "urn:acme/spa": "create"}
	if got := actions(dry); fmt.Sprint(got) != fmt.Sprint(wantActions) || dry["dry_run"] != true {
		t.Errorf("dry run = %v", dry)
	}
	imp := h.call(t, "POST", "/t/beta/admin/import", ex.body).want(t, 200).object(t)
	if got := actions(imp); fmt.Sprint(got) != fmt.Sprint(wantActions) {
		t.Errorf("import = %v", imp)
	}
	for _, c := range imp["clients"].([]any) {
		m := c.(map[string]any)
		if m["code"] == "urn:acme/web" && m["client_secret"] == nil {
			t.Errorf("the imported confidential client has no secret: %v", m)
		}
		if m["code"] == "urn:acme/web" {
			// Read-your-writes after an import.
			h.call(t, "GET", "/t/beta/admin/clients/"+m["client_id"].(string), nil).want(t, 200)
		}
	}
	before = h.head(t)
	again := h.call(t, "POST", "/t/beta/admin/import", ex.body).want(t, 200).object(t)
	for code, action := range actions(again) {
		if action != "unchanged" {
			t.Errorf("second import: %s %s", code, action)
		}
	}
	h.unchanged(t, before, "a second import")

	// Delete: 204; then it is gone, and its code free.
	h.call(t, "DELETE", base+"/"+id, nil).want(t, 204)
	checkProblem(t, h.call(t, "GET", base+"/"+id, nil), 404, httpapi.ProblemNotFound, "")
	h.createClient(t, "acme", webClient("urn:acme/web"))
	// Its history stays.
	h.call(t, "GET", base+"/"+id+"/history", nil).want(t, 200)
}

// TestImportIdentityServer imports the IdentityServer sample of the
// seeds, placeholders filled in, adapted as an operator must (redirect
// URIs on paths, not in fragments; scope names of the tenant).
func TestImportIdentityServer(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	raw, err := os.ReadFile("../tenants/testdata/identityserver-sample.json")
	if err != nil {
		t.Fatal(err)
	}
	sample := strings.NewReplacer(
		"__SecurityApiUrlExternal__", "https://security-api.example.com",
		"__SecurityAdminUrlExternal__", "https://security-admin.example.com",
		"__ClientSecretHash__", "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
	).Replace(string(raw))

	before := h.head(t)
	p := h.call(t, "POST", "/t/acme/admin/import", sample)
	checkProblem(t, p, 422, httpapi.ProblemValidation, "clients[0].redirect_uris[0]")
	checkProblem(t, p, 422, httpapi.ProblemValidation, "clients[0].default_scopes[0]")
	h.unchanged(t, before, "an invalid import")

	api := map[string]any{"type": "m2m", "client_name": "Security API", "code": "urn:acme/sec", "api_scopes": []string{"api", "authorization"}}
	h.createClient(t, "acme", api)
	adapted := strings.NewReplacer(`"sec.api"`, `"urn:acme/sec:api"`, `"sec.authorization"`, `"urn:acme/sec:authorization"`,
		`/#/callback#`, `/callback`, `/#/silentrefresh#`, `/silentrefresh`).Replace(sample)
	rep := h.call(t, "POST", "/t/acme/admin/import", adapted).want(t, 200).object(t)
	c := rep["clients"].([]any)[0].(map[string]any)
	if rep["format"] != "identityserver" || c["action"] != "create" || c["code"] != "urn:acme/sec.app.admin" || c["client_secret"] != nil {
		t.Fatalf("report = %v", rep)
	}
	got := h.call(t, "GET", "/t/acme/admin/clients/"+c["client_id"].(string), nil).want(t, 200).object(t)
	if got["type"] != "public" || got["client_name"] != "Security Admin App" || got["allow_offline_access"] != true ||
		fmt.Sprint(got["grant_types"]) != "[authorization_code refresh_token]" {
		t.Errorf("imported = %v", got)
	}
	before = h.head(t)
	again := h.call(t, "POST", "/t/acme/admin/import", adapted).want(t, 200).object(t)
	if again["clients"].([]any)[0].(map[string]any)["action"] != "unchanged" {
		t.Errorf("second import = %v", again)
	}
	h.unchanged(t, before, "a second import")
}

// TestClientAPIRefuses sends bad input to every tenant admin endpoint and
// checks the problem and that the event store did not change.
func TestClientAPIRefuses(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createTenant(t, "other")
	h.createTenant(t, "paused")
	web := h.createClient(t, "acme", webClient("urn:acme/web"))
	id := web["client_id"].(string)
	secretID := web["client_secret_id"].(string)
	h.createClient(t, "acme", webClient("urn:acme/taken"))
	pub := h.createClient(t, "acme", spaClient("urn:acme/spa"))["client_id"].(string)
	pausedClient := h.createClient(t, "paused", webClient("urn:paused/web"))["client_id"].(string)
	h.call(t, "POST", "/admin/tenants/paused/suspend", map[string]string{"reason": "test"}).want(t, 200)

	base := "/t/acme/admin/clients"
	one := base + "/" + id
	withSetting := func(k string, v any) map[string]any {
		b := webClient("urn:acme/new")
		b[k] = v
		return b
	}
	mergePatch := contentType("application/merge-patch+json")
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		opts   []callOpt
		status int
		typ    string
		field  string
	}{
		// create
		{"create: no token", "POST", base, webClient("urn:acme/x"), []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"create: wrong token", "POST", base, webClient("urn:acme/x"), []callOpt{token("wrong")}, 401, httpapi.ProblemUnauthorized, ""},
		{"create: malformed", "POST", base, `{"type":"m2m",`, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"create: wrong type of value", "POST", base, `{"type":"m2m","redirect_uris":"https://a.example.com"}`, nil, 400, httpapi.ProblemMalformedJSON, "redirect_uris"},
		{"create: unknown field", "POST", base, withSetting("colour", "blue"), nil, 400, httpapi.ProblemUnknownField, "colour"},
		{"create: a secret is never accepted", "POST", base, withSetting("client_secret", "cls_mine"), nil, 400, httpapi.ProblemUnknownField, "client_secret"},
		{"create: read-only field", "POST", base, withSetting("client_id", "mine"), nil, 400, httpapi.ProblemUnknownField, "client_id"},
		{"create: oversized", "POST", base, oversized{}, nil, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"create: form body", "POST", base, `type=m2m`, []callOpt{contentType("application/x-www-form-urlencoded")}, 415, httpapi.ProblemUnsupportedMediaType, ""},
		{"create: http redirect", "POST", base, withSetting("redirect_uris", []string{"http://app.example.com/cb"}), nil, 422, httpapi.ProblemValidation, "redirect_uris[0]"},
		{"create: javascript redirect", "POST", base, withSetting("redirect_uris", []string{"javascript:alert(1)"}), nil, 422, httpapi.ProblemValidation, "redirect_uris[0]"},
		{"create: relative redirect", "POST", base, withSetting("redirect_uris", []string{"/cb"}), nil, 422, httpapi.ProblemValidation, "redirect_uris[0]"},
		{"create: wildcard origin", "POST", base, withSetting("allowed_cors_origins", []string{"https://*.example.com"}), nil, 422, httpapi.ProblemValidation, "allowed_cors_origins[0]"},
		{"create: origin with a path", "POST", base, withSetting("allowed_cors_origins", []string{"https://app.example.com/app"}), nil, 422, httpapi.ProblemValidation, "allowed_cors_origins[0]"},
		{"create: bad logo URI", "POST", base, withSetting("logo_uri", "ftp://example.com/logo.png"), nil, 422, httpapi.ProblemValidation, "logo_uri"},
		{"create: unknown scope", "POST", base, withSetting("default_scopes", []string{"urn:other/api:read"}), nil, 422, httpapi.ProblemValidation, "default_scopes[0]"},
		{"create: no code", "POST", base, withSetting("code", ""), nil, 422, httpapi.ProblemValidation, "code"},
		{"create: taken code", "POST", base, webClient("urn:acme/taken"), nil, 409, httpapi.ProblemClaimTaken, "code"},
		{"create: unknown tenant", "POST", "/t/nope/admin/clients", webClient("urn:acme/x"), nil, 404, httpapi.ProblemNotFound, ""},
		{"create: suspended tenant", "POST", "/t/paused/admin/clients", webClient("urn:paused/x"), nil, 403, httpapi.ProblemTenantSuspended, ""},
		// list
		{"list: no token", "GET", base, nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"list: bad type", "GET", base + "?type=robot", nil, nil, 400, httpapi.ProblemInvalidParameter, "type"},
		{"list: bad active", "GET", base + "?active=maybe", nil, nil, 400, httpapi.ProblemInvalidParameter, "active"},
		{"list: bad limit", "GET", base + "?limit=x", nil, nil, 400, httpapi.ProblemInvalidParameter, "limit"},
		{"list: long search", "GET", base + "?q=" + strings.Repeat("q", 201), nil, nil, 400, httpapi.ProblemInvalidParameter, "q"},
		{"list: unknown tenant", "GET", "/t/nope/admin/clients", nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"list: not a tenant slug", "GET", "/t/No_Pe/admin/clients", nil, nil, 404, httpapi.ProblemNotFound, ""},
		// get
		{"get: no token", "GET", one, nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"get: another tenant's client", "GET", "/t/other/admin/clients/" + id, nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"get: unknown client", "GET", base + "/nope", nil, nil, 404, httpapi.ProblemNotFound, ""},
		// patch
		{"patch: no token", "PATCH", one, `{"client_name":"x"}`, []callOpt{noAuth, mergePatch}, 401, httpapi.ProblemUnauthorized, ""},
		{"patch: malformed", "PATCH", one, `{"client_name":`, []callOpt{mergePatch}, 400, httpapi.ProblemMalformedJSON, ""},
		{"patch: not an object", "PATCH", one, `null`, []callOpt{mergePatch}, 400, httpapi.ProblemMalformedJSON, ""},
		{"patch: unknown field", "PATCH", one, `{"colour":"blue"}`, []callOpt{mergePatch}, 400, httpapi.ProblemUnknownField, "colour"},
		{"patch: read-only field", "PATCH", one, `{"secrets":[]}`, []callOpt{mergePatch}, 400, httpapi.ProblemUnknownField, "secrets"},
		{"patch: bad version", "PATCH", one, `{"version":"1"}`, []callOpt{mergePatch}, 400, httpapi.ProblemMalformedJSON, "version"},
		{"patch: text/plain", "PATCH", one, `{"client_name":"x"}`, []callOpt{contentType("text/plain")}, 415, httpapi.ProblemUnsupportedMediaType, ""},
		{"patch: oversized", "PATCH", one, oversized{}, []callOpt{mergePatch}, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"patch: invalid origin", "PATCH", one, `{"allowed_cors_origins":["null"]}`, []callOpt{mergePatch}, 422, httpapi.ProblemValidation, "allowed_cors_origins[0]"},
		{"patch: fragment", "PATCH", one, `{"redirect_uris":["https://app.example.com/#x"]}`, []callOpt{mergePatch}, 422, httpapi.ProblemValidation, "redirect_uris[0]"},
		{"patch: stale If-Match", "PATCH", one, `{"client_name":"x"}`, []callOpt{mergePatch, header("If-Match", `"7"`)}, 412, httpapi.ProblemPreconditionFailed, ""},
		{"patch: weak If-Match", "PATCH", one, `{"client_name":"x"}`, []callOpt{mergePatch, header("If-Match", `W/"1"`)}, 412, httpapi.ProblemPreconditionFailed, ""},
		{"patch: garbage If-Match", "PATCH", one, `{"client_name":"x"}`, []callOpt{mergePatch, header("If-Match", `"one"`)}, 412, httpapi.ProblemPreconditionFailed, ""},
		{"patch: stale body version", "PATCH", one, `{"client_name":"x","version":7}`, []callOpt{mergePatch}, 409, httpapi.ProblemConflict, ""},
		{"patch: taken code", "PATCH", one, `{"code":"urn:acme/taken"}`, []callOpt{mergePatch}, 409, httpapi.ProblemClaimTaken, "code"},
		{"patch: another tenant's client", "PATCH", "/t/other/admin/clients/" + id, `{"client_name":"x"}`, []callOpt{mergePatch}, 404, httpapi.ProblemNotFound, ""},
		{"patch: another tenant's client at its version", "PATCH", "/t/other/admin/clients/" + id, `{"client_name":"x"}`, []callOpt{mergePatch, header("If-Match", `"1"`)}, 404, httpapi.ProblemNotFound, ""},
		{"patch: suspended tenant", "PATCH", "/t/paused/admin/clients/" + pausedClient, `{"client_name":"x"}`, []callOpt{mergePatch}, 403, httpapi.ProblemTenantSuspended, ""},
		// delete
		{"delete: no token", "DELETE", one, nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"delete: another tenant's client", "DELETE", "/t/other/admin/clients/" + id, nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"delete: unknown client", "DELETE", base + "/nope", nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"delete: suspended tenant", "DELETE", "/t/paused/admin/clients/" + pausedClient, nil, nil, 403, httpapi.ProblemTenantSuspended, ""},
		// add secret
		{"add secret: no token", "POST", one + "/secrets", nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"add secret: malformed", "POST", one + "/secrets", `{"description":`, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"add secret: a chosen value", "POST", one + "/secrets", `{"client_secret":"cls_mine"}`, nil, 400, httpapi.ProblemUnknownField, "client_secret"},
		{"add secret: bad time", "POST", one + "/secrets", `{"expires_at":"tomorrow"}`, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"add secret: past expiry", "POST", one + "/secrets", map[string]any{"expires_at": time.Now().Add(-time.Hour)}, nil, 422, httpapi.ProblemValidation, "client_secret.expires_at"},
		{"add secret: public client", "POST", base + "/" + pub + "/secrets", nil, nil, 422, httpapi.ProblemValidation, "client_secret"},
		{"add secret: another tenant's client", "POST", "/t/other/admin/clients/" + id + "/secrets", nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"add secret: suspended tenant", "POST", "/t/paused/admin/clients/" + pausedClient + "/secrets", nil, nil, 403, httpapi.ProblemTenantSuspended, ""},
		{"add secret: oversized", "POST", one + "/secrets", oversized{}, nil, 413, httpapi.ProblemPayloadTooLarge, ""},
		// revoke secret
		{"revoke: no token", "DELETE", one + "/secrets/" + secretID, nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"revoke: the last secret", "DELETE", one + "/secrets/" + secretID, nil, nil, 409, httpapi.ProblemLastSecret, ""},
		{"revoke: unknown secret", "DELETE", one + "/secrets/sec_nope", nil, nil, 404, httpapi.ProblemSecretNotFound, ""},
		{"revoke: another tenant's client", "DELETE", "/t/other/admin/clients/" + id + "/secrets/" + secretID, nil, nil, 404, httpapi.ProblemNotFound, ""},
		// rotate
		{"rotate: no token", "POST", one + "/secrets/rotate", nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"rotate: unknown field", "POST", one + "/secrets/rotate", `{"overlap":60}`, nil, 400, httpapi.ProblemUnknownField, "overlap"},
		{"rotate: negative overlap", "POST", one + "/secrets/rotate", `{"overlap_seconds":-1}`, nil, 422, httpapi.ProblemValidation, "overlap"},
		{"rotate: huge overlap", "POST", one + "/secrets/rotate", `{"overlap_seconds":99999999999999}`, nil, 422, httpapi.ProblemValidation, "overlap"},
		{"rotate: oversized", "POST", one + "/secrets/rotate", oversized{}, nil, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"rotate: public client", "POST", base + "/" + pub + "/secrets/rotate", nil, nil, 422, httpapi.ProblemValidation, "client_secret"},
		{"rotate: another tenant's client", "POST", "/t/other/admin/clients/" + id + "/secrets/rotate", nil, nil, 404, httpapi.ProblemNotFound, ""},
		// activate / deactivate
		{"activate: no token", "POST", one + "/activate", nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"activate: unknown field", "POST", one + "/activate", `{"active":true}`, nil, 400, httpapi.ProblemUnknownField, "active"},
		{"activate: another tenant's client", "POST", "/t/other/admin/clients/" + id + "/activate", nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"activate: suspended tenant", "POST", "/t/paused/admin/clients/" + pausedClient + "/activate", nil, nil, 403, httpapi.ProblemTenantSuspended, ""},
		{"deactivate: no token", "POST", one + "/deactivate", nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"deactivate: malformed", "POST", one + "/deactivate", `{"reason"}`, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"activate: oversized", "POST", one + "/activate", oversized{}, nil, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"deactivate: oversized", "POST", one + "/deactivate", oversized{}, nil, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"deactivate: long reason", "POST", one + "/deactivate", map[string]string{"reason": strings.Repeat("r", 501)}, nil, 422, httpapi.ProblemValidation, "reason"},
		{"deactivate: another tenant's client", "POST", "/t/other/admin/clients/" + id + "/deactivate", nil, nil, 404, httpapi.ProblemNotFound, ""},
		// clone
		{"clone: no token", "POST", one + "/clone", map[string]string{"client_name": "C", "code": "urn:acme/c"}, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"clone: no body", "POST", one + "/clone", nil, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"clone: unknown field", "POST", one + "/clone", `{"client_name":"C","code":"urn:acme/c","client_id":"mine"}`, nil, 400, httpapi.ProblemUnknownField, "client_id"},
		{"clone: oversized", "POST", one + "/clone", oversized{}, nil, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"clone: malformed", "POST", one + "/clone", `{"code":}`, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"clone: bad code", "POST", one + "/clone", map[string]string{"client_name": "C", "code": "c"}, nil, 422, httpapi.ProblemValidation, "code"},
		{"clone: taken code", "POST", one + "/clone", map[string]string{"client_name": "C", "code": "urn:acme/taken"}, nil, 409, httpapi.ProblemClaimTaken, "code"},
		{"clone: another tenant's client", "POST", "/t/other/admin/clients/" + id + "/clone", map[string]string{"client_name": "C", "code": "urn:other/c"}, nil, 404, httpapi.ProblemNotFound, ""},
		{"clone: suspended tenant", "POST", "/t/paused/admin/clients/" + pausedClient + "/clone", map[string]string{"client_name": "C", "code": "urn:paused/c"}, nil, 403, httpapi.ProblemTenantSuspended, ""},
		// history
		{"history: no token", "GET", one + "/history", nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"history: another tenant's client", "GET", "/t/other/admin/clients/" + id + "/history", nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"history: unknown tenant", "GET", "/t/nope/admin/clients/" + id + "/history", nil, nil, 404, httpapi.ProblemNotFound, ""},
		// export
		{"export: no token", "GET", "/t/acme/admin/export", nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"export: unknown tenant", "GET", "/t/nope/admin/export", nil, nil, 404, httpapi.ProblemNotFound, ""},
		// import
		{"import: no token", "POST", "/t/acme/admin/import", `[]`, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"import: malformed", "POST", "/t/acme/admin/import", `{"format":`, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"import: unknown field", "POST", "/t/acme/admin/import", `{"format":"clavis.clients/v1","clients":[{"settings":{"type":"m2m"},"secret":"x"}]}`, nil, 400, httpapi.ProblemUnknownField, "clients[0].secret"},
		{"import: wrong format", "POST", "/t/acme/admin/import", `{"format":"other","clients":[]}`, nil, 422, httpapi.ProblemValidation, "format"},
		{"import: invalid client", "POST", "/t/acme/admin/import", `[{"ClientId":"x","AllowedGrantTypes":["authorization_code"],"RedirectUris":["http://x.example.com/cb"]}]`, nil, 422, httpapi.ProblemValidation, "clients[0].redirect_uris[0]"},
		{"import: bad dry_run", "POST", "/t/acme/admin/import?dry_run=perhaps", `[]`, nil, 400, httpapi.ProblemInvalidParameter, "dry_run"},
		{"import: oversized", "POST", "/t/acme/admin/import", oversized{}, nil, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"import: suspended tenant", "POST", "/t/paused/admin/import", `[]`, nil, 403, httpapi.ProblemTenantSuspended, ""},
		{"import: unknown tenant", "POST", "/t/nope/admin/import", `[]`, nil, 404, httpapi.ProblemNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.head(t)
			r := h.call(t, tt.method, tt.path, tt.body, tt.opts...)
			checkProblem(t, r, tt.status, tt.typ, tt.field)
			h.unchanged(t, before, tt.name)
		})
	}

	// The client is as it was.
	got := h.call(t, "GET", one, nil).want(t, 200)
	if got.header.Get("ETag") != `"1"` || got.object(t)["client_name"] != "Web urn:acme/web" {
		t.Errorf("the client changed: %s", got.body)
	}
	// Reads of a suspended tenant still work.
	h.call(t, "GET", "/t/paused/admin/clients/"+pausedClient, nil).want(t, 200)
	h.call(t, "GET", "/t/paused/admin/export", nil).want(t, 200)
}

// TestNoSecretInLogs runs the writes that make secrets with the server
// logging at debug level, then looks for them in the log.
func TestNoSecretInLogs(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	var secrets []string
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	secrets = append(secrets, admin["client_secret"].(string))
	c := h.createClient(t, "acme", webClient("urn:acme/web"))
	secrets = append(secrets, c["client_secret"].(string))
	id := c["client_id"].(string)
	for _, path := range []string{"/secrets", "/secrets/rotate"} {
		r := h.call(t, "POST", "/t/acme/admin/clients/"+id+path, nil)
		if r.status/100 != 2 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		secrets = append(secrets, r.object(t)["client_secret"].(string))
	}
	// A failing request that carries a secret-looking value.
	h.call(t, "POST", "/t/acme/admin/clients", `{"type":"m2m","client_secret":"cls_from_the_caller"}`)
	logs := h.logs.String()
	if !strings.Contains(logs, `"request"`) {
		t.Fatal("nothing was logged")
	}
	for _, s := range append(secrets, "cls_", rootToken) {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds a secret (%.8s…)", s)
		}
	}
	var line map[string]any
	for l := range strings.Lines(logs) {
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
	}
}
