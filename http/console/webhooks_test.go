package console_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/tenants"
)

// hookReceiver is a webhook receiver on 127.0.0.1 that answers 200 and
// keeps what it got.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []hookMessage
}

// hookMessage is one message a receiver got.
type hookMessage struct {
	header http.Header
	body   []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.msgs = append(r.msgs, hookMessage{header: req.Header.Clone(), body: b})
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

// waitFor returns the first message whose body contains s, failing t
// when none arrives in time.
func (r *hookReceiver) waitFor(t *testing.T, s string) hookMessage {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r.mu.Lock()
		for _, m := range r.msgs {
			if strings.Contains(string(m.body), s) {
				r.mu.Unlock()
				return m
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("the receiver got no message with %q", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signedWith reports whether m carries a Standard Webhooks signature
// made with secret ("whsec_" and the base64 of the key).
func signedWith(t *testing.T, m hookMessage, secret string) bool {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatalf("the secret %q is not whsec_ and base64: %v", secret, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(m.header.Get("webhook-id") + "." + m.header.Get("webhook-timestamp") + "."))
	mac.Write(m.body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return slices.Contains(strings.Fields(m.header.Get("webhook-signature")), want)
}

var (
	secretInput  = regexp.MustCompile(`<input id="secret" type="text" readonly value="([^"]+)"`)
	endpointLink = regexp.MustCompile(`/settings/webhooks/(wh_[a-z0-9]+)`)
	versionInput = regexp.MustCompile(`name="version" value="(\d+)"`)
)

// startWebhookConsole starts a node that delivers to loopback receivers,
// with tenant acme and alice signed in with every scope.
func startWebhookConsole(t *testing.T) (*harness, *agent) {
	t.Helper()
	h := startWith(t, func(cfg *node.Config) { cfg.WebhooksAllowPrivate = true })
	h.tenant(t, "acme")
	return h, h.signIn(t, "acme", "alice")
}

// createEndpoint creates an endpoint through the console and returns its
// id and the secret the answer shows.
func createEndpoint(t *testing.T, a *agent, form url.Values) (id, secret string) {
	t.Helper()
	status, body := a.post(t, "/t/acme/console/settings/webhooks/new", form)
	if status != http.StatusOK {
		t.Fatalf("create: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "shown only this once", `data-copy="secret"`)
	s, l := secretInput.FindStringSubmatch(body), endpointLink.FindStringSubmatch(body)
	if s == nil || l == nil || !strings.HasPrefix(s[1], "whsec_") {
		t.Fatalf("create: no secret or no link to the endpoint: %s", excerpt(body))
	}
	return l[1], html.UnescapeString(s[1])
}

// lastEvent is the last event of endpoint id's stream.
func lastEvent(t *testing.T, h *harness, id string) eventstore.Event {
	t.Helper()
	evs, err := h.node.Store.ReadStream(t.Context(), webhooks.Stream("acme", id), 0)
	if err != nil || len(evs) == 0 {
		t.Fatalf("read the stream of %s: %d events, %v", id, len(evs), err)
	}
	return evs[len(evs)-1]
}

// endpointState reads endpoint id as the read side has it.
func endpointState(t *testing.T, h *harness, id string) webhooks.Endpoint {
	t.Helper()
	ep, err := h.node.WebhookStore.Endpoint(t.Context(), "acme", id)
	if err != nil {
		t.Fatalf("read endpoint %s: %v", id, err)
	}
	return ep
}

func TestWebhookPages(t *testing.T) {
	t.Parallel()
	h, a := startWebhookConsole(t)
	rcv := newHookReceiver(t)
	const list = "/t/acme/console/settings/webhooks"

	status, body := a.get(t, list)
	if status != http.StatusOK {
		t.Fatalf("list: %d %s", status, excerpt(body))
	}
	mustContain(t, body, "No endpoint yet", `href="/t/acme/console/settings/webhooks/new"`)

	id, secret := createEndpoint(t, a, url.Values{"url": {rcv.URL + "/hook"}, "types": {"client.*"}, "description": {"ci"},
		"reason": {"ticket 42"}})
	if e := lastEvent(t, h, id); e.Type != "webhook.created" || e.Meta.Actor != "user:alice" || e.Meta.Reason != "ticket 42" {
		t.Fatalf("created event %s by %q for %q", e.Type, e.Meta.Actor, e.Meta.Reason)
	}
	page := list + "/" + id

	t.Run("the secret is shown once", func(t *testing.T) {
		for _, p := range []string{list, page} {
			_, body := a.get(t, p)
			if strings.Contains(body, "whsec_") {
				t.Errorf("%s shows the secret again", p)
			}
		}
		_, body := a.get(t, list)
		mustContain(t, body, rcv.URL+"/hook", "client.*", "ci", "active")
	})

	t.Run("a delivery is signed and logged", func(t *testing.T) {
		s := client.DefaultSettings(client.TypeM2M)
		s.ClientName, s.Code = "Billing", "urn:test/billing"
		if _, err := h.node.Admin.Clients.Register(t.Context(), tenants.Request{Actor: "test"}, "acme", s); err != nil {
			t.Fatal(err)
		}
		m := rcv.waitFor(t, "urn:test/billing")
		if m.header.Get("webhook-id") == "" || !signedWith(t, m, secret) {
			t.Fatalf("the delivery is not signed with the secret shown: %v", m.header)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, body := a.get(t, page)
			if strings.Contains(body, m.header.Get("webhook-id")) && strings.Contains(body, "client.registered") {
				mustContain(t, body, "(delivery)", "200", `<span class="badge">ok</span>`)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the delivery log lacks the delivery %s: %s", m.header.Get("webhook-id"), excerpt(body))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("ping", func(t *testing.T) {
		status, body := a.post(t, page+"/ping", nil)
		if status != http.StatusOK {
			t.Fatalf("ping: %d %s", status, excerpt(body))
		}
		mustContain(t, body, "The endpoint accepted the test message", "status 200")
		m := rcv.waitFor(t, "dev.clavis.webhook.ping")
		if !signedWith(t, m, secret) {
			t.Errorf("the ping is not signed with the secret: %v", m.header)
		}
		mustContain(t, body, m.header.Get("webhook-id"))
	})

	t.Run("deactivate needs a reason, then activate", func(t *testing.T) {
		status, body := a.post(t, page+"/deactivate", url.Values{"reason": {" "}})
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("deactivate without a reason: %d", status)
		}
		mustContain(t, body, `id="deactivate-reason-error"`, `aria-describedby="deactivate-reason-error"`)
		if !endpointState(t, h, id).State.Active {
			t.Fatal("deactivated without a reason")
		}
		status, body = a.post(t, page+"/deactivate", url.Values{"reason": {"the receiver moves"}})
		if status != http.StatusOK || !strings.HasSuffix(a.last, page+"?done=deactivated") {
			t.Fatalf("deactivate: %d at %s", status, a.last)
		}
		mustContain(t, body, "The endpoint is deactivated", "by an administrator: the receiver moves", "Activate")
		if e := lastEvent(t, h, id); e.Type != "webhook.deactivated" || e.Meta.Actor != "user:alice" || e.Meta.Reason != "the receiver moves" {
			t.Errorf("deactivated event %s by %q for %q", e.Type, e.Meta.Actor, e.Meta.Reason)
		}
		_, body = a.get(t, list)
		mustContain(t, body, "deactivated", "the receiver moves")

		status, body = a.post(t, page+"/activate", url.Values{"reason": {"moved"}})
		if status != http.StatusOK || !strings.Contains(body, "The endpoint is active") {
			t.Fatalf("activate: %d %s", status, excerpt(body))
		}
		if e := lastEvent(t, h, id); e.Type != "webhook.activated" || e.Meta.Actor != "user:alice" || e.Meta.Reason != "moved" {
			t.Errorf("activated event %s by %q for %q", e.Type, e.Meta.Actor, e.Meta.Reason)
		}
	})

	t.Run("rotate the secret", func(t *testing.T) {
		status, body := a.post(t, page+"/rotate-secret", url.Values{"overlap": {"999"}})
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("rotate with too long an overlap: %d", status)
		}
		mustContain(t, body, `id="overlap-error"`)
		if strings.Contains(body, `id="secret"`) {
			t.Error("a refused rotation shows a secret")
		}
		status, body = a.post(t, page+"/rotate-secret", url.Values{"overlap": {"1"}, "reason": {"yearly"}})
		if status != http.StatusOK {
			t.Fatalf("rotate: %d %s", status, excerpt(body))
		}
		m := secretInput.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("rotate: no new secret: %s", excerpt(body))
		}
		rotated := html.UnescapeString(m[1])
		if rotated == secret || !strings.HasPrefix(rotated, "whsec_") {
			t.Fatalf("rotate: the secret shown is %q", rotated)
		}
		mustContain(t, body, "shown only this once", "signs until")
		if e := lastEvent(t, h, id); e.Type != "webhook.secret_rotated" || e.Meta.Actor != "user:alice" || e.Meta.Reason != "yearly" {
			t.Errorf("rotated event %s by %q for %q", e.Type, e.Meta.Actor, e.Meta.Reason)
		}
		_, body = a.get(t, page)
		if strings.Contains(body, "whsec_") {
			t.Error("the endpoint's page shows the new secret again")
		}
		// Both secrets sign during the overlap.
		status, body = a.post(t, page+"/ping", nil)
		if status != http.StatusOK {
			t.Fatalf("ping: %d", status)
		}
		msg := regexp.MustCompile(`Message id <code>([^<]+)</code>`).FindStringSubmatch(body)
		if msg == nil {
			t.Fatalf("ping: no message id: %s", excerpt(body))
		}
		got := rcv.waitFor(t, msg[1])
		if !signedWith(t, got, rotated) || !signedWith(t, got, secret) {
			t.Errorf("a ping in the overlap is not signed with both secrets: %v", got.header)
		}
	})

	t.Run("edit: errors next to their field, a stale form, a save", func(t *testing.T) {
		_, body := a.get(t, page)
		v := versionInput.FindStringSubmatch(body)
		if v == nil {
			t.Fatalf("no version in the edit form: %s", excerpt(body))
		}
		before := endpointState(t, h, id).State
		for _, c := range []struct{ name, field, url, types string }{
			{"not a URL", "url", "not a url", "client.*"},
			{"plain http elsewhere", "url", "http://example.com/hook", "client.*"},
			{"bad types", "types", rcv.URL + "/hook", "client.*\nNot A Type"},
		} {
			status, body := a.post(t, page+"/edit", url.Values{"url": {c.url}, "types": {c.types}, "description": {"x"}, "version": {v[1]}})
			if status != http.StatusUnprocessableEntity {
				t.Errorf("%s: %d", c.name, status)
				continue
			}
			mustContain(t, body, `id="errors"`, `id="`+c.field+`-error"`, `aria-describedby="`+c.field+`-error"`, `aria-invalid="true"`,
				html.EscapeString(c.url))
		}
		if after := endpointState(t, h, id).State; after.Version != before.Version {
			t.Fatalf("refused edits changed the endpoint: version %d to %d", before.Version, after.Version)
		}

		// The audit log, which says who changed what meanwhile, may be a
		// moment behind: the stale form changes nothing, so post it again.
		stale := url.Values{"url": {rcv.URL + "/other"}, "types": {"client.*"}, "description": {"mine"}, "version": {"1"}}
		for deadline := time.Now().Add(10 * time.Second); ; {
			status, body := a.post(t, page+"/edit", stale)
			if status != http.StatusConflict {
				t.Fatalf("a stale edit: %d %s", status, excerpt(body))
			}
			mustContain(t, body, "changed since you opened this form", "mine", `name="version" value="`+v[1]+`"`)
			if strings.Contains(body, "webhook.secret_rotated") {
				mustContain(t, body, "<code>user:alice</code>", "(yearly)")
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a stale edit does not say what changed: %s", excerpt(body))
			}
			time.Sleep(50 * time.Millisecond)
		}

		status, body := a.post(t, page+"/edit", url.Values{"url": {rcv.URL + "/hook2"}, "types": {"client.*, tenant.*"},
			"description": {"ci, both"}, "version": {v[1]}, "reason": {"split"}})
		if status != http.StatusOK || !strings.Contains(body, "The endpoint&#39;s settings are saved") {
			t.Fatalf("edit: %d %s", status, excerpt(body))
		}
		st := endpointState(t, h, id).State
		if st.Settings.URL != rcv.URL+"/hook2" || !slices.Equal(st.Settings.Types, []string{"client.*", "tenant.*"}) || st.Settings.Description != "ci, both" {
			t.Errorf("edited settings %+v", st.Settings)
		}
		if e := lastEvent(t, h, id); e.Type != "webhook.updated" || e.Meta.Actor != "user:alice" || e.Meta.Reason != "split" {
			t.Errorf("updated event %s by %q for %q", e.Type, e.Meta.Actor, e.Meta.Reason)
		}
	})

	t.Run("replay", func(t *testing.T) {
		status, body := a.post(t, page+"/replay", url.Values{"from": {"x.y"}})
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("replay from garbage: %d", status)
		}
		mustContain(t, body, `id="from-error"`)
		status, body = a.post(t, page+"/replay", url.Values{"from": {""}, "reason": {"backfill"}})
		if status != http.StatusOK || !strings.Contains(body, "Deliveries go on") {
			t.Fatalf("replay: %d %s", status, excerpt(body))
		}
		if e := lastEvent(t, h, id); e.Type != "webhook.replayed" || e.Meta.Actor != "user:alice" {
			t.Errorf("replayed event %s by %q", e.Type, e.Meta.Actor)
		}
	})

	t.Run("delete needs the host typed", func(t *testing.T) {
		status, body := a.post(t, page+"/delete", url.Values{"confirm": {"example.com"}})
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("delete with the wrong host: %d", status)
		}
		mustContain(t, body, `id="confirm-error"`, `data-confirm-value="127.0.0.1"`)
		endpointState(t, h, id)
		status, body = a.post(t, page+"/delete", url.Values{"confirm": {"127.0.0.1"}, "reason": {"done with it"}})
		if status != http.StatusOK || !strings.HasSuffix(a.last, list+"?done=deleted") {
			t.Fatalf("delete: %d at %s", status, a.last)
		}
		mustContain(t, body, "The endpoint is deleted", "No endpoint yet")
		if e := lastEvent(t, h, id); e.Type != "webhook.deleted" || e.Meta.Actor != "user:alice" || e.Meta.Reason != "done with it" {
			t.Errorf("deleted event %s by %q for %q", e.Type, e.Meta.Actor, e.Meta.Reason)
		}
		if status, _ := a.get(t, page); status != http.StatusNotFound {
			t.Errorf("a deleted endpoint's page: %d", status)
		}
		if status, _ := a.post(t, page+"/ping", nil); status != http.StatusNotFound {
			t.Errorf("ping of a deleted endpoint: %d", status)
		}
	})
}

func TestWebhookPagesRefuseBadInput(t *testing.T) {
	t.Parallel()
	h, a := startWebhookConsole(t)
	const list = "/t/acme/console/settings/webhooks"
	for _, c := range []struct {
		name, field string
		form        url.Values
	}{
		{"no URL", "url", url.Values{"url": {""}}},
		{"ftp", "url", url.Values{"url": {"ftp://example.com/"}}},
		{"user information", "url", url.Values{"url": {"https://u:p@example.com/"}}},
		{"a bad type", "types", url.Values{"url": {"https://example.com/"}, "types": {"client.*\n<b>"}}},
		{"a reason too long", "reason", url.Values{"url": {"https://example.com/"}, "reason": {strings.Repeat("x", 2000)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := a.post(t, list+"/new", c.form)
			if status != http.StatusUnprocessableEntity {
				t.Fatalf("%d %s", status, excerpt(body))
			}
			mustContain(t, body, `id="errors"`, `id="`+c.field+`-error"`, `aria-describedby="`+c.field+`-error"`)
			if strings.Contains(body, "whsec_") {
				t.Error("a refused creation shows a secret")
			}
		})
	}
	if list, err := h.node.WebhookStore.Endpoints(t.Context(), "acme"); err != nil || len(list) != 0 {
		t.Fatalf("refused creations made endpoints: %d, %v", len(list), err)
	}

	for _, c := range []struct{ name, method, path string }{
		{"an unknown query parameter", "GET", list + "?x=1"},
		{"a bad page of the log", "GET", list + "/wh_abc?before=zero"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if status, _ := a.get(t, c.path); status != http.StatusBadRequest {
				t.Errorf("%d", status)
			}
		})
	}
	t.Run("an unknown field", func(t *testing.T) {
		if status, _ := a.post(t, list+"/new", url.Values{"url": {"https://example.com/"}, "secret": {"mine"}}); status != http.StatusBadRequest {
			t.Errorf("%d", status)
		}
	})
	t.Run("no such endpoint", func(t *testing.T) {
		for _, p := range []string{list + "/wh_nosuchendpoint", list + "/not-an-id", list + "/wh_nosuchendpoint/delete"} {
			if status, _ := a.get(t, p); status != http.StatusNotFound {
				t.Errorf("GET %s: %d", p, status)
			}
		}
		if status, _ := a.post(t, list+"/wh_nosuchendpoint/ping", nil); status != http.StatusNotFound {
			t.Errorf("ping: %d", status)
		}
	})
}

func TestWebhookPagesEscapeWhatTheyShow(t *testing.T) {
	t.Parallel()
	_, a := startWebhookConsole(t)
	const xss = "<script>alert(1)</script>"
	id, _ := createEndpoint(t, a, url.Values{"url": {"https://example.com/" + xss}, "description": {`<img src=x onerror=alert(2)> ` + xss}})
	for _, p := range []string{"/t/acme/console/settings/webhooks", "/t/acme/console/settings/webhooks/" + id} {
		status, body := a.get(t, p)
		if status != http.StatusOK {
			t.Fatalf("%s: %d", p, status)
		}
		if strings.Contains(body, xss) || strings.Contains(body, "<img src=x") {
			t.Errorf("%s renders markup of the endpoint: %s", p, excerpt(body))
		}
		mustContain(t, body, "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;")
	}
}

func TestWebhookPagesNeedAdmin(t *testing.T) {
	t.Parallel()
	h, admin := startWebhookConsole(t)
	id, _ := createEndpoint(t, admin, url.Values{"url": {"https://example.com/hook"}})
	writer := h.signIn(t, "acme", "bob", scope.ClientsRead, scope.ClientsWrite)
	base := "/t/acme/console/settings/webhooks"
	page := base + "/" + id
	for _, p := range []string{base, base + "/new", page} {
		if status, body := writer.get(t, p); status != http.StatusForbidden || !strings.Contains(body, "clavis:admin") {
			t.Errorf("GET %s: %d", p, status)
		}
	}
	posts := map[string]url.Values{
		base + "/new":           {"url": {"https://example.com/other"}},
		page + "/edit":          {"url": {"https://example.com/other"}, "types": {""}, "description": {""}, "version": {"1"}},
		page + "/activate":      nil,
		page + "/deactivate":    {"reason": {"no"}},
		page + "/rotate-secret": {"overlap": {"0"}},
		page + "/replay":        {"from": {""}},
		page + "/ping":          nil,
		page + "/delete":        {"confirm": {"example.com"}},
	}
	for p, form := range posts {
		if status, _ := writer.post(t, p, form); status != http.StatusForbidden {
			t.Errorf("POST %s: %d", p, status)
		}
	}
	ep := endpointState(t, h, id)
	if ep.State.Version != 1 || !ep.State.Active || ep.State.Settings.URL != "https://example.com/hook" {
		t.Errorf("a refused person changed the endpoint: %+v", ep.State)
	}
	if list, _ := h.node.WebhookStore.Endpoints(t.Context(), "acme"); len(list) != 1 {
		t.Errorf("a refused person created an endpoint: %d endpoints", len(list))
	}
}

func TestWebhookLogPages(t *testing.T) {
	t.Parallel()
	h, a := startWebhookConsole(t)
	rcv := newHookReceiver(t)
	id, _ := createEndpoint(t, a, url.Values{"url": {rcv.URL + "/hook"}, "types": {"client.registered"}})
	const n = 55 // more than a page of the log
	for i := range n {
		s := client.DefaultSettings(client.TypeM2M)
		s.ClientName, s.Code = "Client "+strconv.Itoa(i), "urn:test/c"+strconv.Itoa(i)
		if _, err := h.node.Admin.Clients.Register(t.Context(), tenants.Request{Actor: "test"}, "acme", s); err != nil {
			t.Fatal(err)
		}
	}
	rcv.waitFor(t, "urn:test/c"+strconv.Itoa(n-1))
	var all []webhooks.Attempt
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if all, err = h.node.WebhookStore.Attempts(t.Context(), "acme", id, 0, 1000); err != nil {
			t.Fatal(err)
		}
		if len(all) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts logged, want %d", len(all), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	page := "/t/acme/console/settings/webhooks/" + id
	_, first := a.get(t, page)
	next := regexp.MustCompile(`href="` + regexp.QuoteMeta(page) + `\?before=(\d+)">Older attempts`).FindStringSubmatch(first)
	if next == nil || next[1] != strconv.FormatInt(all[49].ID, 10) {
		t.Fatalf("the first page of the log links to %v, want before=%d: %s", next, all[49].ID, excerpt(first))
	}
	mustContain(t, first, all[0].MessageID, all[49].MessageID)
	if strings.Contains(first, all[50].MessageID) {
		t.Errorf("the first page shows the 51st attempt")
	}
	status, second := a.get(t, page+"?before="+next[1])
	if status != http.StatusOK {
		t.Fatalf("the second page: %d", status)
	}
	mustContain(t, second, all[50].MessageID, all[len(all)-1].MessageID, `href="`+page+`">Newest`)
	if strings.Contains(second, all[49].MessageID) || strings.Contains(second, "Older attempts") {
		t.Errorf("the second page repeats the first or goes on: %s", excerpt(second))
	}
}
