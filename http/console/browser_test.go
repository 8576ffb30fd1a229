package console_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// The console in a real browser: what a person does, click by click,
// against a whole node. The pages' URLs, field names and ids are the
// console's contract (see docs/console.md): forms are found by the URL
// they post to, inputs by their id (the field's JSON name).

// base is the path of tenant slug's console.
func base(slug string) string { return "/t/" + slug + "/console/" }

// submitOf selects the submit button of the form posting to a URL ending
// in action.
func submitOf(action string) string {
	return `form[action$="` + action + `"] button:not([type=button])`
}

// submitWith selects the submit button of the form holding the element
// of id.
func submitWith(id string) string {
	return `form:has(#` + id + `) button:not([type=button])`
}

// seedClient registers a client of type typ in tenant slug directly (as
// user:seed), for tests whose subject is not the create form, and
// returns it, with its first secret when it has one.
func (h *harness) seedClient(t *testing.T, slug string, typ client.Type, name, code string) tenants.ClientResult {
	t.Helper()
	s := client.DefaultSettings(typ)
	s.ClientName, s.Code = name, code
	if typ != client.TypeM2M {
		s.RedirectURIs = []string{"https://app.example/callback"}
	}
	res, err := h.node.Admin.Clients.Register(context.Background(), tenants.Request{Actor: "user:seed"}, slug, s)
	if err != nil {
		t.Fatalf("seed client %s: %v", code, err)
	}
	if err := h.node.Projector.WaitFor(context.Background(), res.Position); err != nil {
		t.Fatal(err)
	}
	return res
}

// clientWithCode is the client of tenant slug with code, from the read
// model.
func (h *harness) clientWithCode(t *testing.T, slug, code string) projections.ClientView {
	t.Helper()
	list, _, err := h.node.Admin.ReadModel.Clients(context.Background(), slug, projections.ClientFilter{Search: code, Limit: projections.MaxPage})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Settings.Code == code {
			return c
		}
	}
	t.Fatalf("tenant %s has no client %s", slug, code)
	return projections.ClientView{}
}

// clientNow is client id of tenant slug, from the read model.
func (h *harness) clientNow(t *testing.T, slug, id string) projections.ClientView {
	t.Helper()
	c, err := h.node.Admin.ReadModel.Client(context.Background(), slug, id)
	if err != nil {
		t.Fatalf("read client %s: %v", id, err)
	}
	return c
}

// TestBrowser runs the browser tests, in parallel, against one node as
// `clavis serve --dev-login` runs it, each in tenants of its own.
func TestBrowser(t *testing.T) {
	h := start(t)
	for _, c := range []struct {
		name string
		run  func(*testing.T, *harness)
	}{
		{"SignInAndOut", browserSignInAndOut},
		{"CreateEachTypeShowsTheSecretOnce", browserCreateEachTypeShowsTheSecretOnce},
		{"EditWithAnErrorThenFixIt", browserEditWithAnErrorThenFixIt},
		{"RotateAndRevokeASecret", browserRotateAndRevokeASecret},
		{"DeactivateWithAReason", browserDeactivateWithAReason},
		{"Clone", browserClone},
		{"ExportAndImport", browserExportAndImport},
		{"StaleEditFromTwoTabs", browserStaleEditFromTwoTabs},
		{"ReadOnlyPerson", browserReadOnlyPerson},
		{"AnotherTenantsSessionReachesNothing", browserAnotherTenantsSessionReachesNothing},
		{"FormWithoutCSRFTokenIsRefused", browserFormWithoutCSRFTokenIsRefused},
		{"XSSRendersAsText", browserXSSRendersAsText},
		{"KeyboardOnly", browserKeyboardOnly},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, h)
		})
	}
}

// freshTenant creates a tenant for test t alone, named prefix and the
// test's name, and returns its slug.
func (h *harness) freshTenant(t *testing.T, prefix string) string {
	t.Helper()
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name()[strings.LastIndexByte(t.Name(), '/')+1:], ""))
	slug := prefix + "-" + name
	if len(slug) > 63 {
		slug = strings.TrimRight(slug[:63], "-")
	}
	h.tenant(t, slug)
	return slug
}

