package httpapi_test

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain/client"
	clientsecret "github.com/clavisiam/clavis/domain/client/secret"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/tenants"
)

// tenantResponse is a tenant as the platform API answers it.
type tenantResponse struct {
	Slug             string `json:"slug"`
	Name             string `json:"name"`
	Issuer           string `json:"issuer"`
	Suspended        bool   `json:"suspended"`
	SuspensionReason string `json:"suspension_reason"`
	Version          int64  `json:"version"`
}

// tenantListResponse is a page of tenants.
type tenantListResponse struct {
	Tenants    []tenantResponse `json:"tenants"`
	NextCursor *string          `json:"next_cursor"`
}

// createdTenantResponse is the answer to a tenant's creation.
type createdTenantResponse struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Issuer      string `json:"issuer"`
	AdminClient struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	} `json:"admin_client"`
}

func TestCreateTenant(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	r := h.call(t, "POST", "/admin/tenants", map[string]string{"slug": "acme", "name": "Acme Corp"}).want(t, 201)
	created := decodeAs[createdTenantResponse](t, r)
	secret := created.AdminClient.ClientSecret

	t.Run("the answer names the tenant, its issuer and its admin client, and nothing else", func(t *testing.T) {
		type shown struct {
			Slug, Name, Issuer, Location, CacheControl string
			Members, AdminMembers                      int
			SecretLooksRight                           bool
		}
		members := r.object(t)
		admin, _ := members["admin_client"].(map[string]any)
		want := shown{Slug: "acme", Name: "Acme Corp", Issuer: "https://id.example.com/t/acme", Location: "/admin/tenants/acme",
			CacheControl: "no-store", Members: 4, AdminMembers: 2, SecretLooksRight: true}
		got := shown{Slug: created.Slug, Name: created.Name, Issuer: created.Issuer, Location: r.header.Get("Location"),
			CacheControl: r.header.Get("Cache-Control"), Members: len(members), AdminMembers: len(admin),
			SecretLooksRight: regexp.MustCompile(`^cls_[A-Za-z0-9_-]{43}$`).MatchString(secret)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("created (-want +got):\n%s", diff)
		}
	})

	t.Run("the read model has the admin client, whose stored hash verifies the secret", func(t *testing.T) {
		view, err := h.rm.ClientByID(t.Context(), created.AdminClient.ClientID)
		if err != nil || view.Tenant != "acme" || len(view.Secrets) != 1 || !clientsecret.Verify(view.Secrets[0].Hash, secret) {
			t.Fatalf("admin client in the read model = %+v, %v", view, err)
		}
	})

	t.Run("the admin client may administer its tenant, and its secret is not shown again", func(t *testing.T) {
		g := h.call(t, "GET", "/t/acme/admin/clients/"+created.AdminClient.ClientID, nil).want(t, 200)
		got := decodeAs[clientResponse](t, g)
		type shown struct {
			Code          string
			Type          client.Type
			DefaultScopes []string
			SecretShown   bool
		}
		want := shown{Code: tenants.AdminClientCode, Type: client.TypeM2M, DefaultScopes: []string{"clavis:admin"}}
		if diff := cmp.Diff(want, shown{got.Code, got.Type, got.DefaultScopes, strings.Contains(string(g.body), secret)}); diff != "" {
			t.Errorf("admin client (-want +got):\n%s", diff)
		}
	})
}

func TestTenantCommands(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	type shown struct {
		Slug, Name, Issuer, Reason string
		Suspended                  bool
		Version                    int64
	}
	show := func(v tenantResponse) shown {
		return shown{v.Slug, v.Name, v.Issuer, v.SuspensionReason, v.Suspended, v.Version}
	}
	const issuer = "https://id.example.com/t/acme"
	// The steps run in order, each on the tenant the one before left.
	steps := []struct {
		name         string
		method, path string
		body         any
		opts         []callOpt
		want         shown
	}{
		{"get", "GET", "/admin/tenants/acme", nil, nil, shown{"acme", "ACME", issuer, "", false, 3}},
		{"rename", "PATCH", "/admin/tenants/acme", map[string]string{"name": "ACME Inc."}, []callOpt{contentType("application/merge-patch+json")},
			shown{"acme", "ACME Inc.", issuer, "", false, 4}},
		{"suspend", "POST", "/admin/tenants/acme/suspend", map[string]string{"reason": "unpaid"}, nil, shown{"acme", "ACME Inc.", issuer, "unpaid", true, 5}},
		{"get after suspend", "GET", "/admin/tenants/acme", nil, nil, shown{"acme", "ACME Inc.", issuer, "unpaid", true, 5}},
		{"resume", "POST", "/admin/tenants/acme/resume", nil, nil, shown{"acme", "ACME Inc.", issuer, "", false, 6}},
	}
	for _, s := range steps {
		if s.name == "resume" {
			// Suspending again changes nothing; so does an empty suspend body.
			before := h.head(t)
			h.call(t, "POST", "/admin/tenants/acme/suspend", nil).want(t, 200)
			h.unchanged(t, before, "a second suspend")
		}
		got := decodeAs[tenantResponse](t, h.call(t, s.method, s.path, s.body, s.opts...).want(t, 200))
		if diff := cmp.Diff(s.want, show(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestListTenants(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	for _, s := range []string{"acme", "beta", "gamma", "delta"} {
		h.createTenant(t, s)
	}
	t.Run("pages of three, in slug order", func(t *testing.T) {
		var slugs []string
		after := ""
		for pages := 0; ; pages++ {
			page := decodeAs[tenantListResponse](t, h.call(t, "GET", "/admin/tenants?limit=3&after="+after, nil).want(t, 200))
			for _, x := range page.Tenants {
				slugs = append(slugs, x.Slug)
			}
			if page.NextCursor == nil || *page.NextCursor == "" {
				break
			}
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			after = *page.NextCursor
		}
		if diff := cmp.Diff([]string{"acme", "beta", "delta", "gamma"}, slugs); diff != "" {
			t.Errorf("tenants (-want +got):\n%s", diff)
		}
	})
	t.Run("one page holds all, without a cursor", func(t *testing.T) {
		page := decodeAs[tenantListResponse](t, h.call(t, "GET", "/admin/tenants", nil).want(t, 200))
		if page.NextCursor != nil || len(page.Tenants) != 4 {
			t.Errorf("one page = %+v", page)
		}
	})
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

// names reports whether the problem is about field, or lists it among
// its errors.
func names(p httpapi.Problem, field string) bool {
	if p.Field == field {
		return true
	}
	for _, e := range p.Errors {
		if e.Field == field {
			return true
		}
	}
	return false
}

// checkProblem fails unless r is the problem+json of status and typ, with
// field as its field or among its errors, and the Bearer challenge on a 401.
func checkProblem(t *testing.T, r response, status int, typ, field string) {
	t.Helper()
	p := wantProblem(t, r, status, typ)
	if field != "" && !names(p, field) {
		t.Errorf("problem %s does not name %q", r.body, field)
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
	h := startAdminNode(t, func(*node.Config) {}, unlimitedGuesses) // a wrong token for each route
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
