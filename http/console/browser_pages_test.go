package console_test

import (
	"context"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/tenants"
)

// screenshots is where TestScreenshots writes the documentation's
// screenshots: go test ./http/console -run TestScreenshots
// -screenshots=../../docs/console (the path is relative to the package).
var screenshots = flag.String("screenshots", "", "write the console's screenshots (PNG) into this directory")

// stop is a page of the tour: its name (the screenshot's file name, for
// those documented) and the tab showing it.
type stop struct {
	name string
	b    *tab
	// shot: the page is one of the documentation's screenshots.
	shot bool
}

// tour visits every page of the tenant's and the operator's consoles,
// with a tenant holding clients with a history, calling visit on each.
func tour(t *testing.T, visit func(stop)) {
	t.Helper()
	h := start(t)
	h.tenant(t, "acme")
	h.tenant(t, "initech")
	h.tenant(t, "umbrella")
	ctx := context.Background()
	alice := tenants.Request{Actor: "user:alice", Reason: "Launch of the customer portal"}
	portal := h.seedClient(t, "acme", client.TypeConfidential, "Customer portal", "urn:acme/portal").Client
	h.seedClient(t, "acme", client.TypePublic, "Mobile app", "urn:acme/mobile")
	h.seedClient(t, "acme", client.TypeM2M, "Billing service", "urn:acme/billing")
	h.seedClient(t, "acme", client.TypePublic, "Partner dashboard", "urn:acme/partners")
	res, err := h.node.Admin.Clients.Update(ctx, alice, "acme", portal.ClientID, client.Patch{
		Description:  new("The portal where customers manage their orders."),
		RedirectURIs: new([]string{"https://portal.acme.example/callback", "https://portal.acme.example/silent"}),
	}, portal.Version)
	if err != nil {
		t.Fatalf("edit the portal: %v", err)
	}
	if err := h.node.Projector.WaitFor(ctx, res.Position); err != nil {
		t.Fatal(err)
	}
	id := portal.ClientID

	b := h.browse(t)
	b.signIn("acme", "alice")
	at := func(name, path string, status int64, shot bool) {
		t.Helper()
		b.wantStatus("open "+path, b.open(base("acme")+path), status)
		visit(stop{name: name, b: b, shot: shot})
	}
	at("clients", "clients", 200, true)
	at("clients-empty-search", "clients?q=nothing+matches", 200, false)
	at("create-form", "clients/new?type=confidential", 200, true)
	at("create-form-public", "clients/new?type=public", 200, false)
	at("create-form-m2m", "clients/new?type=m2m", 200, false)
	b.fill(map[string]string{"#client_name": "Warehouse robot", "#code": "urn:acme/robot"})
	b.wantStatus("create an m2m client", b.submit(submitWith("client_name")), 201)
	visit(stop{name: "secret-once", b: b, shot: true})
	at("client", "clients/"+id, 200, true)
	at("edit-form", "clients/"+id+"/edit", 200, false)
	b.fill(map[string]string{"#redirect_uris": "https://portal.acme.example/callback\nnot a uri"})
	b.wantStatus("save an invalid edit", b.submit(submitWith("client_name")), 422)
	visit(stop{name: "edit-form-errors", b: b, shot: false})
	at("history", "clients/"+id+"/history", 200, true)
	at("client-at", "clients/"+id+"/at?at="+url.QueryEscape(time.Now().UTC().Add(-time.Second).Format(time.RFC3339)), 200, false)
	at("clone-form", "clients/"+id+"/clone", 200, false)
	at("delete-form", "clients/"+id+"/delete", 200, false)
	at("audit", "audit", 200, true)
	at("exchange", "exchange", 200, false)
	b.fill(map[string]string{"#package_json": `{"format":"clavis.clients/v1","tenant":"acme","clients":[{"client_id":"x","active":true,"settings":{"client_name":"Imported","code":"urn:acme/imported","type":"m2m"}}]}`})
	b.wantStatus("preview an import", b.submit(`form:has(#package_json) button:not([type=button])`), 200)
	visit(stop{name: "import-preview", b: b, shot: false})
	at("settings", "settings", 200, true)
	at("webhooks", "settings/webhooks", 200, false)
	at("webhook-form", "settings/webhooks/new", 200, false)
	b.fill(map[string]string{"#url": "https://hooks.acme.example/clavis", "#types": "client.*", "#description": "Orders system"})
	b.wantStatus("create a webhook endpoint", b.submit(submitWith("url")), 200)
	visit(stop{name: "webhook-created", b: b, shot: false})
	b.wantStatus("open the webhooks", b.open(base("acme")+"settings/webhooks"), 200)
	b.wantStatus("open the webhook", b.submit(`main a[href*="/settings/webhooks/"]:not([href$="/new"])`), 200)
	visit(stop{name: "webhook", b: b, shot: false})
	at("not-found", "clients/no-such-client", 404, false)
	b.signOut()
	visit(stop{name: "signed-out", b: b, shot: false})

	r := h.browse(t)
	r.signIn("acme", "reader", "clavis:clients:read")
	r.wantStatus("open the webhooks without the power", r.open(base("acme")+"settings/webhooks"), 403)
	visit(stop{name: "forbidden", b: r, shot: false})

	o := h.browse(t)
	o.wantStatus("open the operator's console", o.open("/console/"), 200)
	visit(stop{name: "operator-sign-in", b: o, shot: false})
	o.operatorSignIn()
	o.wantStatus("open the tenants", o.open("/console/tenants"), 200)
	visit(stop{name: "operator-tenants", b: o, shot: true})
	o.wantStatus("open the new tenant form", o.open("/console/tenants/new"), 200)
	visit(stop{name: "operator-new-tenant", b: o, shot: false})
	o.fill(map[string]string{"#slug": "globex", "#name": "Globex"})
	o.wantStatus("create a tenant", o.submit(submitWith("slug")), 201)
	visit(stop{name: "operator-tenant-created", b: o, shot: false})
	o.wantStatus("open the tenant", o.open("/console/tenants/acme"), 200)
	visit(stop{name: "operator-tenant", b: o, shot: false})
}