// browserSignInAndOut signs in through the development login in a
// real browser, sees the clients, signs out, and finds the console
// closed afterwards: another tab still showing a page of the session
// gets nothing more through it.
func browserSignInAndOut(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	b := h.browse(t)
	b.signIn(acme, "alice")
	b.see("Clients", "urn:clavis/admin", "urn:clavis/console")
	if who := b.text(".who"); who != "alice" {
		t.Fatalf("the header names %q, want alice", who)
	}
	stale := b.another(t)
	stale.wantStatus("open the clients in another tab", stale.open(base(acme)+"clients"), 200)
	b.signOut()
	b.wantPath(base(acme) + "signed-out")
	// Going back shows no copy of the last page: the browser's
	// back/forward cache restores it, and the console loads it again.
	b.goBackAndWait(`input[name=subject]`)
	b.open(base(acme) + "clients")
	if !b.has(`input[name=subject]`) {
		t.Fatalf("after signing out the console still opens: %s", b.path())
	}
	stale.wantStatus("sign out again from the stale tab", stale.submit(`form.signout button[type=submit]`), 401)
	stale.see("Sign in")
	another := stale.another(t)
	another.open(base(acme) + "clients")
	if !another.has(`input[name=subject]`) {
		t.Fatalf("after signing out, a new tab opens %s, not the login page", another.path())
	}
}

// browserCreateEachTypeShowsTheSecretOnce creates a client of each
// type with the create form: the confidential and m2m clients' secrets
// appear once, on the answer to the form, and never again (not on the
// client's page, nor after a reload, nor going back).
func browserCreateEachTypeShowsTheSecretOnce(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	b := h.browse(t)
	b.signIn(acme, "alice")
	for _, typ := range []string{"public", "confidential", "m2m"} {
		code := "urn:acme/" + typ + "-app"
		b.wantStatus("open the create form for "+typ, b.open(base(acme)+"clients/new?type="+typ), 200)
		fields := map[string]string{"#client_name": "The " + typ + " app", "#code": code}
		if typ != "m2m" {
			fields["#redirect_uris"] = "https://app.example/callback"
		}
		b.fill(fields)
		status := b.submit(submitWith("client_name"))
		c := h.clientWithCode(t, acme, code)
		if c.Settings.Type != client.Type(typ) || c.Settings.ClientName != "The "+typ+" app" {
			t.Fatalf("the %s client was created as %+v", typ, c.Settings)
		}
		if typ == "public" {
			b.wantStatus("create a public client", status, 200)
			b.wantPath(base(acme) + "clients/" + c.ClientID)
			if b.has("#secret") {
				t.Fatal("a public client's page shows a secret")
			}
			b.text(".flash")
			continue
		}
		b.wantStatus("create a "+typ+" client", status, 201)
		secret := b.value("#secret")
		if !strings.HasPrefix(secret, "cls_") || len(c.Secrets) != 1 {
			t.Fatalf("the %s client's secret: %q (the client has %d secrets)", typ, secret, len(c.Secrets))
		}
		b.see("only this once")
		b.wantStatus("open the client", b.open(base(acme)+"clients/"+c.ClientID), 200)
		if strings.Contains(b.html(), secret) {
			t.Fatalf("the %s client's page shows its secret again", typ)
		}
		b.reload()
		if strings.Contains(b.html(), secret) {
			t.Fatalf("the %s client's page shows its secret again after a reload", typ)
		}
		b.back() // Chrome asks before posting again: its error page
		if strings.Contains(b.html(), secret) {
			t.Fatalf("going back to the %s client's creation shows its secret again (%s)", typ, b.path())
		}
		if n := len(h.clientWithCode(t, acme, code).Secrets); n != 1 {
			t.Fatalf("going back created secrets: the %s client has %d", typ, n)
		}
	}
}

