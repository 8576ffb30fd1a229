package httpapi_test

import (
	"encoding/json"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain/client"
	clientsecret "github.com/clavisiam/clavis/domain/client/secret"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/tenants"
)

// clientResponse is a client as the tenant admin API answers it.
type clientResponse struct {
	ClientID string `json:"client_id"`
	client.Settings
	Active                bool             `json:"active"`
	DeactivationReason    string           `json:"deactivation_reason"`
	Version               int64            `json:"version"`
	ClonedFrom            string           `json:"cloned_from"`
	Secrets               []secretResponse `json:"secrets"`
	ClientSecret          string           `json:"client_secret"`
	ClientSecretID        string           `json:"client_secret_id"`
	ClientSecretExpiresAt *int64           `json:"client_secret_expires_at"`
}

// secretIDs lists the ids of the client's secrets.
func (c clientResponse) secretIDs() []string {
	ids := make([]string, 0, len(c.Secrets))
	for _, s := range c.Secrets {
		ids = append(ids, s.ID)
	}
	return ids
}

// secretResponse is a client's secret as the API shows it.
type secretResponse struct {
	ID          string     `json:"id"`
	ExpiresAt   *time.Time `json:"expires_at"`
	Description string     `json:"description"`
}

// clientListResponse is a page of clients.
type clientListResponse struct {
	Clients    []clientResponse `json:"clients"`
	NextCursor string           `json:"next_cursor"`
}

// historyResponse is a client's history.
type historyResponse struct {
	ClientID string `json:"client_id"`
	Events   []struct {
		Type          string `json:"type"`
		Actor         string `json:"actor"`
		CorrelationID string `json:"correlation_id"`
		Reason        string `json:"reason"`
	} `json:"events"`
}

// importResponse is an import's report.
type importResponse struct {
	Format  string `json:"format"`
	DryRun  bool   `json:"dry_run"`
	Clients []struct {
		Code         string `json:"code"`
		ClientID     string `json:"client_id"`
		Action       string `json:"action"`
		ClientSecret string `json:"client_secret"`
	} `json:"clients"`
}

// actions maps each client's code to what the import did with it.
func (r importResponse) actions() map[string]string {
	out := map[string]string{}
	for _, c := range r.Clients {
		out[c.Code] = c.Action
	}
	return out
}

// decodeAs decodes an answer into a T, failing the test when it does not
// fit.
func decodeAs[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("answer %d is not a %T: %v: %s", r.status, v, err, r.body)
	}
	return v
}

// newClient registers a client through the API and returns its answer.
func (h *adminHarness) newClient(t *testing.T, tenant string, body map[string]any, opts ...callOpt) (clientResponse, response) {
	t.Helper()
	r := h.call(t, "POST", "/t/"+tenant+"/admin/clients", body, opts...).want(t, 201)
	return decodeAs[clientResponse](t, r), r
}