// colorScheme makes the tab's pages use the light or the dark scheme.
func (b *tab) colorScheme(scheme string) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
	if err != nil {
		b.t.Fatalf("emulate the %s scheme: %v", scheme, err)
	}
}

// TestBrowserAccessibilityOfEveryPage runs axe-core on every page of the
// console, and its colour contrast rule in the dark scheme too.
func TestBrowserAccessibilityOfEveryPage(t *testing.T) {
	t.Parallel()
	tour(t, func(s stop) {
		// Every rule in the light scheme; in the dark one, the colours.
		if bad := s.b.axe(); len(bad) > 0 {
			t.Errorf("axe-core finds %d serious or critical violation(s) on %s (%s):\n  %s", len(bad), s.name, s.b.path(), strings.Join(bad, "\n  "))
		}
		s.b.colorScheme("dark")
		if bad := s.b.axe("color-contrast"); len(bad) > 0 {
			t.Errorf("axe-core finds %d serious or critical violation(s) on %s (%s) in the dark scheme:\n  %s", len(bad), s.name, s.b.path(), strings.Join(bad, "\n  "))
		}
		s.b.colorScheme("light")
	})
}

// TestScreenshots writes the screenshots of docs/console.md, when asked
// to with -screenshots: the main pages at a laptop's width, in the light
// scheme, as PNG.
func TestScreenshots(t *testing.T) {
	if *screenshots == "" {
		t.Skip("writes the documentation's screenshots only when given -screenshots=DIR")
	}
	if err := os.MkdirAll(*screenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	tour(t, func(s stop) {
		if !s.shot {
			return
		}
		// The first screen of the page, as a person sees it on opening it.
		png, err := chromedp.Run(s.b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot of %s: %v", s.name, err)
		}
		p := filepath.Join(*screenshots, s.name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", p, len(png))
	})
}