// browserEditWithAnErrorThenFixIt saves an edit the domain refuses:
// the form comes back (422) with the error next to the field, the field
// marked invalid and described by it, and a summary on top; fixed, it
// saves and the client's page says so.
func browserEditWithAnErrorThenFixIt(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	c := h.seedClient(t, acme, client.TypeConfidential, "Billing", "urn:acme/billing").Client
	b := h.browse(t)
	b.signIn(acme, "alice")
	b.wantStatus("open the edit form", b.open(base(acme)+"clients/"+c.ClientID+"/edit"), 200)
	if v := b.value("#client_name"); v != "Billing" {
		t.Fatalf("the edit form shows the name %q", v)
	}
	b.fill(map[string]string{"#client_name": "", "#redirect_uris": "https://app.example/callback\nnot a uri"})
	b.do("skip the browser's own check of required fields", chromedp.Evaluate[chromedp.Void](
		`document.querySelectorAll("form [required]").forEach(e => e.removeAttribute("required"))`))
	b.wantStatus("save an invalid edit", b.submit(submitWith("client_name")), 422)
	if summary := b.text("#errors"); !strings.Contains(summary, "client_name") || !strings.Contains(summary, "redirect_uris[1]") {
		t.Fatalf("the summary of the errors: %q", summary)
	}
	// One textarea holds the list: its error names the line at fault.
	for _, field := range []string{"client_name", "redirect_uris"} {
		if !b.has(`[id="` + field + `-error"].field-error`) {
			t.Fatalf("no error next to %s:\n%s", field, clip(b.body()))
		}
	}
	if got := eval[string](b, `document.getElementById("client_name").getAttribute("aria-invalid") + " " + document.getElementById("client_name").getAttribute("aria-describedby")`); !strings.HasPrefix(got, "true ") || !strings.Contains(got, "client_name-error") {
		t.Fatalf("the invalid name is marked %q, want aria-invalid true and described by client_name-error", got)
	}
	if got := h.clientNow(t, acme, c.ClientID); got.Version != c.Version {
		t.Fatalf("an invalid edit changed the client: version %d → %d", c.Version, got.Version)
	}
	b.fill(map[string]string{"#client_name": "Billing service", "#redirect_uris": "https://app.example/callback\nhttps://app.example/other"})
	b.wantStatus("save the fixed edit", b.submit(submitWith("client_name")), 200)
	b.wantPath(base(acme) + "clients/" + c.ClientID)
	b.text(".flash")
	b.see("Billing service")
	got := h.clientNow(t, acme, c.ClientID)
	if got.Settings.ClientName != "Billing service" || len(got.Settings.RedirectURIs) != 2 {
		t.Fatalf("the edit saved %q %q", got.Settings.ClientName, got.Settings.RedirectURIs)
	}
}

// browserRotateAndRevokeASecret rotates a secret with an overlap
// (the new one shown once, the old one kept until the overlap ends),
// then revokes the old one.
func browserRotateAndRevokeASecret(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	seeded := h.seedClient(t, acme, client.TypeM2M, "Reports", "urn:acme/reports")
	c := seeded.Client
	b := h.browse(t)
	b.signIn(acme, "alice")
	b.wantStatus("open the client", b.open(base(acme)+"clients/"+c.ClientID), 200)
	b.see(seeded.Secret.ID)
	b.fill(map[string]string{"#overlap": "1"}) // hours
	b.wantStatus("rotate", b.submit(submitOf("/secrets/rotate")), 200)
	fresh := b.value("#secret")
	if fresh == "" || fresh == seeded.Secret.Value {
		t.Fatalf("the rotation shows the secret %q", fresh)
	}
	b.see("only this once")
	got := h.clientNow(t, acme, c.ClientID)
	if len(got.Secrets) != 2 {
		t.Fatalf("after rotating with an overlap the client has %d secrets, want the old and the new", len(got.Secrets))
	}
	for _, s := range got.Secrets {
		if s.ID == seeded.Secret.ID && s.ExpiresAt == nil {
			t.Fatal("the rotated secret does not expire")
		}
	}
	b.wantStatus("open the client", b.open(base(acme)+"clients/"+c.ClientID), 200)
	if strings.Contains(b.html(), fresh) {
		t.Fatal("the client's page shows the new secret again")
	}
	revoke := submitOf("/secrets/" + seeded.Secret.ID + "/revoke")
	if !b.has(revoke) {
		t.Fatalf("no form revokes %s:\n%s", seeded.Secret.ID, clip(b.body()))
	}
	if reason := `form[action$="/secrets/` + seeded.Secret.ID + `/revoke"] [name=reason]`; b.has(reason) {
		b.fill(map[string]string{reason: "the old one leaked"})
	}
	b.wantStatus("revoke", b.submit(revoke), 200)
	b.text(".flash")
	got = h.clientNow(t, acme, c.ClientID)
	if len(got.Secrets) != 1 || got.Secrets[0].ID == seeded.Secret.ID {
		t.Fatalf("after revoking the old secret the client has %+v", got.Secrets)
	}
	b.notSee(seeded.Secret.ID)
}

