package console_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// register registers a client of tenant slug with s, as the operator,
// and waits until the read model has it.
func (h *harness) register(t *testing.T, slug string, s client.Settings) tenants.ClientResult {
	t.Helper()
	res, err := h.node.Admin.Clients.Register(context.Background(), rootRequest, slug, s)
	if err != nil {
		t.Fatalf("register %s in %s: %v", s.Code, slug, err)
	}
	if err := h.node.Projector.WaitFor(context.Background(), res.Position); err != nil {
		t.Fatalf("wait for %s: %v", s.Code, err)
	}
	return res
}

// m2m is the settings of a machine-to-machine client named name with
// code code: it authenticates with a secret.
func m2m(name, code string) client.Settings {
	s := client.DefaultSettings(client.TypeM2M)
	s.ClientName, s.Code = name, code
	return s
}

// public is the settings of a public client named name with code code:
// it holds no secret.
func public(name, code string) client.Settings {
	s := client.DefaultSettings(client.TypePublic)
	s.ClientName, s.Code = name, code
	s.RedirectURIs = []string{"https://app.example.com/callback"}
	return s
}

// readClient is client id of tenant slug in the read model.
func (h *harness) readClient(t *testing.T, slug, id string) projections.ClientView {
	t.Helper()
	v, err := h.node.Admin.ReadModel.Client(context.Background(), slug, id)
	if err != nil {
		t.Fatalf("read client %s: %v", id, err)
	}
	return v
}

// lastEvent is the newest event of client id's history.
func (h *harness) lastEvent(t *testing.T, slug, id string) tenants.HistoryEntry {
	t.Helper()
	list, err := h.node.Admin.Clients.History(context.Background(), slug, id)
	if err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	return list[len(list)-1]
}

// wantEvent fails t unless the newest event of client id is of type typ,
// by user:alice, for reason.
func (h *harness) wantEvent(t *testing.T, slug, id, typ, reason string) {
	t.Helper()
	e := h.lastEvent(t, slug, id)
	if e.Type != typ || e.Actor != "user:alice" || e.Reason != reason {
		t.Fatalf("last event of %s: %s by %q for %q, want %s by user:alice for %q", id, e.Type, e.Actor, e.Reason, typ, reason)
	}
}

var shownSecret = regexp.MustCompile(`id="secret" type="text" readonly value="([^"]+)"`)

// secretOn is the secret the page shows once.
func secretOn(t *testing.T, body string) string {
	t.Helper()
	m := shownSecret.FindStringSubmatch(body)
	if m == nil || !strings.HasPrefix(m[1], "cls_") {
		t.Fatalf("the page shows no new secret:\n%s", excerpt(body))
	}
	return m[1]
}

// mustNotContain fails t when body contains any of unwanted.
func mustNotContain(t *testing.T, body string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(body, u) {
			t.Fatalf("the page has %q:\n%s", u, excerpt(body))
		}
	}
}

// wantStatus fails t unless status is want.
func wantStatus(t *testing.T, status, want int, body string) {
	t.Helper()
	if status != want {
		t.Fatalf("status %d, want %d:\n%s", status, want, excerpt(body))
	}
}

// postOnce posts form to path with the session's CSRF token without
// following a redirect, and returns the status and the Location.
func (a *agent) postOnce(t *testing.T, path string, form url.Values) (int, string) {
	t.Helper()
	f := url.Values{"_csrf": {a.csrf}}
	for k, v := range form {
		f[k] = v
	}
	c := *a.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.PostForm(a.h.url+path, f)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location")
}

// clientCredentials asks tenant slug's token endpoint for a token with
// the client_credentials grant, as client id with secret, and returns
// the status.
func (h *harness) clientCredentials(t *testing.T, slug, id, secret string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/t/"+slug+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("token endpoint: %v", err)
	}
	res.Body.Close()
	return res.StatusCode
}

const xss = `<script>alert("x")</script>`

