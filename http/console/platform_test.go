package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// operator signs the operator in with the root token and returns the
// agent, on the tenants page.
func (h *harness) operator(t *testing.T) *agent {
	t.Helper()
	a := h.newAgent(t)
	status, body := a.postURL(t, h.url+"/console/login", url.Values{"root_token": {rootToken}})
	if status != http.StatusOK || !strings.HasSuffix(a.last, "/console/tenants") {
		t.Fatalf("operator sign-in: %d at %s %s", status, a.last, excerpt(body))
	}
	m := csrfInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("operator sign-in: no CSRF token: %s", excerpt(body))
	}
	a.csrf = m[1]
	return a
}

var (
	adminSecret   = regexp.MustCompile(`<input id="secret" type="text" readonly value="(cls_[^"]+)"`)
	adminClientID = regexp.MustCompile(`<code id="admin-client-id">([^<]+)</code>`)
)

func TestOperatorConsole(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")

	// The wrong token opens nothing.
	a := h.newAgent(t)
	status, body := a.postURL(t, h.url+"/console/login", url.Values{"root_token": {rootToken + "x"}})
	if status != http.StatusUnauthorized {
		t.Fatalf("the wrong root token: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "That is not the root token.")
	if status, _ := a.get(t, "/console/tenants"); status != http.StatusOK || !strings.HasSuffix(a.last, "/console/login") {
		t.Fatalf("after the wrong token the tenants page answers %d at %s", status, a.last)
	}

	// The right one lists the tenants, from GET /console/.
	op := h.operator(t)
	status, body = op.get(t, "/console/")
	if status != http.StatusOK || !strings.HasSuffix(op.last, "/console/tenants") {
		t.Fatalf("/console/: %d at %s", status, op.last)
	}
	mustContain(t, body, "<h1>Tenants</h1>", `href="/console/tenants/acme"`, "Acme", ">active<")

	// A new tenant: its admin client's secret is shown once.
	status, body = op.post(t, "/console/tenants/new", url.Values{"slug": {"Not A Slug"}, "name": {"Globex"}})
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("a bad slug: %d %s", status, excerpt(body))
	}
	mustContain(t, body, `id="slug-error"`, `aria-describedby="slug-error" aria-invalid="true"`)
	status, body = op.post(t, "/console/tenants/new", url.Values{"slug": {"globex"}, "name": {"Globex"}, "reason": {"new customer"}})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "shown only this once", `data-copy="secret"`, h.url+"/t/globex")
	sm, im := adminSecret.FindStringSubmatch(body), adminClientID.FindStringSubmatch(body)
	if sm == nil || im == nil {
		t.Fatalf("the admin client's id and secret are not shown:\n%s", excerpt(body))
	}
	admin, err := h.node.Admin.ReadModel.Client(context.Background(), "globex", im[1])
	if err != nil || admin.Settings.Code != "urn:clavis/admin" {
		t.Fatalf("the admin client shown: %+v %v", admin, err)
	}
	if e := h.lastTenantEvent(t, "globex"); e.Meta.Actor != "root" || e.Meta.Reason != "new customer" {
		t.Fatalf("the tenant's creation: actor %q reason %q", e.Meta.Actor, e.Meta.Reason)
	}
	if status, body = op.post(t, "/console/tenants/new", url.Values{"slug": {"globex"}, "name": {"Again"}}); status != http.StatusUnprocessableEntity {
		t.Fatalf("a taken slug: %d %s", status, excerpt(body))
	}
	mustContain(t, body, `id="slug-error"`, "is taken")

	status, body = op.get(t, "/console/tenants/globex")
	if status != http.StatusOK || strings.Contains(body, sm[1]) {
		t.Fatalf("the tenant's page: %d (shows the secret again: %v)", status, strings.Contains(body, sm[1]))
	}
	mustContain(t, body, "Tenant Globex", h.url+"/t/globex", `href="/t/globex/console/"`, ">signing<", `action="/console/tenants/globex/suspend"`)

	// Suspending needs a reason.
	status, body = op.post(t, "/console/tenants/globex/suspend", nil)
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("suspend without a reason: %d %s", status, excerpt(body))
	}
	mustContain(t, body, `id="suspend-reason-error"`)
	status, body = op.post(t, "/console/tenants/globex/suspend", url.Values{"reason": {"unpaid invoices"}})
	if status != http.StatusOK || !strings.HasSuffix(op.last, "/console/tenants/globex?done=suspended") {
		t.Fatalf("suspend: %d at %s %s", status, op.last, excerpt(body))
	}
	mustContain(t, body, ">suspended<", "unpaid invoices", `action="/console/tenants/globex/resume"`)
	v, err := h.node.Admin.ReadModel.Tenant(context.Background(), "globex")
	if err != nil || !v.Suspended || v.SuspensionReason != "unpaid invoices" {
		t.Fatalf("after suspending: %+v %v", v, err)
	}
	if e := h.lastTenantEvent(t, "globex"); e.Meta.Actor != "root" || e.Meta.Reason != "unpaid invoices" {
		t.Fatalf("the suspension: actor %q reason %q", e.Meta.Actor, e.Meta.Reason)
	}
	_, body = op.get(t, "/console/tenants")
	mustContain(t, body, `href="/console/tenants/globex"`, ">suspended<")

	status, body = op.post(t, "/console/tenants/globex/resume", url.Values{"reason": {"paid"}})
	if status != http.StatusOK || !strings.HasSuffix(op.last, "/console/tenants/globex?done=resumed") {
		t.Fatalf("resume: %d at %s %s", status, op.last, excerpt(body))
	}
	if v, _ := h.node.Admin.ReadModel.Tenant(context.Background(), "globex"); v.Suspended {
		t.Fatal("the tenant is still suspended")
	}

	// Forms without the CSRF token, unknown pages and fields are refused.
	if status, _ := op.postURL(t, h.url+"/console/tenants/globex/suspend", url.Values{"reason": {"x"}}); status != http.StatusForbidden {
		t.Fatalf("suspend without a CSRF token: %d, want 403", status)
	}
	if status, _ := op.get(t, "/console/tenants/nobody"); status != http.StatusNotFound {
		t.Fatalf("an unknown tenant: %d, want 404", status)
	}
	if status, _ := op.post(t, "/console/tenants/globex/resume", url.Values{"slug": {"acme"}}); status != http.StatusBadRequest {
		t.Fatalf("an unknown field: %d, want 400", status)
	}
}