// browserDeactivateWithAReason deactivates a client with a reason,
// sees it inactive and the reason and the person in its history, then
// activates it again.
func browserDeactivateWithAReason(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	c := h.seedClient(t, acme, client.TypePublic, "Shop", "urn:acme/shop").Client
	b := h.browse(t)
	b.signIn(acme, "alice")
	b.wantStatus("open the client", b.open(base(acme)+"clients/"+c.ClientID), 200)
	const reason = "Suspected abuse, ticket 4711"
	b.do("type the reason", chromedp.SendKeys(chromedp.CSS(`form[action$="/deactivate"] [name=reason]`), reason))
	b.wantStatus("deactivate", b.submit(submitOf("/deactivate")), 200)
	b.text(".flash")
	if got := h.clientNow(t, acme, c.ClientID); got.Active || got.DeactivationReason != reason {
		t.Fatalf("after deactivating: active %v, reason %q", got.Active, got.DeactivationReason)
	}
	b.wantStatus("open the history", b.open(base(acme)+"clients/"+c.ClientID+"/history"), 200)
	b.see(reason, "alice")
	b.wantStatus("open the client", b.open(base(acme)+"clients/"+c.ClientID), 200)
	b.wantStatus("activate", b.submit(submitOf("/activate")), 200)
	if !h.clientNow(t, acme, c.ClientID).Active {
		t.Fatal("the client is still inactive")
	}
}

// browserClone clones a client under a new name and code.
func browserClone(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	c := h.seedClient(t, acme, client.TypeConfidential, "Portal", "urn:acme/portal").Client
	b := h.browse(t)
	b.signIn(acme, "alice")
	b.wantStatus("open the clone form", b.open(base(acme)+"clients/"+c.ClientID+"/clone"), 200)
	b.fill(map[string]string{"#client_name": "Portal (staging)", "#code": "urn:acme/portal-staging"})
	status := b.submit(submitWith("code"))
	clone := h.clientWithCode(t, acme, "urn:acme/portal-staging")
	if clone.ClonedFrom != c.ClientID || clone.Settings.ClientName != "Portal (staging)" ||
		strings.Join(clone.Settings.RedirectURIs, " ") != strings.Join(c.Settings.RedirectURIs, " ") {
		t.Fatalf("the clone: %+v", clone)
	}
	b.wantStatus("clone", status, 200)
	if b.has("#secret") {
		if v := b.value("#secret"); v == "" || strings.Contains(b.html(), "href=\""+v) {
			t.Fatalf("the clone's secret %q", v)
		}
	} else {
		b.wantPath(base(acme) + "clients/" + clone.ClientID)
	}
}