func TestClientPageShowsEverySetting(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	s := m2m("Orders "+xss, "urn:acme/orders")
	s.Description = "Takes orders " + xss
	s.Metadata = map[string]string{"team": "billing"}
	c := h.register(t, "acme", s).Client
	a := h.signIn(t, "acme", "alice")
	base := "/t/acme/console/clients/" + c.ClientID

	status, body := a.get(t, base)
	wantStatus(t, status, http.StatusOK, body)
	mustNotContain(t, body, xss, c.Secrets[0].Hash)
	mustContain(t, body, html.EscapeString(s.Description), "<h1>Orders &lt;script&gt;",
		"Basics", "URIs", "Grants and flows", "Tokens and lifetimes", "Scopes and permissions", "Claims", "Advanced",
		"<dd>—</dd>", "team = billing", "3600 s (1 h)", c.Secrets[0].ID, "Active: the client can get tokens.",
		`href="`+base+`/edit"`, `href="`+base+`/history"`, `action="`+base+`/secrets"`, `action="`+base+`/secrets/rotate"`,
		`action="`+base+`/secrets/`+c.Secrets[0].ID+`/revoke"`, `action="`+base+`/deactivate"`)
	typ := reflect.TypeFor[client.Settings]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		mustContain(t, body, "<code>"+name+"</code>")
	}

	t.Run("flash", func(t *testing.T) {
		_, body := a.get(t, base+"?done=deactivated")
		mustContain(t, body, `<p class="flash" role="status">The client was deactivated`)
		_, body = a.get(t, base+"?done="+url.QueryEscape(xss))
		mustNotContain(t, body, `class="flash"`, xss)
		status, body := a.get(t, base+"?other=1")
		wantStatus(t, status, http.StatusBadRequest, body)
	})

	t.Run("a public client has no secret forms", func(t *testing.T) {
		p := h.register(t, "acme", public("SPA", "urn:acme/spa")).Client
		_, body := a.get(t, "/t/acme/console/clients/"+p.ClientID)
		mustContain(t, body, "A public client cannot keep a secret")
		mustNotContain(t, body, "/secrets\"", "/secrets/rotate", "Add a secret")
	})

	t.Run("a platform client is marked", func(t *testing.T) {
		list, _, err := h.node.Admin.ReadModel.Clients(context.Background(), "acme", projections.ClientFilter{Search: tenants.AdminClientCode, Limit: 10})
		if err != nil || len(list) == 0 {
			t.Fatalf("the admin client: %v %v", list, err)
		}
		_, body := a.get(t, "/t/acme/console/clients/"+list[0].ClientID)
		mustContain(t, body, "The platform manages this client")
	})
}

