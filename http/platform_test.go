package httpapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/tenants"
)

func TestPlatformAPI(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)

	r := h.call(t, "POST", "/admin/tenants", map[string]string{"slug": "acme", "name": "Acme Corp"}).want(t, 201)
	created := r.object(t)
	admin := created["admin_client"].(map[string]any)
	if created["slug"] != "acme" || created["name"] != "Acme Corp" || created["issuer"] != "https://id.example.com/t/acme" ||
		len(created) != 4 || len(admin) != 2 {
		t.Errorf("created = %v", created)
	}
	if r.header.Get("Location") != "/admin/tenants/acme" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers = %v", r.header)
	}
	secret, _ := admin["client_secret"].(string)
	if !regexp.MustCompile(`^cls_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Errorf("admin secret %q", secret)
	}
	// Read-your-writes: the read model has the tenant and its admin
	// client, whose stored hash verifies the secret.
	view, err := h.rm.ClientByID(t.Context(), admin["client_id"].(string))
	if err != nil || view.Tenant != "acme" || len(view.Secrets) != 1 || !tenants.VerifySecret(view.Secrets[0].Hash, secret) {
		t.Fatalf("admin client in the read model = %+v, %v", view, err)
	}
	got := h.call(t, "GET", "/t/acme/admin/clients/"+admin["client_id"].(string), nil).want(t, 200).object(t)
	if got["code"] != tenants.AdminClientCode || got["type"] != "m2m" || fmt.Sprint(got["default_scopes"]) != "[clavis:admin]" {
		t.Errorf("admin client = %v", got)
	}
	if strings.Contains(string(h.call(t, "GET", "/t/acme/admin/clients/"+admin["client_id"].(string), nil).body), secret) {
		t.Error("GET shows the secret")
	}

	tenant := h.call(t, "GET", "/admin/tenants/acme", nil).want(t, 200).object(t)
	if tenant["slug"] != "acme" || tenant["suspended"] != false || tenant["version"] != 2.0 || tenant["issuer"] != "https://id.example.com/t/acme" {
		t.Errorf("tenant = %v", tenant)
	}

	renamed := h.call(t, "PATCH", "/admin/tenants/acme", map[string]string{"name": "ACME Inc."}, contentType("application/merge-patch+json")).want(t, 200).object(t)
	if renamed["name"] != "ACME Inc." || renamed["version"] != 3.0 {
		t.Errorf("renamed = %v", renamed)
	}
	suspended := h.call(t, "POST", "/admin/tenants/acme/suspend", map[string]string{"reason": "unpaid"}).want(t, 200).object(t)
	if suspended["suspended"] != true || suspended["suspension_reason"] != "unpaid" {
		t.Errorf("suspended = %v", suspended)
	}
	if got := h.call(t, "GET", "/admin/tenants/acme", nil).want(t, 200).object(t); got["suspended"] != true {
		t.Errorf("GET after suspend = %v", got)
	}
	// Suspending again changes nothing; so does an empty suspend body.
	before := h.head(t)
	h.call(t, "POST", "/admin/tenants/acme/suspend", nil).want(t, 200)
	h.unchanged(t, before, "a second suspend")
	resumed := h.call(t, "POST", "/admin/tenants/acme/resume", nil).want(t, 200).object(t)
	if resumed["suspended"] != false || resumed["version"] != 5.0 {
		t.Errorf("resumed = %v", resumed)
	}

	// Paging.
	for _, s := range []string{"beta", "gamma", "delta"} {
		h.createTenant(t, s)
	}
	var slugs []string
	after := ""
	for pages := 0; ; pages++ {
		page := h.call(t, "GET", "/admin/tenants?limit=3&after="+after, nil).want(t, 200).object(t)
		for _, x := range page["tenants"].([]any) {
			slugs = append(slugs, x.(map[string]any)["slug"].(string))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		after = next
	}
	if strings.Join(slugs, ",") != "acme,beta,delta,gamma" {
		t.Errorf("tenants = %v", slugs)
	}
	if page := h.call(t, "GET", "/admin/tenants", nil).want(t, 200).object(t); page["next_cursor"] != nil || len(page["tenants"].([]any)) != 4 {
		t.Errorf("one page = %v", page)
	}
}

func TestPlatformAPIRefuses(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		opts   []callOpt
		status int
		typ    string
		field  string // the problem's field, or the first of its errors
	}{
		{"create: no token", "POST", "/admin/tenants", map[string]string{"slug": "x1", "name": "X"}, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"create: wrong token", "POST", "/admin/tenants", map[string]string{"slug": "x1", "name": "X"}, []callOpt{token("nope")}, 401, httpapi.ProblemUnauthorized, ""},
		{"create: token of another scheme", "POST", "/admin/tenants", map[string]string{"slug": "x1", "name": "X"}, []callOpt{noAuth, header("Authorization", "Basic "+rootToken)}, 401, httpapi.ProblemUnauthorized, ""},
		{"create: malformed JSON", "POST", "/admin/tenants", `{"slug":`, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"create: not an object", "POST", "/admin/tenants", `["acme"]`, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"create: trailing data", "POST", "/admin/tenants", `{"slug":"x1","name":"X"} {}`, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"create: wrong type", "POST", "/admin/tenants", `{"slug":1,"name":"X"}`, nil, 400, httpapi.ProblemMalformedJSON, "slug"},
		{"create: unknown field", "POST", "/admin/tenants", `{"slug":"x1","name":"X","owner":"me"}`, nil, 400, httpapi.ProblemUnknownField, "owner"},
		{"create: empty body", "POST", "/admin/tenants", ``, nil, 400, httpapi.ProblemMalformedJSON, ""},
		{"create: oversized", "POST", "/admin/tenants", oversized{}, nil, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"create: not JSON", "POST", "/admin/tenants", `slug=x1`, []callOpt{contentType("application/x-www-form-urlencoded")}, 415, httpapi.ProblemUnsupportedMediaType, ""},
		{"create: invalid slug", "POST", "/admin/tenants", map[string]string{"slug": "Not A Slug", "name": "X"}, nil, 422, httpapi.ProblemValidation, "slug"},
		{"create: reserved slug", "POST", "/admin/tenants", map[string]string{"slug": "admin", "name": "X"}, nil, 422, httpapi.ProblemValidation, "slug"},
		{"create: no name", "POST", "/admin/tenants", map[string]string{"slug": "x1"}, nil, 422, httpapi.ProblemValidation, "name"},
		{"create: taken slug", "POST", "/admin/tenants", map[string]string{"slug": "acme", "name": "Again"}, nil, 409, httpapi.ProblemAlreadyExists, "slug"},
		{"list: no token", "GET", "/admin/tenants", nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"list: bad limit", "GET", "/admin/tenants?limit=0", nil, nil, 400, httpapi.ProblemInvalidParameter, "limit"},
		{"list: huge limit", "GET", "/admin/tenants?limit=501", nil, nil, 400, httpapi.ProblemInvalidParameter, "limit"},
		{"get: no token", "GET", "/admin/tenants/acme", nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"get: unknown", "GET", "/admin/tenants/nope", nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"get: not a slug", "GET", "/admin/tenants/NOPE", nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"rename: wrong token", "PATCH", "/admin/tenants/acme", map[string]string{"name": "X"}, []callOpt{token("x")}, 401, httpapi.ProblemUnauthorized, ""},
		{"rename: unknown field", "PATCH", "/admin/tenants/acme", `{"name":"X","slug":"other"}`, nil, 400, httpapi.ProblemUnknownField, "slug"},
		{"rename: malformed", "PATCH", "/admin/tenants/acme", `{`, []callOpt{contentType("application/merge-patch+json")}, 400, httpapi.ProblemMalformedJSON, ""},
		{"rename: empty name", "PATCH", "/admin/tenants/acme", map[string]string{"name": " "}, nil, 422, httpapi.ProblemValidation, "name"},
		{"rename: null name", "PATCH", "/admin/tenants/acme", `{"name":null}`, nil, 422, httpapi.ProblemValidation, "name"},
		{"rename: unknown tenant", "PATCH", "/admin/tenants/nope", map[string]string{"name": "X"}, nil, 404, httpapi.ProblemNotFound, ""},
		{"rename: text/plain", "PATCH", "/admin/tenants/acme", `{"name":"X"}`, []callOpt{contentType("text/plain")}, 415, httpapi.ProblemUnsupportedMediaType, ""},
		{"suspend: no token", "POST", "/admin/tenants/acme/suspend", nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"suspend: unknown field", "POST", "/admin/tenants/acme/suspend", `{"why":"x"}`, nil, 400, httpapi.ProblemUnknownField, "why"},
		{"suspend: long reason", "POST", "/admin/tenants/acme/suspend", map[string]string{"reason": strings.Repeat("r", 501)}, nil, 422, httpapi.ProblemValidation, "reason"},
		{"rename: oversized", "PATCH", "/admin/tenants/acme", oversized{}, []callOpt{contentType("application/merge-patch+json")}, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"suspend: oversized", "POST", "/admin/tenants/acme/suspend", oversized{}, nil, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"resume: oversized", "POST", "/admin/tenants/acme/resume", oversized{}, nil, 413, httpapi.ProblemPayloadTooLarge, ""},
		{"suspend: unknown tenant", "POST", "/admin/tenants/nope/suspend", nil, nil, 404, httpapi.ProblemNotFound, ""},
		{"resume: no token", "POST", "/admin/tenants/acme/resume", nil, []callOpt{noAuth}, 401, httpapi.ProblemUnauthorized, ""},
		{"resume: unknown field", "POST", "/admin/tenants/acme/resume", `{"now":true}`, nil, 400, httpapi.ProblemUnknownField, "now"},
		{"resume: unknown tenant", "POST", "/admin/tenants/nope/resume", nil, nil, 404, httpapi.ProblemNotFound, ""},
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

// checkProblem fails unless r is the problem+json of status and typ, with
// field as its field or among its errors, and the Bearer challenge on a 401.
func checkProblem(t *testing.T, r response, status int, typ, field string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != httpapi.ContentTypeProblem {
		t.Errorf("content type = %q", ct)
	}
	p := r.object(t)
	if p["type"] != typ || p["status"] != float64(status) || p["title"] == "" {
		t.Errorf("problem = %v, want type %s", p, typ)
	}
	if field != "" {
		found := p["field"] == field
		errs, _ := p["errors"].([]any)
		for _, e := range errs {
			if e.(map[string]any)["field"] == field {
				found = true
			}
		}
		if !found {
			t.Errorf("problem %v does not name %q", p, field)
		}
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer realm="clavis"`) {
		t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
	}
	if strings.Contains(string(r.body), "cls_") || strings.Contains(string(r.body), rootToken) {
		t.Errorf("the problem holds a secret: %s", r.body)
	}
}

// TestEveryAdminRouteNeedsAToken calls every documented operation that
// needs a token, without one and with a wrong one: 401 with a Bearer
// challenge, and nothing changes.
func TestEveryAdminRouteNeedsAToken(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	admin := h.createTenant(t, "acme")["admin_client"].(map[string]any)
	id := admin["client_id"].(string)
	values := strings.NewReplacer("{slug}", "acme", "{tenant}", "acme", "{client_id}", id, "{secret_id}", "sec_x")
	n := 0
	for path, item := range h.k.doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			if sec, ok := op.(map[string]any)["security"].([]any); ok && len(sec) == 0 {
				continue // public: health and this document
			}
			n++
			emptyBearer := func(o *callOpts) { noAuth(o); header("Authorization", "Bearer  ")(o) }
			for _, o := range []callOpt{noAuth, token(rootToken + "x"), token(rootToken[:len(rootToken)-1]), emptyBearer} {
				before := h.head(t)
				r := h.call(t, strings.ToUpper(method), values.Replace(path), `{}`, o)
				checkProblem(t, r, http.StatusUnauthorized, httpapi.ProblemUnauthorized, "")
				h.unchanged(t, before, method+" "+path)
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d operations checked", n)
	}
}

func TestWithAdminRejects(t *testing.T) {
	t.Parallel()
	store := bareStore(t)
	log := slogDiscard()
	if _, err := httpapi.New(httpapi.Config{}, store, log, httpapi.WithAdmin(httpapi.Admin{})); err == nil ||
		!strings.Contains(err.Error(), "Tenants, Clients, ReadModel, Auth, PublicURL") || !errors.Is(err, httpapi.ErrInvalidOption) {
		t.Errorf("an empty Admin: %v", err)
	}
	if _, err := httpapi.New(httpapi.Config{}, store, log, nil); !errors.Is(err, httpapi.ErrInvalidOption) {
		t.Errorf("a nil option: %v, want %v", err, httpapi.ErrInvalidOption)
	}
	if _, err := httpapi.RootToken(""); err == nil {
		t.Error("an empty root token was accepted")
	}
	auth, err := httpapi.RootToken(rootToken)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"", rootToken[:10], rootToken + " ", strings.ToUpper(rootToken)} {
		if _, err := auth.Authenticate(t.Context(), tok); err == nil {
			t.Errorf("token %q accepted", tok)
		}
	}
	if p, err := auth.Authenticate(t.Context(), rootToken); err != nil || !p.Platform || p.Actor != httpapi.RootActor {
		t.Errorf("the root token: %+v, %v", p, err)
	}
}