func TestOperatorAndTenantSessionsDoNotCross(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	alice := h.signIn(t, "acme", "alice")
	op := h.operator(t)
	tenantURL, _ := url.Parse(h.url + "/t/acme/console/")
	operatorURL, _ := url.Parse(h.url + "/console/")

	// alice's session cookie, sent to the operator's console.
	b := h.newAgent(t)
	b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, ck := range alice.client.Jar.Cookies(tenantURL) {
		ck.Path = "/console/"
		b.client.Jar.SetCookies(operatorURL, []*http.Cookie{ck})
	}
	if len(b.client.Jar.Cookies(operatorURL)) == 0 {
		t.Fatal("no cookie to send")
	}
	for _, p := range []string{"/console/", "/console/tenants", "/console/tenants/acme"} {
		if status, _ := b.get(t, p); status != http.StatusSeeOther {
			t.Fatalf("a tenant's session opens %s: %d", p, status)
		}
	}
	b.csrf = alice.csrf
	if status, _ := b.post(t, "/console/tenants/acme/suspend", url.Values{"reason": {"x"}}); status != http.StatusUnauthorized {
		t.Fatalf("a tenant's session suspends a tenant: %d", status)
	}

	// The operator's session cookie, sent to acme's console.
	c := h.newAgent(t)
	c.client.CheckRedirect = b.client.CheckRedirect
	for _, ck := range op.client.Jar.Cookies(operatorURL) {
		ck.Path = "/t/acme/console/"
		c.client.Jar.SetCookies(tenantURL, []*http.Cookie{ck})
	}
	for _, p := range []string{"/t/acme/console/clients", "/t/acme/console/settings", "/t/acme/console/exchange"} {
		if status, _ := c.get(t, p); status != http.StatusSeeOther {
			t.Fatalf("the operator's session opens %s: %d", p, status)
		}
	}
	if v, _ := h.node.Admin.ReadModel.Tenant(context.Background(), "acme"); v.Suspended {
		t.Fatal("acme was suspended")
	}
}

func TestTenantNamesRenderAsText(t *testing.T) {
	t.Parallel()
	h := start(t)
	op := h.operator(t)
	const name = `<script>alert("x")</script><img src=x onerror=alert(1)>`
	status, body := op.post(t, "/console/tenants/new", url.Values{"slug": {"evil"}, "name": {name}})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, excerpt(body))
	}
	for _, p := range []string{"/console/tenants", "/console/tenants/evil"} {
		_, body := op.get(t, p)
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Fatalf("%s renders the name as markup:\n%s", p, excerpt(body))
		}
		mustContain(t, body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;")
	}
	// The suspension reason too.
	status, body = op.post(t, "/console/tenants/evil/suspend", url.Values{"reason": {"<b>bold</b>"}})
	if status != http.StatusOK || strings.Contains(body, "<b>bold</b>") {
		t.Fatalf("the suspension reason: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "&lt;b&gt;bold&lt;/b&gt;")
}