func TestCreateClient(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	base := "/t/acme/admin/clients"
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	c, r := h.newClient(t, "acme", webClient("urn:acme/web"), header("traceparent", traceparent), header("X-Request-Id", "req-create-1"))

	t.Run("the answer is the client, with its secret once and the preset filled in", func(t *testing.T) {
		type shown struct {
			ETag, Location        string
			Type                  client.Type
			AuthMethod            client.AuthMethod
			Active, RequirePKCE   bool
			Version               int64
			ExpiresAt             *int64
			Grants, PostLogout    []string
			SecretIDs             []string
			SecretShown, HashSeen bool
		}
		got := shown{
			ETag: r.header.Get("ETag"), Location: r.header.Get("Location"),
			Type: c.Type, AuthMethod: c.TokenEndpointAuthMethod, Active: c.Active, RequirePKCE: c.RequirePKCE,
			Version: c.Version, ExpiresAt: c.ClientSecretExpiresAt, Grants: c.GrantTypes, PostLogout: c.PostLogoutRedirectURIs,
			SecretIDs: c.secretIDs(), SecretShown: strings.HasPrefix(c.ClientSecret, "cls_"), HashSeen: strings.Contains(string(r.body), `"hash"`),
		}
		want := shown{
			ETag: `"1"`, Location: base + "/" + c.ClientID,
			Type: client.TypeConfidential, AuthMethod: client.AuthClientSecretBasic, Active: true, RequirePKCE: true,
			Version: 1, ExpiresAt: ptr[int64](0), Grants: []string{"authorization_code", "refresh_token"}, PostLogout: []string{},
			SecretIDs: []string{c.ClientSecretID}, SecretShown: true,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("created (-want +got):\n%s", diff)
		}
	})

	t.Run("a read right after sees it, without the secret", func(t *testing.T) {
		g := h.call(t, "GET", base+"/"+c.ClientID, nil).want(t, 200)
		got := decodeAs[clientResponse](t, g)
		type shown struct {
			ETag, Name, Secret string
			SecretInBody       bool
		}
		want := shown{ETag: `"1"`, Name: "Web urn:acme/web"}
		if diff := cmp.Diff(want, shown{ETag: g.header.Get("ETag"), Name: got.ClientName, Secret: got.ClientSecret,
			SecretInBody: strings.Contains(string(g.body), c.ClientSecret)}); diff != "" {
			t.Errorf("GET (-want +got):\n%s", diff)
		}
	})

	t.Run("only the secret's hash is stored, and it verifies", func(t *testing.T) {
		view, err := h.rm.Client(t.Context(), "acme", c.ClientID)
		if err != nil || !clientsecret.Verify(view.Secrets[0].Hash, c.ClientSecret) {
			t.Fatalf("the stored hash does not verify the secret: %v", err)
		}
	})

	t.Run("the events carry the request's trace, id and principal", func(t *testing.T) {
		stored, err := h.store.ReadStream(t.Context(), tenants.ClientStream("acme", c.ClientID), 0)
		if err != nil {
			t.Fatal(err)
		}
		type meta struct{ Actor, TraceParent, CorrelationID, CausationID string }
		m := stored[0].Meta
		want := meta{Actor: "root", TraceParent: traceparent, CorrelationID: "req-create-1", CausationID: "req-create-1"}
		if diff := cmp.Diff(want, meta{m.Actor, m.TraceParent, m.CorrelationID, m.CausationID}); diff != "" {
			t.Errorf("metadata of the registration (-want +got):\n%s", diff)
		}
	})
}

