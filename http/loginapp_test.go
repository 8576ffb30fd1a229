package httpapi_test

import (
	"strings"
	"testing"

	"golang.org/x/oauth2"

	httpapi "github.com/clavisiam/clavis/http"
)

// loginApp reads a tenant's login application setting.
func (h *adminHarness) loginApp(t *testing.T, tenant string, opts ...callOpt) string {
	t.Helper()
	got := h.call(t, "GET", "/t/"+tenant+"/admin/login-app", nil, opts...).want(t, 200).object(t)
	if len(got) != 1 {
		t.Errorf("login app = %v, want login_url only", got)
	}
	s, ok := got["login_url"].(string)
	if !ok {
		t.Fatalf("login app = %v", got)
	}
	return s
}

func TestLoginApp(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createTenant(t, "beta")
	const loginURL = "https://login.acme.example/signin?brand=acme"

	if got := h.loginApp(t, "acme"); got != "" {
		t.Fatalf("a new tenant's login URL = %q", got)
	}
	if got := h.call(t, "GET", "/admin/tenants/acme", nil).want(t, 200).object(t); got["login_url"] != "" {
		t.Errorf("a new tenant = %v", got)
	}

	// Set, read back, set again to no effect.
	set := h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": " " + loginURL + " "}).want(t, 200).object(t)
	if set["login_url"] != loginURL || len(set) != 1 {
		t.Errorf("PUT = %v", set)
	}
	if got := h.loginApp(t, "acme"); got != loginURL {
		t.Errorf("GET after PUT = %q", got)
	}
	tenant := h.call(t, "GET", "/admin/tenants/acme", nil).want(t, 200).object(t)
	if tenant["login_url"] != loginURL || tenant["version"] != 3.0 {
		t.Errorf("tenant after PUT = %v", tenant)
	}
	if h.loginApp(t, "beta") != "" {
		t.Error("another tenant got the login URL")
	}
	before := h.head(t)
	h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": loginURL}).want(t, 200)
	h.unchanged(t, before, "setting the same login URL")

	// An invalid URL is refused and changes nothing.
	for _, bad := range []string{"http://login.acme.example/", "https://login.acme.example/#x", "/login",
		"https://user@login.acme.example/", "javascript:alert(1)", "https://login.acme.example/" + strings.Repeat("a", 2000)} {
		r := h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": bad})
		checkProblem(t, r, 422, httpapi.ProblemValidation, "login_url")
	}
	h.unchanged(t, before, "invalid login URLs")
	if got := h.loginApp(t, "acme"); got != loginURL {
		t.Errorf("after refused PUTs = %q", got)
	}

	// Clear.
	if got := h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": ""}).want(t, 200).object(t); got["login_url"] != "" {
		t.Errorf("clear = %v", got)
	}
	if got := h.loginApp(t, "acme"); got != "" {
		t.Errorf("GET after clear = %q", got)
	}
}

func TestLoginAppThroughThePlatformAPI(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	patch := func(body any) response {
		return h.call(t, "PATCH", "/admin/tenants/acme", body, contentType("application/merge-patch+json"))
	}

	// The login URL alone leaves the name as it is.
	got := patch(map[string]any{"login_url": "http://localhost:3000/login"}).want(t, 200).object(t)
	if got["login_url"] != "http://localhost:3000/login" || got["name"] != "ACME" || got["version"] != 3.0 {
		t.Errorf("PATCH login_url = %v", got)
	}
	if h.loginApp(t, "acme") != "http://localhost:3000/login" {
		t.Error("the tenant admin API does not see the platform's change")
	}
	// Both at once: two events in one command.
	got = patch(map[string]any{"name": "Acme Inc.", "login_url": "https://login.acme.example/"}).want(t, 200).object(t)
	if got["login_url"] != "https://login.acme.example/" || got["name"] != "Acme Inc." || got["version"] != 5.0 {
		t.Errorf("PATCH both = %v", got)
	}
	// One bad member and neither changes.
	before := h.head(t)
	r := patch(map[string]any{"name": "Other", "login_url": "http://login.acme.example/"})
	checkProblem(t, r, 422, httpapi.ProblemValidation, "login_url")
	r = patch(map[string]any{"name": "", "login_url": "ftp://login.acme.example/"})
	checkProblem(t, r, 422, httpapi.ProblemValidation, "name")
	checkProblem(t, r, 422, httpapi.ProblemValidation, "login_url")
	h.unchanged(t, before, "a patch with a bad member")
	got = h.call(t, "GET", "/admin/tenants/acme", nil).want(t, 200).object(t)
	if got["name"] != "Acme Inc." || got["login_url"] != "https://login.acme.example/" {
		t.Errorf("after refused patches = %v", got)
	}
	// A suspended tenant's login URL may change; null clears it.
	h.call(t, "POST", "/admin/tenants/acme/suspend", nil).want(t, 200)
	got = patch(`{"login_url":null}`).want(t, 200).object(t)
	if got["login_url"] != "" || got["name"] != "Acme Inc." || got["suspended"] != true {
		t.Errorf("PATCH null login_url = %v", got)
	}
	if got := h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": "https://x.example/"}).want(t, 200).object(t); got["login_url"] != "https://x.example/" {
		t.Errorf("PUT while suspended = %v", got)
	}
}

