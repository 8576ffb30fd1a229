package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/tenants"
)

// lastTenantEvent is the last event of tenant slug's stream.
func (h *harness) lastTenantEvent(t *testing.T, slug string) eventstore.Event {
	t.Helper()
	events, err := h.node.Store.ReadStream(context.Background(), tenants.TenantStream(slug), 0)
	if err != nil || len(events) == 0 {
		t.Fatalf("events of tenant %s: %v (%d)", slug, err, len(events))
	}
	return events[len(events)-1]
}

func TestSettingsLoginApp(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	r := h.signIn(t, "acme", "rita", "clavis:clients:read")

	status, body := a.get(t, "/t/acme/console/settings")
	if status != http.StatusOK {
		t.Fatalf("settings: %d %s", status, excerpt(body))
	}
	v, err := h.node.Admin.ReadModel.Tenant(context.Background(), "acme")
	if err != nil || len(v.Keys) == 0 || len(v.AuditKeys) == 0 {
		t.Fatalf("tenant acme: %+v %v", v, err)
	}
	mustContain(t, body, `action="/t/acme/console/settings/login-app"`, `<label for="login_url">`,
		v.Keys[0].KID, v.Keys[0].Alg, ">signing<", v.AuditKeys[len(v.AuditKeys)-1].Name,
		h.url+"/t/acme/jwks.json", h.url+"/t/acme/.well-known/openid-configuration", `href="/t/acme/console/settings/webhooks"`)

	// A bad URL: the domain's error next to the field, nothing saved.
	status, body = a.post(t, "/t/acme/console/settings/login-app", url.Values{"login_url": {"http://login.example.com/"}})
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("bad login URL: %d %s", status, excerpt(body))
	}
	mustContain(t, body, `id="errors"`, `<p class="field-error" id="login_url-error">`, `aria-describedby="login_url-error" aria-invalid="true"`,
		`value="http://login.example.com/"`)
	if v, _ := h.node.Admin.ReadModel.Tenant(context.Background(), "acme"); v.LoginURL != "" {
		t.Fatalf("a bad login URL was saved: %q", v.LoginURL)
	}

	// A good one is saved, by alice, with her reason.
	status, body = a.post(t, "/t/acme/console/settings/login-app", url.Values{"login_url": {"https://login.acme.example/sign-in"}, "reason": {"our own login page"}})
	if status != http.StatusOK || !strings.HasSuffix(a.last, "/t/acme/console/settings?done=login-app") {
		t.Fatalf("good login URL: %d at %s %s", status, a.last, excerpt(body))
	}
	mustContain(t, body, "The login application URL is saved.", `value="https://login.acme.example/sign-in"`)
	if v, _ := h.node.Admin.ReadModel.Tenant(context.Background(), "acme"); v.LoginURL != "https://login.acme.example/sign-in" {
		t.Fatalf("login URL %q, want the one saved", v.LoginURL)
	}
	if e := h.lastTenantEvent(t, "acme"); e.Meta.Actor != "user:alice" || e.Meta.Reason != "our own login page" {
		t.Fatalf("the login URL's event: actor %q reason %q", e.Meta.Actor, e.Meta.Reason)
	}

	// A person who may only read sees the URL and cannot change it.
	status, body = r.get(t, "/t/acme/console/settings")
	if status != http.StatusOK || strings.Contains(body, `action="/t/acme/console/settings/login-app"`) {
		t.Fatalf("read-only settings: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "https://login.acme.example/sign-in")
	if status, _ := r.post(t, "/t/acme/console/settings/login-app", url.Values{"login_url": {""}}); status != http.StatusForbidden {
		t.Fatalf("login URL by a reader: %d, want 403", status)
	}
	if v, _ := h.node.Admin.ReadModel.Tenant(context.Background(), "acme"); v.LoginURL == "" {
		t.Fatal("a reader cleared the login URL")
	}
	// An unknown field and an unknown parameter are bad requests.
	if status, _ := a.post(t, "/t/acme/console/settings/login-app", url.Values{"login_url": {""}, "tenant": {"other"}}); status != http.StatusBadRequest {
		t.Fatalf("an unknown field: %d, want 400", status)
	}
	if status, _ := a.get(t, "/t/acme/console/settings?x=1"); status != http.StatusBadRequest {
		t.Fatalf("an unknown parameter: %d, want 400", status)
	}
}

func TestKeyRotationNeedsAdminAsAtTheAPI(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	admin := h.signIn(t, "acme", "alice")
	writer := h.signIn(t, "acme", "carol", "clavis:clients:read", "clavis:clients:write")
	before, err := h.node.Admin.ReadModel.Tenant(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}

	// As at the admin API (POST /t/{tenant}/admin/keys/rotate), a client
	// writer may not rotate: no form, and a forged post is refused.
	_, body := writer.get(t, "/t/acme/console/settings")
	if strings.Contains(body, "settings/keys/rotate") {
		t.Fatalf("a client writer's settings offer a key rotation:\n%s", excerpt(body))
	}
	status, body := writer.post(t, "/t/acme/console/settings/keys/rotate", url.Values{"alg": {"RS256"}, "lead_seconds": {"0"}})
	if status != http.StatusForbidden {
		t.Fatalf("rotation by a client writer: %d, want 403: %s", status, excerpt(body))
	}
	if v, _ := h.node.Admin.ReadModel.Tenant(context.Background(), "acme"); len(v.Keys) != len(before.Keys) {
		t.Fatalf("a refused rotation added a key: %d keys, had %d", len(v.Keys), len(before.Keys))
	}
	// An administrator rotates from the settings page, as user:alice.
	_, body = admin.get(t, "/t/acme/console/settings")
	mustContain(t, body, "settings/keys/rotate")
	status, body = admin.post(t, "/t/acme/console/settings/keys/rotate", url.Values{"alg": {"ES256"}, "lead_seconds": {"0"}, "reason": {"tenant's own rotation"}})
	if status != http.StatusOK || !strings.HasSuffix(admin.last, "/t/acme/console/settings?done=rotated") {
		t.Fatalf("rotation by an administrator: %d at %s %s", status, admin.last, excerpt(body))
	}
	if e := h.lastTenantEvent(t, "acme"); e.Meta.Actor != "user:alice" || e.Meta.Reason != "tenant's own rotation" {
		t.Fatalf("the rotation's event: actor %q reason %q", e.Meta.Actor, e.Meta.Reason)
	}
	before, err = h.node.Admin.ReadModel.Tenant(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}

	// The operator rotates from the tenant's page; a bad lead time is
	// the form's error.
	op := h.operator(t)
	status, body = op.post(t, "/console/tenants/acme/rotate-key", url.Values{"alg": {"RS256"}, "lead_seconds": {"90000"}})
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("rotation with a lead of 25 h: %d %s", status, excerpt(body))
	}
	mustContain(t, body, `id="lead_seconds-error"`, `aria-describedby="lead_seconds-error" aria-invalid="true"`)
	status, body = op.post(t, "/console/tenants/acme/rotate-key", url.Values{"alg": {"RS256"}, "lead_seconds": {"0"}, "reason": {"yearly rotation"}})
	if status != http.StatusOK || !strings.HasSuffix(op.last, "/console/tenants/acme?done=rotated") {
		t.Fatalf("rotation: %d at %s %s", status, op.last, excerpt(body))
	}
	after, err := h.node.Admin.ReadModel.Tenant(context.Background(), "acme")
	if err != nil || len(after.Keys) != len(before.Keys)+1 || after.Keys[len(after.Keys)-1].Alg != "RS256" {
		t.Fatalf("after the rotation: %+v %v", after.Keys, err)
	}
	if e := h.lastTenantEvent(t, "acme"); e.Meta.Actor != "root" || e.Meta.Reason != "yearly rotation" {
		t.Fatalf("the rotation's event: actor %q reason %q", e.Meta.Actor, e.Meta.Reason)
	}
	// The tenant's settings show the new key signing and the old one
	// retired.
	_, body = admin.get(t, "/t/acme/console/settings")
	mustContain(t, body, after.Keys[len(after.Keys)-1].KID, "RS256", ">retired<", before.Keys[0].KID)
}