func TestClientSecrets(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")

	t.Run("added and shown once", func(t *testing.T) {
		c := h.register(t, "acme", m2m("Billing", "urn:acme/billing")).Client
		base := "/t/acme/console/clients/" + c.ClientID
		desc := `deploy key <img src=x onerror=alert(1)>`
		status, body := a.post(t, base+"/secrets", url.Values{"description": {desc}, "expires_in_days": {"30"}, "reason": {"for the " + xss + " deploy"}})
		wantStatus(t, status, http.StatusOK, body)
		value := secretOn(t, body)
		mustContain(t, body, `data-copy="secret"`, "shown only this once", "A secret was added.")
		if a.last != h.url+base+"/secrets" {
			t.Fatalf("the secret's page is %s, want the POST's own answer", a.last)
		}
		v := h.readClient(t, "acme", c.ClientID)
		if len(v.Secrets) != 2 {
			t.Fatalf("%d secrets after adding one to one, want 2", len(v.Secrets))
		}
		added := v.Secrets[1]
		want := time.Now().Add(30 * 24 * time.Hour)
		if added.Description != desc || added.ExpiresAt == nil || added.ExpiresAt.Sub(want).Abs() > time.Minute {
			t.Fatalf("the secret added: %+v, want %q expiring at about %s", added, desc, want)
		}
		h.wantEvent(t, "acme", c.ClientID, client.EventTypeSecretAdded, "for the "+xss+" deploy")
		if status := h.clientCredentials(t, "acme", c.ClientID, value); status != http.StatusOK {
			t.Fatalf("the secret shown does not authenticate the client: token endpoint %d", status)
		}

		_, body = a.get(t, base)
		mustNotContain(t, body, value, desc, added.Hash)
		mustContain(t, body, html.EscapeString(desc), added.ID)
	})

	t.Run("a bad expiry is refused next to its field", func(t *testing.T) {
		c := h.register(t, "acme", m2m("Expiry", "urn:acme/expiry")).Client
		base := "/t/acme/console/clients/" + c.ClientID
		for _, form := range []url.Values{
			{"expires_in_days": {"0"}},
			{"expires_in_days": {"3"}, "expires_at": {"2030-01-01T00:00"}},
			{"expires_at": {"2001-01-01T00:00"}},
		} {
			status, body := a.post(t, base+"/secrets", form)
			wantStatus(t, status, http.StatusUnprocessableEntity, body)
			mustContain(t, body, `class="field-error" id="secret-expires-`, `aria-invalid="true"`, `id="errors"`)
			mustNotContain(t, body, `id="secret" type="text"`)
		}
		if n := len(h.readClient(t, "acme", c.ClientID).Secrets); n != 1 {
			t.Fatalf("%d secrets after refused additions, want 1", n)
		}
	})

	t.Run("rotated with an overlap", func(t *testing.T) {
		c := h.register(t, "acme", m2m("Shipping", "urn:acme/shipping")).Client
		base := "/t/acme/console/clients/" + c.ClientID
		old := c.Secrets[0].ID
		status, body := a.post(t, base+"/secrets/rotate", url.Values{"overlap": {"2"}, "reason": {"yearly rotation"}})
		wantStatus(t, status, http.StatusOK, body)
		value := secretOn(t, body)
		v := h.readClient(t, "acme", c.ClientID)
		if len(v.Secrets) != 2 {
			t.Fatalf("%d secrets after a rotation, want 2", len(v.Secrets))
		}
		for _, s := range v.Secrets {
			switch {
			case s.ID == old && (s.ExpiresAt == nil || s.ExpiresAt.Sub(time.Now().Add(2*time.Hour)).Abs() > time.Minute):
				t.Fatalf("the old secret expires at %v, want in 2 hours", s.ExpiresAt)
			case s.ID != old && s.ExpiresAt != nil:
				t.Fatalf("the new secret expires at %v, want never", s.ExpiresAt)
			}
		}
		h.wantEvent(t, "acme", c.ClientID, client.EventTypeSecretRotated, "yearly rotation")
		_, body = a.get(t, base)
		mustNotContain(t, body, value)

		status, body = a.post(t, base+"/secrets/rotate", url.Values{"overlap": {"-1"}})
		wantStatus(t, status, http.StatusUnprocessableEntity, body)
		mustContain(t, body, `id="overlap-error"`, `value="-1"`)

		t.Run("revoked", func(t *testing.T) {
			status, body := a.post(t, base+"/secrets/"+old+"/revoke", url.Values{"reason": {"rotated out"}})
			wantStatus(t, status, http.StatusOK, body)
			if a.last != h.url+base+"?done=secret_revoked" {
				t.Fatalf("after revoking: %s", a.last)
			}
			mustContain(t, body, "The secret was revoked")
			mustNotContain(t, body, old)
			v := h.readClient(t, "acme", c.ClientID)
			if len(v.Secrets) != 1 || v.Secrets[0].ID == old {
				t.Fatalf("secrets after revoking %s: %+v", old, v.Secrets)
			}
			h.wantEvent(t, "acme", c.ClientID, client.EventTypeSecretRevoked, "rotated out")

			// The last secret cannot go: the page says why.
			last := v.Secrets[0].ID
			status, body = a.post(t, base+"/secrets/"+last+"/revoke", nil)
			wantStatus(t, status, http.StatusConflict, body)
			mustContain(t, body, `id="refusal"`, "Rotate it instead")
			if n := len(h.readClient(t, "acme", c.ClientID).Secrets); n != 1 {
				t.Fatalf("%d secrets after a refused revocation, want 1", n)
			}
			status, body = a.post(t, base+"/secrets/sec_nosuch/revoke", nil)
			wantStatus(t, status, http.StatusNotFound, body)
		})
	})

	t.Run("unknown fields are refused", func(t *testing.T) {
		c := h.register(t, "acme", m2m("Fields", "urn:acme/fields")).Client
		status, body := a.post(t, "/t/acme/console/clients/"+c.ClientID+"/secrets", url.Values{"value": {"cls_mine"}})
		wantStatus(t, status, http.StatusBadRequest, body)
		if n := len(h.readClient(t, "acme", c.ClientID).Secrets); n != 1 {
			t.Fatalf("%d secrets after a refused form, want 1", n)
		}
	})
}