func TestLoginAppWithTenantTokens(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	h.createTenant(t, "beta")
	tok, err := h.clientCredentials(t, "acme", admin["client_id"].(string), admin["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	as := token(tok.AccessToken)

	// clavis:admin reads and sets its own tenant's login URL.
	if got := h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": "https://login.acme.example/"}, as).want(t, 200).object(t); got["login_url"] != "https://login.acme.example/" {
		t.Errorf("PUT with clavis:admin = %v", got)
	}
	if got := h.loginApp(t, "acme", as); got != "https://login.acme.example/" {
		t.Errorf("GET with clavis:admin = %q", got)
	}

	// Another tenant's, or one that does not exist, is not found.
	before := h.head(t)
	for _, path := range []string{"/t/beta/admin/login-app", "/t/nope/admin/login-app"} {
		checkProblem(t, h.call(t, "GET", path, nil, as), 404, httpapi.ProblemNotFound, "")
		checkProblem(t, h.call(t, "PUT", path, map[string]string{"login_url": "https://evil.example/"}, as), 404, httpapi.ProblemNotFound, "")
	}
	h.unchanged(t, before, "a tenant token at another tenant")
	if h.loginApp(t, "beta") != "" {
		t.Error("beta's login URL changed")
	}

	// clavis:clients:read reads it, and cannot set it.
	reader := h.createClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Auditor", "code": "urn:acme/auditor",
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:clients:read"}})
	rt, err := h.clientCredentials(t, "acme", reader["client_id"].(string), reader["client_secret"].(string), oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.loginApp(t, "acme", token(rt.AccessToken)); got != "https://login.acme.example/" {
		t.Errorf("GET with clavis:clients:read = %q", got)
	}
	before = h.head(t)
	r := h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": "https://evil.example/"}, token(rt.AccessToken))
	checkProblem(t, r, 403, httpapi.ProblemForbidden, "")
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("403 without insufficient_scope: %v", r.header)
	}
	h.unchanged(t, before, "a PUT with a read-only token")
	if got := h.loginApp(t, "acme"); got != "https://login.acme.example/" {
		t.Errorf("after the read-only PUT = %q", got)
	}
}

func TestLoginAppRefuses(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	const path = "/t/acme/admin/login-app"
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
		{"get: no token", "GET", path, nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"get: unknown tenant", "GET", "/t/nope/admin/login-app", nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"get: not a slug", "GET", "/t/NOPE/admin/login-app", nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"put: no token", "PUT", path, map[string]string{"login_url": "https://x.example/"}, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"put: unknown tenant", "PUT", "/t/nope/admin/login-app", map[string]string{"login_url": "https://x.example/"}, nil, 404, httpapi.ProblemNotFound, ""},
		{"put: malformed JSON", "PUT", path, `{"login_url":`, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"put: not an object", "PUT", path, `["https://x.example/"]`, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"put: wrong type", "PUT", path, `{"login_url":42}`, nil, 400, httpapi.ProblemMalformedJSON, "login_url"},
		{"put: unknown field", "PUT", path, `{"login_url":"https://x.example/","logout_url":"https://x.example/"}`, nil, 400, httpapi.ProblemUnknownField, "logout_url"},
		{"put: empty body", "PUT", path, ``, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"put: no member", "PUT", path, `{}`, nil, 422, httpapi.ProblemValidation, "login_url"},
		{"put: null", "PUT", path, `{"login_url":null}`, nil, 422, httpapi.ProblemValidation, "login_url"},
		{"put: not JSON", "PUT", path, `login_url=x`, []callOpt{contentType("application/x-www-form-urlencoded")}, 415, httpapi.ProblemUnsupportedMediaType, ""},
		{"put: oversized", "PUT", path, oversized{}, nil, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"put: http on a public host", "PUT", path, map[string]string{"login_url": "http://x.example/"}, nil, 422, httpapi.ProblemValidation, "login_url"},
		{"patch: wrong type", "PATCH", "/admin/tenants/acme", `{"login_url":["https://x.example/"]}`, nil, 400, httpapi.ProblemMalformedJSON, "login_url"},
		{"patch: unknown field", "PATCH", "/admin/tenants/acme", `{"login_url":"https://x.example/","logout_url":"x"}`, nil, 400, httpapi.ProblemUnknownField, "logout_url"},
		{"patch: empty", "PATCH", "/admin/tenants/acme", `{}`, nil, 422, httpapi.ProblemValidation, "name"},
		{"patch: bad login URL", "PATCH", "/admin/tenants/acme", map[string]string{"login_url": "https://x.example/#f"}, nil, 422, httpapi.ProblemValidation, "login_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.head(t)
			r := h.call(t, tt.method, tt.path, tt.body, tt.opts...)
			checkProblem(t, r, tt.status, tt.typ, tt.field)
			h.unchanged(t, before, tt.name)
		})
	}
}