// browserExportAndImport downloads the export, changes a client in
// it and uploads it: the preview lists the change and changes nothing;
// confirmed, the change is made.
func browserExportAndImport(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	c := h.seedClient(t, acme, client.TypePublic, "Intranet", "urn:acme/intranet").Client
	b := h.browse(t)
	b.signIn(acme, "alice")
	b.wantStatus("open import and export", b.open(base(acme)+"exchange"), 200)
	file := b.download(chromedp.Click(chromedp.CSS(`a[href$="/export"], ` + submitOf("/export"))))
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var pkg tenants.Package
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatalf("the export is not a package: %v\n%.500s", err, raw)
	}
	if pkg.Format != tenants.PackageFormat || pkg.Tenant != acme || len(pkg.Clients) != 1 || pkg.Clients[0].ClientID != c.ClientID {
		t.Fatalf("the export: %.1000s", raw)
	}
	if strings.Contains(string(raw), "cls_") || strings.Contains(string(raw), "hash") {
		t.Fatal("the export holds secret material")
	}
	pkg.Clients[0].Settings.ClientName = "Intranet (renamed by import)"
	edited, _ := json.Marshal(pkg)
	upload := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(upload, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	b.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][name=package]`), []string{upload}))
	b.wantStatus("preview the import", b.submit(`form:has(input[name=package]) button:not([type=button])`), 200)
	b.see("urn:acme/intranet", "client_name")
	if got := h.clientNow(t, acme, c.ClientID); got.Settings.ClientName != "Intranet" {
		t.Fatalf("the preview changed the client: %q", got.Settings.ClientName)
	}
	b.wantStatus("confirm the import", b.submit(submitOf("/import/confirm")), 200)
	if got := h.clientNow(t, acme, c.ClientID); got.Settings.ClientName != "Intranet (renamed by import)" {
		t.Fatalf("the import did not change the client: %q", got.Settings.ClientName)
	}
}

// browserStaleEditFromTwoTabs opens the edit form in two tabs, saves
// one, then the other: the second is refused, and says who changed what
// in the meantime; nothing of it is saved.
func browserStaleEditFromTwoTabs(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	c := h.seedClient(t, acme, client.TypeConfidential, "CRM", "urn:acme/crm").Client
	one := h.browse(t)
	one.signIn(acme, "alice")
	two := one.another(t)
	edit := base(acme) + "clients/" + c.ClientID + "/edit"
	one.wantStatus("open the edit form", one.open(edit), 200)
	two.wantStatus("open the edit form in another tab", two.open(edit), 200)
	two.fill(map[string]string{"#description": "Edited in the second tab"})
	two.wantStatus("save in the second tab", two.submit(submitWith("client_name")), 200)
	one.fill(map[string]string{"#client_name": "CRM from the first tab"})
	one.wantStatus("save the stale form", one.submit(submitWith("client_name")), 409)
	one.see("description", "alice")
	one.checkAccessibility()
	got := h.clientNow(t, acme, c.ClientID)
	if got.Settings.ClientName != "CRM" || got.Settings.Description != "Edited in the second tab" {
		t.Fatalf("after the stale save: name %q, description %q", got.Settings.ClientName, got.Settings.Description)
	}
}

// browserReadOnlyPerson signs in a person granted only
// clavis:clients:read: the pages show no change button, and the server
// refuses the forms a script posts anyway (with a valid CSRF token).
func browserReadOnlyPerson(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	c := h.seedClient(t, acme, client.TypeConfidential, "Wiki", "urn:acme/wiki")
	b := h.browse(t)
	b.signIn(acme, "bob", "clavis:clients:read")
	id := c.Client.ClientID
	for _, p := range []string{"clients", "clients/" + id, "clients/" + id + "/history", "exchange", "settings"} {
		b.wantStatus("open "+p, b.open(base(acme)+p), 200)
		if n := b.count(`main form[method=post], main a[href$="/new"], main a[href$="/edit"], main a[href$="/clone"], main a[href$="/delete"]`); n > 0 {
			t.Fatalf("a read-only person sees %d change forms or links on %s:\n%s", n, p, clip(b.body()))
		}
		if p == "clients/"+id {
			b.checkAccessibility()
		}
	}
	for _, p := range []string{"settings/webhooks", "audit"} {
		b.wantStatus("open "+p, b.open(base(acme)+p), 403)
	}
	b.open(base(acme) + "clients/" + id)
	csrf := b.csrf()
	for _, post := range []struct {
		path   string
		fields map[string]string
	}{
		{"clients/new?type=public", map[string]string{"client_name": "Forged", "code": "urn:acme/forged", "redirect_uris": "https://evil.example/cb"}},
		{"clients/" + id + "/edit", map[string]string{"client_name": "Forged", "version": "1"}},
		{"clients/" + id + "/secrets/rotate", map[string]string{"overlap": "0s"}},
		{"clients/" + id + "/secrets/" + c.Secret.ID + "/revoke", nil},
		{"clients/" + id + "/deactivate", map[string]string{"reason": "forged"}},
		{"clients/" + id + "/clone", map[string]string{"client_name": "Forged", "code": "urn:acme/forged"}},
		{"clients/" + id + "/delete", map[string]string{"confirm": "Wiki"}},
		{"import/confirm", map[string]string{"package_json": "{}"}},
		{"settings/login-app", map[string]string{"login_url": "https://evil.example/login"}},
		{"settings/keys/rotate", nil},
	} {
		fields := map[string]string{"_csrf": csrf}
		for k, v := range post.fields {
			fields[k] = v
		}
		b.open(base(acme) + "clients/" + id)
		if got := b.forge(base(acme)+post.path, fields); got != 403 {
			t.Errorf("a read-only person's POST %s: status %d, want 403:\n%s", post.path, got, clip(b.body()))
		}
	}
	if got := h.clientNow(t, acme, id); got.Version != c.Client.Version {
		t.Fatalf("a read-only person changed the client: version %d → %d", c.Client.Version, got.Version)
	}
}

// browserAnotherTenantsSessionReachesNothing signs in to one tenant
// and tries the other's console: its pages ask to sign in, its forms are
// refused, and the other tenant's clients are not found through the
// first's console.
func browserAnotherTenantsSessionReachesNothing(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	globex := h.freshTenant(t, "globex")
	theirs := h.seedClient(t, globex, client.TypeConfidential, "Globex secret project", "urn:globex/project").Client
	b := h.browse(t)
	b.signIn(acme, "alice")
	csrf := b.csrf()
	for _, p := range []string{"clients", "clients/" + theirs.ClientID, "exchange", "settings"} {
		b.open(base(globex) + p)
		if !b.has(`input[name=subject]`) || strings.Contains(b.html(), "Globex secret project") {
			t.Fatalf("acme's session opens globex's %s: %s\n%s", p, b.path(), clip(b.body()))
		}
	}
	b.open(base(acme) + "clients")
	if got := b.forge(base(globex)+"clients/"+theirs.ClientID+"/deactivate", map[string]string{"_csrf": csrf, "reason": "x"}); got != 401 && got != 403 {
		t.Fatalf("acme's session posts to globex's console: status %d", got)
	}
	b.wantStatus("look for globex's client through acme's console", b.open(base(acme)+"clients/"+theirs.ClientID), 404)
	b.open(base(acme) + "clients?q=Globex")
	b.notSee("Globex secret project")
	if got := h.clientNow(t, globex, theirs.ClientID); !got.Active || got.Version != theirs.Version {
		t.Fatal("globex's client changed")
	}
}

// browserFormWithoutCSRFTokenIsRefused posts the page's own forms
// with the CSRF token removed, and with another session's: each is
// refused and changes nothing.
func browserFormWithoutCSRFTokenIsRefused(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	c := h.seedClient(t, acme, client.TypePublic, "Kiosk", "urn:acme/kiosk").Client
	other := h.signIn(t, acme, "mallory")
	b := h.browse(t)
	b.signIn(acme, "alice")
	for _, token := range []string{"", other.csrf} {
		b.wantStatus("open the edit form", b.open(base(acme)+"clients/"+c.ClientID+"/edit"), 200)
		b.fill(map[string]string{"#client_name": "Changed without a token"})
		b.do("replace the token", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("main form input[name=_csrf]").forEach(i => `+
			map[bool]string{true: `i.remove()`, false: `i.value = ` + jsString(token)}[token == ""]+`)`))
		b.wantStatus("save without the session's token", b.submit(submitWith("client_name")), 403)
		b.see("Form refused")
	}
	b.open(base(acme) + "clients/" + c.ClientID)
	b.fill(map[string]string{`form[action$="/deactivate"] [name=reason]`: "no token"})
	b.do("remove the token", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("input[name=_csrf]").forEach(i => i.remove())`))
	b.wantStatus("deactivate without a token", b.submit(submitOf("/deactivate")), 403)
	b.do("remove the token", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("input[name=_csrf]").forEach(i => i.remove())`))
	b.wantStatus("sign out without a token", b.submit(`form.signout button[type=submit]`), 403)
	b.checkAccessibility()
	if got := h.clientNow(t, acme, c.ClientID); got.Version != c.Version {
		t.Fatalf("a form without its token changed the client: version %d → %d", c.Version, got.Version)
	}
}

