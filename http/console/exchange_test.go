package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/http/jsonbody"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// postMultipart posts fields, and the file named file (when not nil) as
// the field package, as a multipart form to path with the session's
// CSRF token.
func (a *agent) postMultipart(t *testing.T, path string, fields url.Values, file []byte) (int, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	if fields.Get("_csrf") == "" {
		if err := w.WriteField("_csrf", a.csrf); err != nil {
			t.Fatal(err)
		}
	}
	for k, vs := range fields {
		for _, v := range vs {
			if err := w.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if file != nil {
		fw, err := w.CreateFormFile("package", "clients.json")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(file); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return a.do(t, http.MethodPost, a.h.url+path, &b, w.FormDataContentType())
}

// registerJSON registers a client of tenant slug from its settings' JSON, as
// the operator, and waits for the read model to have it.
func (h *harness) registerJSON(t *testing.T, slug, settings string) projections.ClientView {
	t.Helper()
	s, err := jsonbody.Settings([]byte(settings))
	if err != nil {
		t.Fatalf("settings %s: %v", settings, err)
	}
	res, err := h.node.Admin.Clients.Register(context.Background(), rootRequest, slug, s)
	if err != nil {
		t.Fatalf("register %s: %v", settings, err)
	}
	if err := h.node.Projector.WaitFor(context.Background(), res.Position); err != nil {
		t.Fatal(err)
	}
	return res.Client
}

// clientByCode finds tenant slug's client with code in the read model.
func (h *harness) clientByCode(t *testing.T, slug, code string) (projections.ClientView, bool) {
	t.Helper()
	list, _, err := h.node.Admin.ReadModel.Clients(context.Background(), slug, projections.ClientFilter{Search: code, Limit: projections.MaxPage})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range list {
		if v.Settings.Code == code {
			return v, true
		}
	}
	return projections.ClientView{}, false
}

// lastActor is the actor and reason of the last event of tenant slug's
// client id.
func (h *harness) lastActor(t *testing.T, slug, id string) (actor, reason string) {
	t.Helper()
	entries, err := h.node.Admin.Clients.History(context.Background(), slug, id)
	if err != nil || len(entries) == 0 {
		t.Fatalf("history of %s: %v (%d entries)", id, err, len(entries))
	}
	e := entries[len(entries)-1]
	return e.Actor, e.Reason
}

func TestExportDownloadsTheTenantsPackage(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	h.registerJSON(t, "acme", `{"type":"m2m","client_name":"Orders","code":"urn:acme/orders"}`)
	a := h.signIn(t, "acme", "alice")

	status, body := a.get(t, "/t/acme/console/exchange")
	if status != http.StatusOK {
		t.Fatalf("exchange page: %d %s", status, excerpt(body))
	}
	mustContain(t, body, `href="/t/acme/console/export"`, `name="package"`, `name="package_json"`, `enctype="multipart/form-data"`)

	res, err := a.client.Get(h.url + "/t/acme/console/export")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("export: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if cd := res.Header.Get("Content-Disposition"); !regexp.MustCompile(`^attachment; filename="acme-clients-\d{4}-\d{2}-\d{2}\.json"$`).MatchString(cd) {
		t.Fatalf("export Content-Disposition %q", cd)
	}
	var pkg tenants.Package
	d := json.NewDecoder(res.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(&pkg); err != nil {
		t.Fatalf("the export is not a package: %v", err)
	}
	if pkg.Format != tenants.PackageFormat || pkg.Tenant != "acme" || len(pkg.Clients) != 1 || pkg.Clients[0].Settings.Code != "urn:acme/orders" {
		t.Fatalf("export: %+v", pkg)
	}
}

// importPackage is a package that updates the client "urn:acme/orders"
// (its name) and creates "urn:acme/billing".
const importPackage = `{"format":"clavis.clients/v1","tenant":"elsewhere","exported_at":"2026-01-01T00:00:00Z","clients":[
 {"client_id":"old-orders","settings":{"type":"m2m","client_name":"Orders v2","code":"urn:acme/orders"},"active":true},
 {"client_id":"old-billing","settings":{"type":"m2m","client_name":"Billing","code":"urn:acme/billing"},"active":true}]}`

var (
	packageField = regexp.MustCompile(`<input type="hidden" name="package_json" value="([^"]*)">`)
	secretField  = regexp.MustCompile(`id="secret-\d+" type="text" readonly value="(cls_[^"]+)"`)
)

func TestImportPreviewThenConfirm(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	orders := h.registerJSON(t, "acme", `{"type":"m2m","client_name":"Orders","code":"urn:acme/orders"}`)
	a := h.signIn(t, "acme", "alice")

	// The preview, from an uploaded file, changes nothing.
	status, body := a.postMultipart(t, "/t/acme/console/import", nil, []byte(importPackage))
	if status != http.StatusOK {
		t.Fatalf("preview: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "Import preview", "Nothing has changed yet", "create 1", "update 1",
		"urn:acme/billing", ">create<", ">update<", "client_name", "&#34;Orders&#34;", "&#34;Orders v2&#34;", `action="/t/acme/console/import/confirm"`)
	if _, ok := h.clientByCode(t, "acme", "urn:acme/billing"); ok {
		t.Fatal("the preview created a client")
	}
	m := packageField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the preview carries no package to confirm:\n%s", excerpt(body))
	}
	carried := html.UnescapeString(m[1])
	if carried != importPackage {
		t.Fatalf("the preview carries %q, want the package posted", carried)
	}

	// The confirmation imports it, with alice as the actor and her reason.
	status, body = a.postMultipart(t, "/t/acme/console/import/confirm", url.Values{"package_json": {carried}, "reason": {"move from staging"}}, nil)
	if status != http.StatusOK {
		t.Fatalf("confirm: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "Import result", "created 1", "updated 1", "shown only this once")
	if secretField.FindStringSubmatch(body) == nil {
		t.Fatalf("the new m2m client's secret is not shown:\n%s", excerpt(body))
	}
	billing, ok := h.clientByCode(t, "acme", "urn:acme/billing")
	if !ok || billing.Settings.ClientName != "Billing" {
		t.Fatalf("the import did not create billing: %+v", billing)
	}
	got, err := h.node.Admin.ReadModel.Client(context.Background(), "acme", orders.ClientID)
	if err != nil || got.Settings.ClientName != "Orders v2" {
		t.Fatalf("the import did not update orders: %+v %v", got.Settings.ClientName, err)
	}
	for _, id := range []string{billing.ClientID, orders.ClientID} {
		if actor, reason := h.lastActor(t, "acme", id); actor != "user:alice" || reason != "move from staging" {
			t.Fatalf("client %s: actor %q reason %q, want user:alice and the reason", id, actor, reason)
		}
	}

	// The same package again, pasted this time, changes nothing.
	status, body = a.postMultipart(t, "/t/acme/console/import", url.Values{"package_json": {importPackage}}, nil)
	if status != http.StatusOK {
		t.Fatalf("second preview: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "create 0", "update 0", "leave 2 unchanged")

	// Duende IdentityServer's clients are read as the admin API reads
	// them.
	status, body = a.postMultipart(t, "/t/acme/console/import", nil,
		[]byte(`[{"ClientId":"reports","ClientName":"Reports","AllowedGrantTypes":["client_credentials"]}]`))
	if status != http.StatusOK {
		t.Fatalf("IdentityServer preview: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "<code>identityserver</code>", "create 1", "Reports", "in the package: <code>reports</code>")

	// A person who may only read clients can neither preview nor import.
	r := h.signIn(t, "acme", "rita", "clavis:clients:read")
	if status, _ := r.postMultipart(t, "/t/acme/console/import", url.Values{"package_json": {importPackage}}, nil); status != http.StatusForbidden {
		t.Fatalf("preview without clavis:clients:write: %d, want 403", status)
	}
	if status, _ := r.postMultipart(t, "/t/acme/console/import/confirm", url.Values{"package_json": {importPackage}}, nil); status != http.StatusForbidden {
		t.Fatalf("import without clavis:clients:write: %d, want 403", status)
	}
}

func TestImportRefusesBadPackages(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	orders := h.registerJSON(t, "acme", `{"type":"m2m","client_name":"Orders","code":"urn:acme/orders"}`)
	a := h.signIn(t, "acme", "alice")

	cases := []struct {
		name  string
		path  string
		form  url.Values
		file  []byte
		want  string
		codeS int
	}{
		{name: "malformed JSON", path: "import", form: url.Values{"package_json": {`{"format": "clavis.clients/v1", "clients": [`}}, want: "not valid JSON"},
		{name: "malformed JSON confirmed", path: "import/confirm", form: url.Values{"package_json": {`{"format":`}}, want: "not valid JSON"},
		{name: "wrong shape", path: "import", form: url.Values{"package_json": {`"clients"`}}, want: "expected a clavis.clients/v1 package"},
		{name: "another format", path: "import", form: url.Values{"package_json": {`{"format":"other/v9","clients":[]}`}}, want: "format must be"},
		{name: "unknown member", path: "import/confirm", form: url.Values{"package_json": {`{"format":"clavis.clients/v1","clients":[],"extra":1}`}}, want: "unknown field"},
		{name: "invalid client", path: "import/confirm",
			form: url.Values{"package_json": {`{"format":"clavis.clients/v1","clients":[{"settings":{"type":"m2m","client_name":"Renamed","code":"urn:acme/orders"}},{"settings":{"type":"public","client_name":"X","code":"urn:acme/x","redirect_uris":["not a uri"]}}]}`}},
			want: "clients[1].redirect_uris"},
		{name: "nothing", path: "import", form: url.Values{"package_json": {"  "}}, want: "Choose a package file"},
		{name: "both", path: "import", form: url.Values{"package_json": {importPackage}}, file: []byte(importPackage), want: "not both"},
		{name: "too large", path: "import", file: append([]byte(`{"format":"clavis.clients/v1","clients":[]}`), bytes.Repeat([]byte(" "), 600<<10)...), want: "at most 512 KiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := a.postMultipart(t, "/t/acme/console/"+c.path, c.form, c.file)
			if status != http.StatusUnprocessableEntity {
				t.Fatalf("%d, want 422: %s", status, excerpt(body))
			}
			mustContain(t, body, `id="errors"`, c.want)
		})
	}
	// Nothing changed: orders keeps its name and is alone with the
	// platform's clients.
	got, err := h.node.Admin.ReadModel.Client(context.Background(), "acme", orders.ClientID)
	if err != nil || got.Settings.ClientName != "Orders" || got.Version != orders.Version {
		t.Fatalf("a refused import changed orders: %+v %v", got, err)
	}
	if _, ok := h.clientByCode(t, "acme", "urn:acme/x"); ok {
		t.Fatal("a refused import created a client")
	}
	// A field the form does not have is a bad request.
	if status, _ := a.postMultipart(t, "/t/acme/console/import", url.Values{"package_json": {importPackage}, "dry_run": {"false"}}, nil); status != http.StatusBadRequest {
		t.Fatalf("an unknown field: %d, want 400", status)
	}
}