func TestClientDeactivateAndActivate(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	c := h.register(t, "acme", m2m("Reports", "urn:acme/reports")).Client
	a := h.signIn(t, "acme", "alice")
	base := "/t/acme/console/clients/" + c.ClientID

	status, body := a.post(t, base+"/deactivate", url.Values{"reason": {"  "}})
	wantStatus(t, status, http.StatusUnprocessableEntity, body)
	mustContain(t, body, `id="deactivate-reason-error"`, `aria-describedby="deactivate-reason-error"`)
	if !h.readClient(t, "acme", c.ClientID).Active {
		t.Fatal("deactivated without a reason")
	}

	reason := "leaked " + xss
	status, body = a.post(t, base+"/deactivate", url.Values{"reason": {reason}})
	wantStatus(t, status, http.StatusOK, body)
	if a.last != h.url+base+"?done=deactivated" {
		t.Fatalf("after deactivating: %s", a.last)
	}
	mustNotContain(t, body, xss)
	mustContain(t, body, "The client was deactivated", html.EscapeString(reason), `action="`+base+`/activate"`)
	v := h.readClient(t, "acme", c.ClientID)
	if v.Active || v.DeactivationReason != reason {
		t.Fatalf("after deactivating: active %v, reason %q", v.Active, v.DeactivationReason)
	}
	h.wantEvent(t, "acme", c.ClientID, client.EventTypeDeactivated, reason)

	status, body = a.post(t, base+"/activate", url.Values{"reason": {"fixed"}})
	wantStatus(t, status, http.StatusOK, body)
	mustContain(t, body, "The client was activated", "Active: the client can get tokens.")
	if !h.readClient(t, "acme", c.ClientID).Active {
		t.Fatal("not active after activating")
	}
	h.wantEvent(t, "acme", c.ClientID, client.EventTypeActivated, "fixed")

	// Activating an active client changes nothing, and says so.
	_, body = a.post(t, base+"/activate", nil)
	mustContain(t, body, "Nothing changed")
}