// xss are markup and script that must render as text: with the page's
// Content-Security-Policy off (this test must catch escaping alone
// failing), any of them run would open a dialog or add an element the
// test finds.
const (
	xssName   = `<img src=x id=xss1 onerror=alert(1)>"'&`
	xssScript = `<script id=xss2>alert(2)</script>`
	xssReason = `</p><svg id=xss3 onload=alert(3)>`
	xssURI    = `javascript:alert(4)//"><img src=x id=xss4 onerror=alert(4)>`
	xssTenant = `<iframe id=xss5 srcdoc="<script>parent.alert(5)</script>">`
	// Valid URIs in normal form, that break out of a quoted attribute
	// if not escaped.
	xssRedirect  = `https://app.example/cb?a='onfocus='alert(6)'&b=1`
	xssClientURI = `https://app.example/?a='onmouseover='alert(7)'`
)

// noInjection fails the test when the page holds an element an XSS
// attempt added.
func (b *tab) noInjection() {
	b.t.Helper()
	if n := b.count(`#xss1, #xss2, #xss3, #xss4, #xss5, [onfocus], [onmouseover], [onerror], [onload]`); n > 0 {
		b.t.Fatalf("%s holds %d element(s) from an XSS attempt:\n%s", b.path(), n, clip(b.html()))
	}
}

// bypassCSP turns the page's Content-Security-Policy off in the tab, so
// that only escaping stands between the attempts and a script.
func (b *tab) bypassCSP() {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}); err != nil {
		b.t.Fatalf("bypass the CSP: %v", err)
	}
}

