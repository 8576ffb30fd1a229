package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/tenants"
)

// alice is the metadata of a change alice makes, for reason why.
func alice(why string) tenants.Request {
	return tenants.Request{Actor: "user:alice", Reason: why}
}

// settled waits until the read model holds the write at pos.
func (h *harness) settled(t *testing.T, pos eventstore.Position) {
	t.Helper()
	if err := h.node.Projector.WaitFor(context.Background(), pos); err != nil {
		t.Fatalf("wait for %s: %v", pos, err)
	}
}

// shop registers a public client "Shop" of tenant acme, as alice.
func (h *harness) shop(t *testing.T) tenants.ClientResult {
	t.Helper()
	s := client.DefaultSettings(client.TypePublic)
	s.ClientName, s.Code = "Shop", "urn:acme/shop"
	s.RedirectURIs = []string{"https://shop.example/cb"}
	res, err := h.node.Admin.Clients.Register(context.Background(), alice("launch of the shop"), "acme", s)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	h.settled(t, res.Position)
	return res
}

// signInAt signs subject in to tenant slug's console, starting at path
// (which the console comes back to), granting scopes at consent, and
// returns the agent and the page at path.
func (h *harness) signInAt(t *testing.T, slug, subject, path string, scopes ...string) (*agent, string) {
	t.Helper()
	a := h.newAgent(t)
	body := a.signInAt(t, path, subject, scopes...)
	if !strings.HasSuffix(a.last, path) {
		t.Fatalf("sign in: at %s, want %s: %.500s", a.last, path, body)
	}
	return a, body
}

// mustLack fails t if body contains any of unwanted.
func mustLack(t *testing.T, body string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(body, u) {
			t.Fatalf("the page has %q:\n%s", u, excerpt(body))
		}
	}
}