func TestClientClone(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	src := h.register(t, "acme", m2m("Orders", "urn:acme/orders")).Client
	a := h.signIn(t, "acme", "alice")
	base := "/t/acme/console/clients/" + src.ClientID

	status, body := a.get(t, base+"/clone")
	wantStatus(t, status, http.StatusOK, body)
	mustContain(t, body, `value="Copy of Orders"`, `id="reason"`)

	status, body = a.post(t, base+"/clone", url.Values{"client_name": {"Orders " + xss}, "code": {"urn:acme/orders"}})
	wantStatus(t, status, http.StatusUnprocessableEntity, body)
	mustContain(t, body, `id="code-error"`, "taken")
	mustNotContain(t, body, xss)

	status, body = a.post(t, base+"/clone", url.Values{"client_name": {"Orders EU"}, "code": {"urn:acme/orders-eu"}, "reason": {"a region"}})
	wantStatus(t, status, http.StatusOK, body)
	value := secretOn(t, body)
	list, _, err := h.node.Admin.ReadModel.Clients(context.Background(), "acme", projections.ClientFilter{Search: "urn:acme/orders-eu", Limit: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("the copy: %v %v", list, err)
	}
	cp := list[0]
	if cp.ClonedFrom != src.ClientID || cp.Settings.ClientName != "Orders EU" || len(cp.Secrets) != 1 {
		t.Fatalf("the copy: %+v", cp)
	}
	h.wantEvent(t, "acme", cp.ClientID, client.EventTypeRegistered, "a region")
	_, body = a.get(t, "/t/acme/console/clients/"+cp.ClientID)
	mustNotContain(t, body, value)
	mustContain(t, body, `href="`+base+`"`)

	t.Run("a client without a secret", func(t *testing.T) {
		p := h.register(t, "acme", public("SPA", "urn:acme/spa")).Client
		status, body := a.post(t, "/t/acme/console/clients/"+p.ClientID+"/clone", url.Values{"client_name": {"SPA 2"}, "code": {"urn:acme/spa-2"}})
		wantStatus(t, status, http.StatusOK, body)
		mustContain(t, body, "The client was cloned", "SPA 2")
		mustNotContain(t, body, `id="secret" type="text"`)
		if !strings.Contains(a.last, "/t/acme/console/clients/") || !strings.HasSuffix(a.last, "?done=cloned") || strings.Contains(a.last, p.ClientID) {
			t.Fatalf("after cloning: %s, want the copy's page", a.last)
		}
	})
}

func TestClientDelete(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	c := h.register(t, "acme", m2m("Legacy <i>", "urn:acme/legacy")).Client
	a := h.signIn(t, "acme", "alice")
	base := "/t/acme/console/clients/" + c.ClientID

	status, body := a.get(t, base+"/delete")
	wantStatus(t, status, http.StatusOK, body)
	mustContain(t, body, `data-confirm-value="Legacy &lt;i&gt;"`, `id="confirm"`, `id="reason"`)

	for _, typed := range []string{"", "Legacy", "legacy <i>", c.ClientID} {
		status, body = a.post(t, base+"/delete", url.Values{"confirm": {typed}})
		wantStatus(t, status, http.StatusUnprocessableEntity, body)
		mustContain(t, body, `id="confirm-error"`)
	}
	if _, err := h.node.Admin.Clients.Get(context.Background(), "acme", c.ClientID); err != nil {
		t.Fatalf("a wrong confirmation deleted the client: %v", err)
	}

	status, location := a.postOnce(t, base+"/delete", url.Values{"confirm": {"Legacy <i>"}, "reason": {"retired"}})
	if status != http.StatusSeeOther || location != "/t/acme/console/clients?done=deleted" {
		t.Fatalf("after deleting: %d to %q, want 303 to the list", status, location)
	}
	if _, err := h.node.Admin.Clients.Get(context.Background(), "acme", c.ClientID); !errors.Is(err, domain.ErrDeleted) {
		t.Fatalf("after deleting, the client: %v", err)
	}
	h.wantEvent(t, "acme", c.ClientID, client.EventTypeDeleted, "retired")
	status, body = a.get(t, base)
	wantStatus(t, status, http.StatusNotFound, body)
	status, body = a.get(t, location)
	wantStatus(t, status, http.StatusOK, body)
	mustContain(t, body, "The client was deleted.")
}

func TestClientPlatformRefusal(t *testing.T) {
	t.Parallel()
	h := start(t)
	created := h.tenant(t, "acme")
	// Without clavis:admin, alice cannot touch the admin client, which
	// has it: the domain refuses and the page says so.
	a := h.signIn(t, "acme", "alice", scope.ClientsRead, scope.ClientsWrite)
	base := "/t/acme/console/clients/" + created.AdminClient.ClientID
	status, body := a.post(t, base+"/delete", url.Values{"confirm": {created.AdminClient.Settings.ClientName}})
	wantStatus(t, status, http.StatusForbidden, body)
	mustContain(t, body, `id="refusal"`, scope.Admin, "Nothing was deleted")
	status, body = a.post(t, base+"/deactivate", url.Values{"reason": {"try"}})
	wantStatus(t, status, http.StatusForbidden, body)
	mustContain(t, body, `id="refusal"`, scope.Admin)
	if v := h.readClient(t, "acme", created.AdminClient.ClientID); !v.Active {
		t.Fatal("the admin client was deactivated")
	}
}

func TestClientPageReadOnly(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	c := h.register(t, "acme", m2m("Orders", "urn:acme/orders")).Client
	a := h.signIn(t, "acme", "alice", scope.ClientsRead)
	base := "/t/acme/console/clients/" + c.ClientID

	status, body := a.get(t, base)
	wantStatus(t, status, http.StatusOK, body)
	mustContain(t, body, c.Secrets[0].ID, `href="`+base+`/history"`)
	mustNotContain(t, body, "Add a secret", "Rotate the secret", ">Revoke<", "Deactivate", "/edit", "/clone", "/delete")

	for _, path := range []string{"/secrets", "/secrets/rotate", "/secrets/" + c.Secrets[0].ID + "/revoke", "/deactivate", "/activate", "/clone", "/delete"} {
		status, body := a.post(t, base+path, url.Values{"reason": {"because"}, "confirm": {"Orders"}, "client_name": {"X"}, "code": {"urn:acme/x"}})
		if status != http.StatusForbidden {
			t.Fatalf("POST %s as a reader: %d, want 403:\n%s", path, status, excerpt(body))
		}
	}
	for _, path := range []string{"/clone", "/delete"} {
		status, body := a.get(t, base+path)
		wantStatus(t, status, http.StatusForbidden, body)
	}
	if v := h.readClient(t, "acme", c.ClientID); v.Version != c.Version {
		t.Fatalf("a reader's POSTs changed the client: version %d, was %d", v.Version, c.Version)
	}
}

func TestClientOfAnotherTenant(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	h.tenant(t, "globex")
	other := h.register(t, "globex", m2m("Globex orders", "urn:globex/orders")).Client
	a := h.signIn(t, "acme", "alice")
	base := "/t/acme/console/clients/" + other.ClientID

	for _, path := range []string{"", "/clone", "/delete", "/nosuch"} {
		status, body := a.get(t, base+path)
		wantStatus(t, status, http.StatusNotFound, body)
		mustNotContain(t, body, "Globex orders")
	}
	for _, path := range []string{"/secrets", "/secrets/rotate", "/secrets/" + other.Secrets[0].ID + "/revoke", "/deactivate", "/activate", "/delete", "/clone"} {
		status, body := a.post(t, base+path, url.Values{"reason": {"x"}})
		wantStatus(t, status, http.StatusNotFound, body)
	}
	if v := h.readClient(t, "globex", other.ClientID); v.Version != other.Version {
		t.Fatalf("acme's session changed globex's client: version %d, was %d", v.Version, other.Version)
	}
	status, body := a.get(t, "/t/acme/console/clients/no-such-client")
	wantStatus(t, status, http.StatusNotFound, body)
}