// browserXSSRendersAsText puts markup and script in every text field
// (client name, description, redirect URIs, a reason, a search, a
// tenant's name): each shows as the text typed, and no script runs.
func browserXSSRendersAsText(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	b := h.browse(t)
	b.bypassCSP()
	b.signIn(acme, "alice")

	b.wantStatus("open the create form", b.open(base(acme)+"clients/new?type=public"), 200)
	b.fill(map[string]string{"#client_name": xssName, "#code": "urn:acme/xss", "#description": xssScript, "#redirect_uris": xssURI})
	b.wantStatus("create with a script URI", b.submit(submitWith("client_name")), 422)
	b.noInjection()
	if v := b.value("#redirect_uris"); !strings.Contains(v, xssURI) {
		t.Fatalf("the form gives back the URIs as %q", v)
	}
	if v := b.value("#client_name"); v != xssName {
		t.Fatalf("the form gives back the name as %q", v)
	}
	b.fill(map[string]string{"#redirect_uris": "https://app.example/callback\n" + xssRedirect})
	if b.has("#client_uri") {
		b.fill(map[string]string{"#client_uri": xssClientURI})
	}
	b.wantStatus("create", b.submit(submitWith("client_name")), 200)
	b.noInjection()
	b.see(xssName, xssScript, xssRedirect)
	c := h.clientWithCode(t, acme, "urn:acme/xss")

	b.wantStatus("open the list", b.open(base(acme)+"clients"), 200)
	b.noInjection()
	b.see(xssName)
	b.fill(map[string]string{"#q": xssScript})
	b.wantStatus("search", b.submit(`form[role=search] button`), 200)
	b.noInjection()
	if v := b.value("#q"); v != xssScript {
		t.Fatalf("the search box gives back %q", v)
	}

	b.wantStatus("open the client", b.open(base(acme)+"clients/"+c.ClientID), 200)
	b.fill(map[string]string{`form[action$="/deactivate"] [name=reason]`: xssReason})
	b.wantStatus("deactivate", b.submit(submitOf("/deactivate")), 200)
	b.noInjection()
	b.wantStatus("open the history", b.open(base(acme)+"clients/"+c.ClientID+"/history"), 200)
	b.noInjection()
	b.see(xssReason, xssName)

	o := h.browse(t)
	o.bypassCSP()
	o.operatorSignIn()
	o.wantStatus("open the new tenant form", o.open("/console/tenants/new"), 200)
	o.fill(map[string]string{"#slug": "xss", "#name": xssTenant})
	o.wantStatus("create the tenant", o.submit(submitWith("slug")), 201)
	o.noInjection()
	o.wantStatus("open the tenants", o.open("/console/tenants"), 200)
	o.noInjection()
	o.see(xssTenant)
	o.wantStatus("open the tenant", o.open("/console/tenants/xss"), 200)
	o.noInjection()
	o.see(xssTenant)
}

// operatorSignIn signs the operator in with the root token.
func (b *tab) operatorSignIn() {
	b.t.Helper()
	b.wantStatus("open the operator's console", b.open("/console/"), 200)
	b.wantPath("/console/login")
	b.do("type the root token", chromedp.SendKeys(chromedp.ID("root_token"), rootToken))
	b.wantStatus("sign in", b.submit(submitWith("root_token")), 200)
	b.wantPath("/console/(tenants)?")
}

// ---- keyboard only

// tabTo presses Tab until the focused element matches sel. It presses
// as many times as the page's focusable elements say it takes at once,
// then one at a time, checking, until sel has the focus.
func (b *tab) tabTo(sel string) {
	b.t.Helper()
	focused := `!!document.activeElement && document.activeElement.matches(` + jsString(sel) + `)`
	n := eval[int](b, `(() => {
		const all = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, [tabindex]')]
			.filter(e => !e.disabled && e.tabIndex >= 0 && e.getClientRects().length > 0);
		const to = all.findIndex(e => e.matches(`+jsString(sel)+`));
		return to < 0 ? 0 : to - all.indexOf(document.activeElement);
	})()`)
	if n > 1 {
		b.do("press Tab", chromedp.KeyEvent(strings.Repeat(kb.Tab, n-1)))
	}
	for range 150 {
		if eval[bool](b, focused) {
			return
		}
		b.do("press Tab", chromedp.KeyEvent(kb.Tab))
	}
	b.t.Fatalf("Tab never reaches %s on %s", sel, b.path())
}

