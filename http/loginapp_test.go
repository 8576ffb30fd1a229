package httpapi_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"

	httpapi "github.com/clavisiam/clavis/http"
)

// loginApp reads a tenant's login application setting.
func (h *adminHarness) loginApp(t *testing.T, tenant string, opts ...callOpt) string {
	t.Helper()
	return loginURLOf(t, h.call(t, "GET", "/t/"+tenant+"/admin/login-app", nil, opts...).want(t, 200))
}

// loginURLOf reads the login URL of a login application setting; it
// fails unless the setting has it and nothing else.
func loginURLOf(t *testing.T, r response) string {
	t.Helper()
	got := decodeAs[loginAppSetting](t, r)
	if got.LoginURL == nil {
		t.Fatalf("login app %s: no login_url", r.body)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(new(loginAppSetting)); err != nil {
		t.Errorf("login app %s, want login_url only: %v", r.body, err)
	}
	return *got.LoginURL
}

// tenantLoginOf reads a tenant's login application setting from the
// platform API's answer.
func tenantLoginOf(t *testing.T, r response) tenantLogin {
	t.Helper()
	return decodeAs[tenantLogin](t, r.want(t, 200))
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
	wantDiff(t, "a new tenant", "", tenantLoginOf(t, h.call(t, "GET", "/admin/tenants/acme", nil)).LoginURL)
	put := func(t *testing.T, url string) response {
		return h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": url})
	}

	t.Run("set, trimmed, and read back", func(t *testing.T) {
		wantDiff(t, "PUT", loginURL, loginURLOf(t, put(t, " "+loginURL+" ").want(t, 200)))
		wantDiff(t, "GET after PUT", loginURL, h.loginApp(t, "acme"))
		wantDiff(t, "tenant after PUT", tenantLogin{Name: "ACME", LoginURL: loginURL, Version: 4},
			tenantLoginOf(t, h.call(t, "GET", "/admin/tenants/acme", nil)))
	})
	t.Run("another tenant's is unchanged", func(t *testing.T) {
		wantDiff(t, "beta's login URL", "", h.loginApp(t, "beta"))
	})
	before := h.head(t)
	t.Run("setting the same URL again records nothing", func(t *testing.T) {
		put(t, loginURL).want(t, 200)
		h.unchanged(t, before, "setting the same login URL")
	})
	t.Run("an invalid URL is refused and changes nothing", func(t *testing.T) {
		for _, bad := range []string{"http://login.acme.example/", "https://login.acme.example/#x", "/login",
			"https://user@login.acme.example/", "javascript:alert(1)", "https://login.acme.example/" + strings.Repeat("a", 2000)} {
			checkProblem(t, put(t, bad), 422, httpapi.ProblemValidation, "login_url")
		}
		h.unchanged(t, before, "invalid login URLs")
		wantDiff(t, "after refused PUTs", loginURL, h.loginApp(t, "acme"))
	})
	t.Run("an empty URL clears it", func(t *testing.T) {
		wantDiff(t, "clear", "", loginURLOf(t, put(t, "").want(t, 200)))
		wantDiff(t, "GET after clear", "", h.loginApp(t, "acme"))
	})
}

func TestLoginAppThroughThePlatformAPI(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	patch := func(body any) response {
		return h.call(t, "PATCH", "/admin/tenants/acme", body, contentType("application/merge-patch+json"))
	}

	// The steps run in order, each on the tenant the one before left.
	t.Run("the login URL alone leaves the name as it is", func(t *testing.T) {
		wantDiff(t, "PATCH login_url", tenantLogin{Name: "ACME", LoginURL: "http://localhost:3000/login", Version: 4},
			tenantLoginOf(t, patch(map[string]any{"login_url": "http://localhost:3000/login"})))
		wantDiff(t, "the tenant admin API's login URL", "http://localhost:3000/login", h.loginApp(t, "acme"))
	})
	t.Run("both at once are two events in one command", func(t *testing.T) {
		wantDiff(t, "PATCH both", tenantLogin{Name: "Acme Inc.", LoginURL: "https://login.acme.example/", Version: 6},
			tenantLoginOf(t, patch(map[string]any{"name": "Acme Inc.", "login_url": "https://login.acme.example/"})))
	})
	t.Run("one bad member and neither changes", func(t *testing.T) {
		before := h.head(t)
		r := patch(map[string]any{"name": "Other", "login_url": "http://login.acme.example/"})
		checkProblem(t, r, 422, httpapi.ProblemValidation, "login_url")
		r = patch(map[string]any{"name": "", "login_url": "ftp://login.acme.example/"})
		checkProblem(t, r, 422, httpapi.ProblemValidation, "name")
		checkProblem(t, r, 422, httpapi.ProblemValidation, "login_url")
		h.unchanged(t, before, "a patch with a bad member")
		wantDiff(t, "after refused patches", tenantLogin{Name: "Acme Inc.", LoginURL: "https://login.acme.example/", Version: 6},
			tenantLoginOf(t, h.call(t, "GET", "/admin/tenants/acme", nil)))
	})
	t.Run("a suspended tenant's login URL may change; null clears it", func(t *testing.T) {
		h.call(t, "POST", "/admin/tenants/acme/suspend", nil).want(t, 200)
		wantDiff(t, "PATCH null login_url", tenantLogin{Name: "Acme Inc.", LoginURL: "", Suspended: true},
			tenantLoginOf(t, patch(`{"login_url":null}`)), cmpopts.IgnoreFields(tenantLogin{}, "Version"))
		wantDiff(t, "PUT while suspended", "https://x.example/",
			loginURLOf(t, h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": "https://x.example/"}).want(t, 200)))
	})
}

func TestLoginAppWithTenantTokens(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := decodeAs[createdTenantResponse](t, h.call(t, "POST", "/admin/tenants", map[string]string{"slug": "acme", "name": "ACME"}).want(t, 201)).AdminClient
	h.createTenant(t, "beta")
	tok, err := h.clientCredentials(t, "acme", admin.ClientID, admin.ClientSecret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	as := token(tok.AccessToken)

	// clavis:admin reads and sets its own tenant's login URL.
	wantDiff(t, "PUT with clavis:admin", "https://login.acme.example/",
		loginURLOf(t, h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": "https://login.acme.example/"}, as).want(t, 200)))
	wantDiff(t, "GET with clavis:admin", "https://login.acme.example/", h.loginApp(t, "acme", as))

	// Another tenant's, or one that does not exist, is not found.
	before := h.head(t)
	for _, path := range []string{"/t/beta/admin/login-app", "/t/nope/admin/login-app"} {
		checkProblem(t, h.call(t, "GET", path, nil, as), 404, httpapi.ProblemNotFound, "")
		checkProblem(t, h.call(t, "PUT", path, map[string]string{"login_url": "https://evil.example/"}, as), 404, httpapi.ProblemNotFound, "")
	}
	h.unchanged(t, before, "a tenant token at another tenant")
	wantDiff(t, "beta's login URL", "", h.loginApp(t, "beta"))

	// clavis:clients:read reads it, and cannot set it.
	reader, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Auditor", "code": "urn:acme/auditor",
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:clients:read"}})
	rt, err := h.clientCredentials(t, "acme", reader.ClientID, reader.ClientSecret, oauth2.AuthStyleInHeader)
	if err != nil {
		t.Fatal(err)
	}
	wantDiff(t, "GET with clavis:clients:read", "https://login.acme.example/", h.loginApp(t, "acme", token(rt.AccessToken)))
	before = h.head(t)
	r := h.call(t, "PUT", "/t/acme/admin/login-app", map[string]string{"login_url": "https://evil.example/"}, token(rt.AccessToken))
	checkProblem(t, r, 403, httpapi.ProblemForbidden, "")
	wantDiff(t, "the 403's WWW-Authenticate error", "insufficient_scope", wwwAuthenticateError(r))
	h.unchanged(t, before, "a PUT with a read-only token")
	wantDiff(t, "after the read-only PUT", "https://login.acme.example/", h.loginApp(t, "acme"))
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