func TestUpdateClient(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	one := "/t/acme/admin/clients/" + c.ClientID
	type shown struct {
		ETag, Name, Description string
		Origins                 []string
		Metadata                int // how many entries
		SecretShown             bool
	}
	// The steps run in order: each expects the version the one before left.
	steps := []struct {
		name string
		body string
		opts []callOpt
		want shown
	}{
		{"a merge patch with If-Match", `{"client_name":"Web app","allowed_cors_origins":["HTTPS://App.Example.com:443"],"metadata":{"team":"web"}}`,
			[]callOpt{contentType("application/merge-patch+json"), header("If-Match", `"1"`)},
			shown{ETag: `"2"`, Name: "Web app", Origins: []string{"https://app.example.com"}, Metadata: 1}},
		{"JSON with the version in the body; null clears", `{"version":2,"metadata":null,"description":"the web app"}`, nil,
			shown{ETag: `"3"`, Name: "Web app", Description: "the web app", Origins: []string{"https://app.example.com"}}},
	}
	for _, s := range steps {
		r := h.call(t, "PATCH", one, s.body, s.opts...).want(t, 200)
		got := decodeAs[clientResponse](t, r)
		if diff := cmp.Diff(s.want, shown{ETag: r.header.Get("ETag"), Name: got.ClientName, Description: got.Description,
			Origins: got.AllowedCORSOrigins, Metadata: len(got.Metadata), SecretShown: got.ClientSecret != ""}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
	}

	// A patch that changes nothing changes nothing.
	before := h.head(t)
	h.call(t, "PATCH", one, `{"description":"the web app"}`, header("If-Match", `"3"`)).want(t, 200)
	h.unchanged(t, before, "a no-op patch")
}

func TestClientSecrets(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	one := "/t/acme/admin/clients/" + c.ClientID
	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)

	add := decodeAs[clientResponse](t, h.call(t, "POST", one+"/secrets", map[string]any{"description": "CI", "expires_at": exp}).want(t, 201))
	rev := decodeAs[clientResponse](t, h.call(t, "DELETE", one+"/secrets/"+c.ClientSecretID, nil).want(t, 200))
	rot := decodeAs[clientResponse](t, h.call(t, "POST", one+"/secrets/rotate", map[string]any{"overlap_seconds": 3600}).want(t, 200))
	// Rotation without a body keeps the old secrets for a day.
	rot2 := decodeAs[clientResponse](t, h.call(t, "POST", one+"/secrets/rotate", nil).want(t, 200))

	type shown struct {
		NewSecret bool // a fresh value, shown once
		ExpiresAt *int64
		Secrets   []string
	}
	newSecret := func(r clientResponse) bool {
		return strings.HasPrefix(r.ClientSecret, "cls_") && r.ClientSecret != c.ClientSecret
	}
	tests := []struct {
		name      string
		got, want shown
	}{
		{"add: shown once, expiring as asked",
			shown{newSecret(add), add.ClientSecretExpiresAt, add.secretIDs()},
			shown{true, ptr(exp.Unix()), []string{c.ClientSecretID, add.ClientSecretID}}},
		{"revoke: the secret goes, nothing is shown",
			shown{newSecret(rev), rev.ClientSecretExpiresAt, rev.secretIDs()},
			shown{false, nil, []string{add.ClientSecretID}}},
		{"rotate: a new secret beside the old",
			shown{newSecret(rot), nil, rot.secretIDs()},
			shown{true, nil, []string{add.ClientSecretID, rot.ClientSecretID}}},
		{"rotate without a body",
			shown{newSecret(rot2), nil, rot2.secretIDs()},
			shown{true, nil, []string{add.ClientSecretID, rot.ClientSecretID, rot2.ClientSecretID}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestClientActivation(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	one := "/t/acme/admin/clients/" + c.ClientID
	type shown struct {
		Active bool
		Reason string
	}

	d := decodeAs[clientResponse](t, h.call(t, "POST", one+"/deactivate", map[string]string{"reason": "compromised"}).want(t, 200))
	if diff := cmp.Diff(shown{false, "compromised"}, shown{d.Active, d.DeactivationReason}); diff != "" {
		t.Errorf("deactivate (-want +got):\n%s", diff)
	}
	inactive := decodeAs[clientListResponse](t, h.call(t, "GET", "/t/acme/admin/clients?active=false", nil).want(t, 200))
	if len(inactive.Clients) != 1 {
		t.Errorf("inactive clients = %+v", inactive.Clients)
	}
	a := decodeAs[clientResponse](t, h.call(t, "POST", one+"/activate", nil).want(t, 200))
	if diff := cmp.Diff(shown{Active: true}, shown{a.Active, a.DeactivationReason}); diff != "" {
		t.Errorf("activate (-want +got):\n%s", diff)
	}
}

func TestCloneClient(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	src := webClient("urn:acme/web")
	src["allowed_cors_origins"] = []string{"https://app.example.com"}
	c, _ := h.newClient(t, "acme", src)

	r := h.call(t, "POST", "/t/acme/admin/clients/"+c.ClientID+"/clone", map[string]string{"client_name": "Web copy", "code": "urn:acme/web-copy"}).want(t, 201)
	clone := decodeAs[clientResponse](t, r)
	type shown struct {
		ETag, ClonedFrom, Code, Name string
		NewID, NewSecret             bool
		Origins                      []string
	}
	want := shown{ETag: `"1"`, ClonedFrom: c.ClientID, Code: "urn:acme/web-copy", Name: "Web copy", NewID: true, NewSecret: true,
		Origins: []string{"https://app.example.com"}}
	got := shown{ETag: r.header.Get("ETag"), ClonedFrom: clone.ClonedFrom, Code: clone.Code, Name: clone.ClientName,
		NewID: clone.ClientID != c.ClientID, NewSecret: clone.ClientSecret != "" && clone.ClientSecret != c.ClientSecret,
		Origins: clone.AllowedCORSOrigins}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("clone (-want +got):\n%s", diff)
	}
}

func TestClientHistory(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c, _ := h.newClient(t, "acme", webClient("urn:acme/web"), header("X-Request-Id", "req-create-1"))
	one := "/t/acme/admin/clients/" + c.ClientID
	h.call(t, "PATCH", one, `{"client_name":"Web app"}`).want(t, 200)
	h.call(t, "PATCH", one, `{"description":"the web app"}`).want(t, 200)
	added := decodeAs[clientResponse](t, h.call(t, "POST", one+"/secrets", nil).want(t, 201))
	h.call(t, "DELETE", one+"/secrets/"+c.ClientSecretID, nil).want(t, 200)
	h.call(t, "POST", one+"/secrets/rotate", map[string]any{"overlap_seconds": 3600}).want(t, 200)
	h.call(t, "POST", one+"/secrets/rotate", nil).want(t, 200)
	h.call(t, "POST", one+"/deactivate", map[string]string{"reason": "compromised"}).want(t, 200)
	h.call(t, "POST", one+"/activate", nil).want(t, 200)

	r := h.call(t, "GET", one+"/history", nil).want(t, 200)
	hist := decodeAs[historyResponse](t, r)
	type event struct{ Type, Actor, CorrelationID, Reason string }
	got := make([]event, 0, len(hist.Events))
	for _, e := range hist.Events {
		got = append(got, event{e.Type, e.Actor, e.CorrelationID, e.Reason})
	}
	want := []event{
		{Type: "client.registered", Actor: "root", CorrelationID: "req-create-1"},
		{Type: "client.updated"}, {Type: "client.updated"}, {Type: "client.secret_added"}, {Type: "client.secret_revoked"},
		{Type: "client.secret_rotated"}, {Type: "client.secret_rotated"}, {Type: "client.deactivated", Reason: "compromised"},
		{Type: "client.activated"},
	}
	// Only the first event's request is named here; the others' ids are
	// the harness's own.
	for i := 1; i < len(got); i++ {
		got[i].Actor, got[i].CorrelationID = "", ""
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	body := string(r.body)
	for _, leak := range []string{"sha256$", "cls_", c.ClientSecret, added.ClientSecret} {
		if strings.Contains(body, leak) {
			t.Errorf("history leaks secret material (%.8s…): %s", leak, body)
		}
	}
	if !strings.Contains(body, "[REDACTED]") {
		t.Errorf("history redacts nothing: %s", body)
	}
}

func TestListClients(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	base := "/t/acme/admin/clients"
	web, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	h.call(t, "POST", base+"/"+web.ClientID+"/clone", map[string]string{"client_name": "Web copy", "code": "urn:acme/web-copy"}).want(t, 201)
	h.newClient(t, "acme", spaClient("urn:acme/spa"))

	tests := []struct {
		name  string
		query string
		want  int
	}{
		{"all: admin, web, copy, spa", "", 4},
		{"by type", "?type=public", 1},
		{"by search, ignoring case", "?q=COPY", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAs[clientListResponse](t, h.call(t, "GET", base+tt.query, nil).want(t, 200))
			if len(got.Clients) != tt.want {
				t.Errorf("%d clients, want %d: %+v", len(got.Clients), tt.want, got.Clients)
			}
		})
	}

	t.Run("pages of one, in id order", func(t *testing.T) {
		var ids []string
		after := ""
		for pages := 0; pages < 10; pages++ {
			page := decodeAs[clientListResponse](t, h.call(t, "GET", base+"?limit=1&after="+url.QueryEscape(after), nil).want(t, 200))
			for _, c := range page.Clients {
				ids = append(ids, c.ClientID)
			}
			if page.NextCursor == "" {
				break
			}
			after = page.NextCursor
		}
		if len(ids) != 4 || !slices.IsSorted(ids) {
			t.Errorf("paged ids = %v", ids)
		}
	})
}

func TestExportImport(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	web, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	h.call(t, "POST", "/t/acme/admin/clients/"+web.ClientID+"/clone", map[string]string{"client_name": "Web copy", "code": "urn:acme/web-copy"}).want(t, 201)
	h.newClient(t, "acme", spaClient("urn:acme/spa"))

	// Export: every live client, no secret material.
	ex := h.call(t, "GET", "/t/acme/admin/export", nil).want(t, 200)
	for _, leak := range []string{"cls_", "sha256$", `"hash"`, "secrets"} {
		if strings.Contains(string(ex.body), leak) {
			t.Errorf("export holds secret material (%s): %s", leak, ex.body)
		}
	}
	if cd := ex.header.Get("Content-Disposition"); !strings.Contains(cd, "acme-clients.json") {
		t.Errorf("Content-Disposition = %q", cd)
	}

	// Import it into a second tenant: dry run, then for real, then again.
	h.createTenant(t, "beta")
	created := map[string]string{"urn:acme/web": "create", "urn:acme/web-copy": "create", "urn:acme/spa": "create"}
	unchanged := map[string]string{"urn:acme/web": "unchanged", "urn:acme/web-copy": "unchanged", "urn:acme/spa": "unchanged"}

	before := h.head(t)
	dry := decodeAs[importResponse](t, h.call(t, "POST", "/t/beta/admin/import?dry_run=true", ex.body).want(t, 200))
	h.unchanged(t, before, "a dry run")
	if diff := cmp.Diff(created, dry.actions()); diff != "" || !dry.DryRun {
		t.Errorf("dry run %+v (-want +got):\n%s", dry, diff)
	}

	imp := decodeAs[importResponse](t, h.call(t, "POST", "/t/beta/admin/import", ex.body).want(t, 200))
	if diff := cmp.Diff(created, imp.actions()); diff != "" || imp.DryRun {
		t.Errorf("import %+v (-want +got):\n%s", imp, diff)
	}
	for _, c := range imp.Clients {
		if c.Code != "urn:acme/web" {
			continue
		}
		if c.ClientSecret == "" {
			t.Errorf("the imported confidential client has no secret: %+v", c)
		}
		// Read-your-writes after an import.
		h.call(t, "GET", "/t/beta/admin/clients/"+c.ClientID, nil).want(t, 200)
	}

	before = h.head(t)
	again := decodeAs[importResponse](t, h.call(t, "POST", "/t/beta/admin/import", ex.body).want(t, 200))
	if diff := cmp.Diff(unchanged, again.actions()); diff != "" {
		t.Errorf("second import (-want +got):\n%s", diff)
	}
	h.unchanged(t, before, "a second import")
}

func TestDeleteClient(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	one := "/t/acme/admin/clients/" + c.ClientID

	h.call(t, "DELETE", one, nil).want(t, 204)
	checkProblem(t, h.call(t, "GET", one, nil), 404, httpapi.ProblemNotFound, "")
	// Its code is free again, and its history stays.
	h.newClient(t, "acme", webClient("urn:acme/web"))
	h.call(t, "GET", one+"/history", nil).want(t, 200)
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
	rep := decodeAs[importResponse](t, h.call(t, "POST", "/t/acme/admin/import", adapted).want(t, 200))
	if len(rep.Clients) != 1 {
		t.Fatalf("report = %+v", rep)
	}
	type reported struct{ Format, Action, Code, Secret string }
	c := rep.Clients[0]
	if diff := cmp.Diff(reported{"identityserver", "create", "urn:acme/sec.app.admin", ""}, reported{rep.Format, c.Action, c.Code, c.ClientSecret}); diff != "" {
		t.Fatalf("report (-want +got):\n%s", diff)
	}

	got := decodeAs[clientResponse](t, h.call(t, "GET", "/t/acme/admin/clients/"+c.ClientID, nil).want(t, 200))
	type imported struct {
		Type    client.Type
		Name    string
		Offline bool
		Grants  []string
	}
	want := imported{client.TypePublic, "Security Admin App", true, []string{"authorization_code", "refresh_token"}}
	if diff := cmp.Diff(want, imported{got.Type, got.ClientName, got.AllowOfflineAccess, got.GrantTypes}); diff != "" {
		t.Errorf("imported (-want +got):\n%s", diff)
	}

	before = h.head(t)
	again := decodeAs[importResponse](t, h.call(t, "POST", "/t/acme/admin/import", adapted).want(t, 200))
	if diff := cmp.Diff(map[string]string{"urn:acme/sec.app.admin": "unchanged"}, again.actions()); diff != "" {
		t.Errorf("second import (-want +got):\n%s", diff)
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

func ptr[T any](v T) *T { return &v }