// typeText types s into the focused element, key by key, after
// selecting what it holds (Ctrl+A), so that s replaces it.
func (b *tab) typeText(s string) {
	b.t.Helper()
	b.do("select all", chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	b.do("delete", chromedp.KeyEvent(kb.Delete))
	if s != "" {
		b.do("type "+s, chromedp.KeyEvent(s))
	}
}

// pressEnter presses Enter and returns the status of the page it leads
// to.
func (b *tab) pressEnter() int64 {
	b.t.Helper()
	return b.navigate("press Enter", chromedp.KeyEvent(kb.Enter))
}

// browserKeyboardOnly fills and submits the create and edit forms
// with the keyboard alone: Tab to each field, type, Enter.
func browserKeyboardOnly(t *testing.T, h *harness) {
	acme := h.freshTenant(t, "acme")
	b := h.browse(t)
	b.signIn(acme, "alice")

	b.wantStatus("open the create form", b.open(base(acme)+"clients/new?type=confidential"), 200)
	b.tabTo("#client_name")
	b.typeText("Typed app")
	b.tabTo("#code")
	b.typeText("urn:acme/typed")
	b.tabTo("#redirect_uris")
	b.typeText("https://typed.example/callback")
	b.tabTo(submitWith("client_name"))
	b.wantStatus("create with Enter", b.pressEnter(), 201)
	if v := b.value("#secret"); v == "" {
		t.Fatal("no secret after creating a confidential client")
	}
	c := h.clientWithCode(t, acme, "urn:acme/typed")
	if c.Settings.ClientName != "Typed app" || strings.Join(c.Settings.RedirectURIs, " ") != "https://typed.example/callback" {
		t.Fatalf("the typed client: %+v", c.Settings)
	}

	b.wantStatus("open the edit form", b.open(base(acme)+"clients/"+c.ClientID+"/edit"), 200)
	b.tabTo("#redirect_uris")
	b.typeText("not a uri")
	b.tabTo(submitWith("client_name"))
	b.wantStatus("save a bad URI with Enter", b.pressEnter(), 422)
	b.text("#errors")
	b.tabTo("#client_name")
	b.typeText("Typed app, renamed")
	b.tabTo("#description")
	b.typeText("Edited with the keyboard")
	b.tabTo("#redirect_uris")
	b.typeText("https://typed.example/callback")
	b.tabTo(submitWith("client_name"))
	b.wantStatus("save with Enter", b.pressEnter(), 200)
	b.wantPath(base(acme) + "clients/" + c.ClientID)
	got := h.clientNow(t, acme, c.ClientID)
	if got.Settings.ClientName != "Typed app, renamed" || got.Settings.Description != "Edited with the keyboard" {
		t.Fatalf("the edit saved %q, %q", got.Settings.ClientName, got.Settings.Description)
	}
}

// TestBrowserDialogsAreNoticed makes sure the check behind every browser
// test (and the XSS test's) sees a script that runs, or fails: a page's
// alert is noted, and answered so that it blocks nothing; an uncaught
// error is noted.
func TestBrowserDialogsAreNoticed(t *testing.T) {
	t.Parallel()
	b := (&harness{}).browse(t) // no node: the page is a data: URL
	b.do("open a page with a script", chromedp.Navigate(`data:text/html,<!doctype html><title>Alert</title><script>alert("ran")</script><p id=after>after</p>`))
	b.text("#after")
	deadline := time.Now().Add(10 * time.Second)
	for len(b.dialogs.list()) == 0 && time.Now().Before(deadline) {
		b.do("wait", chromedp.Sleep(50*time.Millisecond))
	}
	if seen := b.dialogs.take(); len(seen) != 1 || seen[0] != "alert: ran" {
		t.Fatalf("the dialogs noted: %q", seen)
	}
	b.do("open a page whose script fails", chromedp.Navigate(`data:text/html,<!doctype html><title>Error</title><script>noSuchFunction()</script>`))
	deadline = time.Now().Add(10 * time.Second)
	for len(b.dialogs.list()) == 0 && time.Now().Before(deadline) {
		b.do("wait", chromedp.Sleep(50*time.Millisecond))
	}
	if seen := b.dialogs.take(); len(seen) != 1 || !strings.Contains(seen[0], "noSuchFunction") {
		t.Fatalf("the script errors noted: %q", seen)
	}
}

// TestBrowserAccessibilityCheckFinds makes sure the accessibility check
// sees what it is there to see: a page with an unlabelled input and
// unreadable text breaks serious or critical rules.
func TestBrowserAccessibilityCheckFinds(t *testing.T) {
	t.Parallel()
	b := (&harness{}).browse(t) // no node: the page is a data: URL
	b.do("open a bad page", chromedp.Navigate(`data:text/html,<!doctype html><html lang="en"><title>Bad</title><main><h1>Bad</h1><input type="text"><p style="color:%23eee;background:%23fff">faint</p></main>`))
	bad := strings.Join(b.axe(), "\n")
	for _, rule := range []string{"label", "color-contrast"} {
		if !strings.Contains(bad, rule+" (") {
			t.Errorf("axe-core does not report %s on a page that breaks it; it reports:\n%s", rule, bad)
		}
	}
}