func TestClientHistoryShowsWhoWhenWhyAndWhat(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	ctx := context.Background()
	created := h.shop(t)
	id := created.Client.ClientID
	uris := []string{"https://shop.example/cb", "https://shop.example/cb2"}
	const xss = `<script>alert("reason")</script>`
	updated, err := h.node.Admin.Clients.Update(ctx, alice(xss), "acme", id, client.Patch{RedirectURIs: &uris}, created.Client.Version)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	off, err := h.node.Admin.Clients.Deactivate(ctx, tenants.Request{Actor: "user:bob", Reason: "paused for the audit"}, "acme", id, "paused")
	if err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	h.settled(t, off.Position)

	a := h.signIn(t, "acme", "alice")
	status, body := a.get(t, "/t/acme/console/clients/"+id+"/history")
	if status != http.StatusOK {
		t.Fatalf("history: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "<h1>History of Shop</h1>",
		"user:alice", "launch of the shop", "created", // the registration
		"settings changed", "added: https://shop.example/cb2", "<code>redirect_uris</code>", // the update, field by field
		"user:bob", "paused for the audit", "deactivated", // the deactivation
		"at?at="+created.Position.String(), "at?at="+updated.Position.String())
	// Newest first.
	if strings.Index(body, "paused for the audit") > strings.Index(body, "launch of the shop") {
		t.Fatalf("the history is not newest first:\n%s", excerpt(body))
	}
	// A reason is text, never markup.
	mustContain(t, body, `&lt;script&gt;alert(&#34;reason&#34;)&lt;/script&gt;`)
	mustLack(t, body, xss)

	for _, bad := range []string{"?before=x", "?before=0", "?nope=1", "?before=1&before=2"} {
		if status, body := a.get(t, "/t/acme/console/clients/"+id+"/history"+bad); status != http.StatusBadRequest {
			t.Errorf("history%s: %d, want 400\n%s", bad, status, excerpt(body))
		}
	}
	if status, _ := a.get(t, "/t/acme/console/clients/cl_nope/history"); status != http.StatusNotFound {
		t.Errorf("the history of no client: %d, want 404", status)
	}
}

func TestClientAsItWas(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	ctx := context.Background()
	beforeCreation := time.Now().Add(-2 * time.Second).UTC()
	created := h.shop(t)
	id := created.Client.ClientID
	uris := []string{"https://shop.example/cb", "https://shop.example/cb2"}
	updated, err := h.node.Admin.Clients.Update(ctx, alice("second callback"), "acme", id, client.Patch{RedirectURIs: &uris}, created.Client.Version)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	h.settled(t, updated.Position)
	a := h.signIn(t, "acme", "alice")
	base := "/t/acme/console/clients/" + id + "/at"

	// At the registration's position: version 1, without the second URI.
	status, body := a.get(t, base+"?at="+created.Position.String())
	if status != http.StatusOK {
		t.Fatalf("at: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "As it was at store position "+created.Position.String(), "version 1", "https://shop.example/cb", "Shop")
	mustLack(t, body, "https://shop.example/cb2")

	// Now (a time after the update): version 2, with it.
	now := time.Now().Add(time.Second).UTC()
	status, body = a.get(t, base+"?at="+url.QueryEscape(now.Format(time.RFC3339)))
	if status != http.StatusOK {
		t.Fatalf("at now: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "version 2", "https://shop.example/cb2")

	// The form's datetime-local value, in UTC.
	status, body = a.get(t, base+"?at="+now.Format("2006-01-02T15:04:05"))
	if status != http.StatusOK {
		t.Fatalf("at a datetime-local: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "version 2", `value="`+now.Format("2006-01-02T15:04:05")+`"`)

	// Before its creation: it did not exist yet.
	status, body = a.get(t, base+"?at="+url.QueryEscape(beforeCreation.Format(time.RFC3339)))
	if status != http.StatusOK {
		t.Fatalf("at before creation: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "did not exist yet", "?at="+created.Position.String())
	mustLack(t, body, "https://shop.example/cb")

	// Deleted by then.
	gone, err := h.node.Admin.Clients.Delete(ctx, alice("closed"), "acme", id)
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	h.settled(t, gone.Position)
	status, body = a.get(t, base+"?at="+gone.Position.String())
	if status != http.StatusOK {
		t.Fatalf("at deletion: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "deleted by then", "https://shop.example/cb2")
	// The history outlives the client.
	status, body = a.get(t, "/t/acme/console/clients/"+id+"/history")
	if status != http.StatusOK {
		t.Fatalf("history of a deleted client: %d", status)
	}
	mustContain(t, body, "History of Shop", "closed", ">deleted<")

	// The form alone, and what is refused.
	status, body = a.get(t, base)
	if status != http.StatusOK {
		t.Fatalf("at without an instant: %d", status)
	}
	mustContain(t, body, `<label for="at-time">`, `type="datetime-local"`, `<label for="at-position">`)
	for _, bad := range []string{"?at=yesterday", "?at=1.x", "?at=2030-01-02", "?zone=utc", "?at=1.1&at=1.2"} {
		status, body := a.get(t, base+bad)
		if status != http.StatusBadRequest {
			t.Errorf("at%s: %d, want 400\n%s", bad, status, excerpt(body))
		}
		if bad == "?at=yesterday" {
			mustContain(t, body, "RFC 3339", "store position")
		}
	}
	if status, _ := a.get(t, "/t/acme/console/clients/cl_nope/at?at="+created.Position.String()); status != http.StatusNotFound {
		t.Errorf("a client that never was: %d, want 404", status)
	}
}

func TestHistoryShowsNoSecret(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	ctx := context.Background()
	s := client.DefaultSettings(client.TypeConfidential)
	s.ClientName, s.Code = "Backend", "urn:acme/backend"
	s.RedirectURIs = []string{"https://backend.example/cb"}
	res, err := h.node.Admin.Clients.Register(ctx, alice("new backend"), "acme", s)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if res.Secret == nil {
		t.Fatal("a confidential client got no secret")
	}
	rotated, err := h.node.Admin.Clients.RotateSecret(ctx, alice("rotation"), "acme", res.Client.ClientID, time.Minute)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	h.settled(t, rotated.Position)
	var hashes []string
	for _, sv := range rotated.Client.Secrets {
		hashes = append(hashes, sv.Hash)
	}
	if len(hashes) != 2 || hashes[0] == "" {
		t.Fatalf("secrets after rotation: %+v", rotated.Client.Secrets)
	}
	a := h.signIn(t, "acme", "alice")
	_, history := a.get(t, "/t/acme/console/clients/"+res.Client.ClientID+"/history")
	mustContain(t, history, "secret rotated", "<code>secrets</code>", "changed (secret material is never shown)")
	_, now := a.get(t, "/t/acme/console/clients/"+res.Client.ClientID+"/at?at="+rotated.Position.String())
	mustContain(t, now, "version 2", rotated.Client.Secrets[1].ID)
	for _, page := range []string{history, now} {
		mustLack(t, page, append(hashes, res.Secret.Value, rotated.Secret.Value)...)
	}
}

func TestAuditLogPage(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	ctx := context.Background()
	shop := h.shop(t)
	id := shop.Client.ClientID
	const xss = `<img src=x onerror=alert(1)>`
	off, err := h.node.Admin.Clients.Deactivate(ctx, tenants.Request{Actor: "user:bob", Reason: xss}, "acme", id, "paused")
	if err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	h.settled(t, off.Position)
	a := h.signIn(t, "acme", "alice")
	if _, err := h.node.Audit.CatchUp(ctx); err != nil {
		t.Fatalf("audit catch-up: %v", err)
	}

	status, body := a.get(t, "/t/acme/console/audit")
	if status != http.StatusOK {
		t.Fatalf("audit: %d %s", status, excerpt(body))
	}
	mustContain(t, body, `href="/t/acme/console/audit" aria-current="page">Audit log`,
		"tenant created", "user:alice", "launch of the shop", "user:bob", "deactivated",
		`href="/t/acme/console/clients/`+id+`"`, "changed: active, deactivation_reason",
		`&lt;img src=x onerror=alert(1)&gt;`)
	mustLack(t, body, xss)

	// Filters: by actor, by client, by event type, by time.
	_, body = a.get(t, "/t/acme/console/audit?actor=user:bob")
	mustContain(t, body, "user:bob", "1 entry on this page")
	mustLack(t, body, "launch of the shop")
	_, body = a.get(t, "/t/acme/console/audit?client="+id)
	mustContain(t, body, "2 entries on this page", "launch of the shop", "deactivated")
	mustLack(t, body, "tenant created")
	_, body = a.get(t, "/t/acme/console/audit?type=client.registered&client="+id)
	mustContain(t, body, "1 entry on this page", "launch of the shop")
	future := time.Now().Add(time.Hour).UTC()
	_, body = a.get(t, "/t/acme/console/audit?since="+future.Format("2006-01-02T15:04"))
	mustContain(t, body, "No entry matches.")
	_, body = a.get(t, "/t/acme/console/audit?until="+url.QueryEscape(future.Format(time.RFC3339))+"&aggregate=client&actor=user:alice")
	mustContain(t, body, "launch of the shop")
	mustLack(t, body, "tenant created", "user:bob")
	// The cursor: after the registration's leaf, only what follows.
	page, err := h.node.Audit.Entries(ctx, "acme", auditlog.Filter{StreamType: "client", StreamID: id}, -1, 10)
	if err != nil || len(page) != 2 {
		t.Fatalf("the log's entries of the client: %v %v", page, err)
	}
	_, body = a.get(t, "/t/acme/console/audit?client="+id+"&after="+strconv.FormatInt(page[0].Index, 10))
	mustContain(t, body, "1 entry on this page", "user:bob")
	mustLack(t, body, "launch of the shop")

	for _, bad := range []string{"?since=yesterday", "?until=2030-13-01T00:00", "?aggregate=planet", "?after=-2", "?after=x",
		"?nope=1", "?aggregate=tenant&client=" + id, "?since=2030-01-02T00:00&until=2030-01-01T00:00", "?actor=" + strings.Repeat("a", 513)} {
		if status, body := a.get(t, "/t/acme/console/audit"+bad); status != http.StatusBadRequest {
			t.Errorf("audit%s: %d, want 400\n%s", bad, status, excerpt(body))
		}
	}

	// The signed checkpoint, once the log signs one.
	if _, err := h.node.Audit.Sign(ctx, h.node.Admin.Tenants); err != nil {
		t.Fatalf("sign: %v", err)
	}
	cp, err := h.node.Audit.Latest(ctx, "acme")
	if err != nil {
		t.Fatalf("latest checkpoint: %v", err)
	}
	_, body = a.get(t, "/t/acme/console/audit")
	mustContain(t, body, "Signed checkpoint", "/t/acme/audit/checkpoint", `href="/t/acme/console/audit/checkpoint"`,
		strings.SplitN(string(cp.Note), "\n", 2)[0])
	status, note := a.get(t, "/t/acme/console/audit/checkpoint")
	if status != http.StatusOK || note != string(cp.Note) {
		t.Fatalf("checkpoint: %d %q, want %q", status, note, cp.Note)
	}
}

func TestAuditLogNeedsTheAuditScope(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	shop := h.shop(t)
	reader := h.signIn(t, "acme", "carol", scope.ClientsRead)
	status, body := reader.get(t, "/t/acme/console/clients")
	if status != http.StatusOK {
		t.Fatalf("clients: %d", status)
	}
	mustLack(t, body, ">Audit log<")
	for _, path := range []string{"/t/acme/console/audit", "/t/acme/console/audit/checkpoint"} {
		if status, _ := reader.get(t, path); status != http.StatusForbidden {
			t.Errorf("%s for a reader: %d, want 403", path, status)
		}
	}
	// A reader reads a client's history and past states, as the admin
	// API lets them.
	if status, _ := reader.get(t, "/t/acme/console/clients/"+shop.Client.ClientID+"/history"); status != http.StatusOK {
		t.Errorf("history for a reader: %d, want 200", status)
	}
	if status, _ := reader.get(t, "/t/acme/console/clients/"+shop.Client.ClientID+"/at?at="+shop.Position.String()); status != http.StatusOK {
		t.Errorf("at for a reader: %d, want 200", status)
	}

	// An auditor alone reads the log, and not the clients.
	auditor, body := h.signInAt(t, "acme", "dave", "/t/acme/console/audit", scope.Audit)
	mustContain(t, body, "<h1>Audit log</h1>", ">Audit log<")
	if status, _ := auditor.get(t, "/t/acme/console/clients/"+shop.Client.ClientID+"/history"); status != http.StatusForbidden {
		t.Errorf("history for an auditor without clavis:clients:read: %d, want 403", status)
	}
}

func TestHistoryAndAuditLogPages(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	ctx := context.Background()
	res := h.shop(t)
	id := res.Client.ClientID
	// 55 renames: 56 events of the client.
	for i := range 55 {
		name := "Shop " + strconv.Itoa(i+1)
		var err error
		res, err = h.node.Admin.Clients.Update(ctx, alice("rename "+strconv.Itoa(i+1)), "acme", id, client.Patch{ClientName: &name}, res.Client.Version)
		if err != nil {
			t.Fatalf("rename %d: %v", i+1, err)
		}
	}
	h.settled(t, res.Position)
	a := h.signIn(t, "acme", "alice")

	// The newest 50 (versions 56 down to 7), then the rest.
	_, body := a.get(t, "/t/acme/console/clients/"+id+"/history")
	mustContain(t, body, "<h1>History of Shop 55</h1>", `id="ev-56"`, `id="ev-7"`, "history?before=7")
	mustLack(t, body, `id="ev-6"`, "launch of the shop")
	_, body = a.get(t, "/t/acme/console/clients/"+id+"/history?before=7")
	mustContain(t, body, `id="ev-6"`, `id="ev-1"`, "launch of the shop", ">Newest<")
	mustLack(t, body, `id="ev-7"`, "history?before=")

	// The audit log's pages follow each other with after.
	if _, err := h.node.Audit.CatchUp(ctx); err != nil {
		t.Fatalf("audit catch-up: %v", err)
	}
	_, body = a.get(t, "/t/acme/console/audit?client="+id)
	mustContain(t, body, "25 entries on this page", "launch of the shop", ">rename 24<")
	mustLack(t, body, ">rename 25<")
	nextPage := regexp.MustCompile(`href="(/t/acme/console/audit\?[^"]+)">Next page`)
	next := nextPage.FindStringSubmatch(body)
	if next == nil {
		t.Fatalf("no next page:\n%s", excerpt(body))
	}
	_, body = a.get(t, html.UnescapeString(next[1]))
	mustContain(t, body, "25 entries on this page", ">rename 25<", ">rename 49<")
	mustLack(t, body, "launch of the shop", ">rename 24<", ">rename 50<")
	if next = nextPage.FindStringSubmatch(body); next == nil {
		t.Fatalf("no third page:\n%s", excerpt(body))
	}
	_, body = a.get(t, html.UnescapeString(next[1]))
	mustContain(t, body, "6 entries on this page", ">rename 50<", ">rename 55<")
	mustLack(t, body, "launch of the shop", ">rename 49<", "Next page")
}
